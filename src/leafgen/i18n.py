"""Translate leaflets and templates from gettext catalogs, refusing half-translated output."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from leafgen.errors import CatalogError, ErrorList, TranslationError
from leafgen.project import SOURCE_LANG, Project

DOMAIN = "messages"
# Both styles appear: %(name)s in template strings, {name} in hand-written units.
PLACEHOLDER_RE = re.compile(r"%\((\w+)\)[sd]|\{(\w+)\}")
# Babel drops custom header fields (X-...) on read, so `pybabel update` would lose them; the header
# comment survives Babel and GNU gettext alike, so the review record lives there.
REVIEW_RE = re.compile(r"^#?\s*Medical review:\s*(.+)$", re.MULTILINE)
TRANSLATOR_HEADER = "Last-Translator"
UNREVIEWED = "not yet reviewed by a qualified medical translator"


def placeholders(text: str) -> list[str]:
    return sorted(a or b for a, b in PLACEHOLDER_RE.findall(text))


def catalog_path(project: Project, lang: str) -> Path:
    return project.translations_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=64)
def _read_catalog(path: Path, mtime_ns: int, size: int) -> Any:
    """Parse a .po file once per version of it; the build never reads .mo files, so none can be stale."""
    from babel.messages.pofile import PoFileError, read_po

    try:
        with path.open("rb") as f:
            return read_po(f, abort_invalid=True)
    except PoFileError as e:
        # Babel counts lines from 0.
        raise CatalogError(f"broken catalog: {e}", path, getattr(e, "lineno", -1) + 1 or None) from None
    except (UnicodeDecodeError, ValueError) as e:
        raise CatalogError(f"broken catalog: {e}", path) from None


def load_catalog(project: Project, lang: str) -> Any:
    """The Babel catalog for a language; an unknown language is a user error listing the known ones."""
    path = catalog_path(project, lang)
    if not path.is_file():
        known = ", ".join(project.languages())
        raise CatalogError(f"unknown language {lang!r} (shipped: {known})", project.translations_dir)
    st = path.stat()
    return _read_catalog(path, st.st_mtime_ns, st.st_size)


def review_status(catalog: Any) -> str:
    """What the PO header comment says about medical review; absent means unreviewed."""
    m = REVIEW_RE.search(catalog.header_comment or "")
    return m.group(1).strip() if m else UNREVIEWED


@dataclass
class Translator:
    """Looks strings up for one language and remembers every gap, so the gate can report them all."""

    lang: str
    catalog: Any = None
    path: Path | None = None
    missing: list[str] = field(default_factory=list)
    fuzzy: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)

    def __call__(self, msgid: str, where: str = "templates") -> str:
        if self.catalog is None or not msgid:
            return msgid
        msg = self.catalog.get(msgid)
        short = " ".join(msgid.split())[:60]
        if msg is None or not msg.string:
            self.missing.append(f"{where}: untranslated: {short!r}")
            return msgid
        if msg.fuzzy:
            self.fuzzy.append(f"{where}: fuzzy (stale, needs review): {short!r}")
            return msgid
        if placeholders(msg.string) != placeholders(msgid):
            self.broken.append(
                f"{where}: placeholders differ ({', '.join(placeholders(msgid)) or 'none'} in English, "
                f"{', '.join(placeholders(msg.string)) or 'none'} translated): {short!r}"
            )
            return msgid
        return msg.string

    @property
    def incomplete(self) -> bool:
        return bool(self.missing or self.fuzzy)

    def gate(self, leaflet_id: str, allow_fallback: bool) -> None:
        """Refuse unless every unit used was translated; fallback is the user's explicit choice."""
        problems = self.broken + ([] if allow_fallback else self.missing + self.fuzzy)
        if problems:
            raise ErrorList(
                [TranslationError(f"[{leaflet_id}, {self.lang}] {p}", self.path) for p in dict.fromkeys(problems)]
            )


def translator(project: Project, lang: str) -> Translator:
    if lang == SOURCE_LANG:
        return Translator(lang)
    return Translator(lang, load_catalog(project, lang), catalog_path(project, lang))


def language_name(lang: str) -> str:
    """The language's own name for itself, as a patient would recognise it."""
    from babel import Locale

    loc = Locale.parse(lang)
    return loc.get_display_name(loc) or lang


def format_date(value: Any, lang: str) -> str:
    from babel.dates import format_date as fmt

    return fmt(value, format="long", locale=lang)


def bcp47(lang: str) -> str:
    """PDF /Lang and Content-Language want BCP 47 (zh-Hans), gettext dirs use zh_Hans."""
    return lang.replace("_", "-")


def extract_leaflet(fileobj, keywords, comment_tags, options) -> Iterator[tuple]:  # noqa: ANN001 - Babel's signature
    """Babel extractor for leaflet sources: one unit per title, heading, paragraph, bullet and item."""
    from leafgen.model import units
    from leafgen.validate import load_disclaimer, load_leaflet

    path = Path(getattr(fileobj, "name", "leaflet.yaml"))
    if path.name.startswith("_"):
        d = load_disclaimer(path)
        for text, key in ((d.heading, "heading"), (d.text, "text")):
            yield getattr(text, "line", 0), None, str(text), [f"shared disclaimer: {key}"]
        return
    leaflet, _ = load_leaflet(path)
    for u in units(leaflet):
        yield u.line, None, u.text, [f"leaflet {u.where}"]


JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true"}
# Same mappings as [tool.babel] in leafgen's pyproject.toml, for projects that keep no pyproject of their own.
# TOML, not .cfg: the .cfg section syntax "[method: pattern]" cannot name "jinja2.ext:babel_extract".
MAPPING = """\
[[mappings]]
method = "leafgen"
pattern = "leaflets/**.yaml"

[[mappings]]
method = "jinja2.ext:babel_extract"
pattern = "templates/**.j2"
extensions = "jinja2.ext.i18n"
trim_blocks = "true"
lstrip_blocks = "true"
"""


def expected_units(project: Project) -> dict[str, str]:
    """msgid → where it is used, for every unit a complete catalog must translate."""
    from babel.messages.extract import extract_from_file

    from leafgen.model import units
    from leafgen.validate import load_disclaimer, load_leaflet

    found: dict[str, str] = {}
    for path in project.leaflet_paths():
        for u in units(load_leaflet(path)[0]):
            found.setdefault(u.text, u.where)
    d = load_disclaimer(project.disclaimer_path)
    found.setdefault(d.heading, "disclaimer")
    found.setdefault(d.text, "disclaimer")
    for path in sorted(project.templates_dir.glob("*.j2")):
        for _line, msg, _comments, _ctx in extract_from_file(
            "jinja2.ext:babel_extract", str(path), options=JINJA_OPTIONS
        ):
            for m in msg if isinstance(msg, tuple) else (msg,):
                if m:
                    found.setdefault(m, f"template {path.name}")
    return found


@dataclass
class Status:
    translated: int
    fuzzy: int
    untranslated: int
    broken: int
    review: str
    translator: str
    gaps: list[str] = field(default_factory=list)  # one line per unit that is not ready

    @property
    def complete(self) -> bool:
        return not (self.fuzzy or self.untranslated or self.broken)

    def line(self) -> str:
        total = self.translated + self.fuzzy + self.untranslated + self.broken
        state = "complete" if self.complete else "INCOMPLETE"
        broken = f", {self.broken} placeholder mismatch" if self.broken else ""
        return (
            f"{state}: {self.translated}/{total} translated, {self.fuzzy} fuzzy, {self.untranslated} untranslated"
            f"{broken}; translator: {self.translator or 'unknown'}; review: {self.review}"
        )


def status(project: Project, lang: str) -> Status:
    """How much of what the project needs is translated, and whether a medical reviewer has seen it."""
    catalog = load_catalog(project, lang)
    tr = Translator(lang, catalog, catalog_path(project, lang))
    expected = expected_units(project)
    for msgid, where in expected.items():
        tr(msgid, where)
    bad = len(tr.missing) + len(tr.fuzzy) + len(tr.broken)
    headers = dict(catalog.mime_headers)
    return Status(
        len(expected) - bad,
        len(tr.fuzzy),
        len(tr.missing),
        len(tr.broken),
        review_status(catalog),
        headers.get(TRANSLATOR_HEADER, ""),
        tr.missing + tr.fuzzy + tr.broken,
    )


def check_catalog(project: Project, lang: str) -> None:
    """Babel's own checks plus leafgen's placeholder rule, as one error per broken unit."""
    catalog = load_catalog(project, lang)
    path = catalog_path(project, lang)
    errors: list[CatalogError] = []
    for message, problems in catalog.check():
        for p in problems:
            errors.append(CatalogError(f"{message.id!r}: {p}", path, message.lineno))
    for message in catalog:
        if (
            message.id
            and message.string
            and not message.fuzzy
            and placeholders(message.id) != placeholders(message.string)
        ):
            errors.append(CatalogError(f"placeholders differ in translation of {message.id!r}", path, message.lineno))
    if errors:
        raise ErrorList(errors)


def check_templates(project: Project) -> None:
    """Compile every template so a syntax error shows up in `leafgen check`, not mid-build."""
    import jinja2

    from leafgen.errors import TemplateError
    from leafgen.templating import environment

    env = environment(project.templates_dir)
    for path in sorted(project.templates_dir.glob("*.j2")):
        try:
            env.get_template(path.name)
        except jinja2.TemplateSyntaxError as e:
            raise TemplateError(f"template syntax error: {e.message}", path, e.lineno) from None


def run_pybabel(project: Project, action: str, lang: str | None, out) -> int:  # noqa: ANN001
    """The ordinary pybabel commands, with leafgen's mapping and paths filled in."""
    import tempfile

    from babel.messages.frontend import CommandLineInterface

    pot = project.translations_dir / f"{DOMAIN}.pot"
    tdir = str(project.translations_dir)
    if action == "extract":
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write(MAPPING)
        try:
            argv = [
                "extract",
                "-F",
                f.name,
                "-o",
                str(pot),
                "--no-location",
                "--project",
                "leafgen",
                "--add-comments",
                "TRANSLATORS:",
                str(project.root),
            ]
            return _pybabel(CommandLineInterface(), argv)
        finally:
            Path(f.name).unlink()
    if action == "init":
        if not lang:
            raise CatalogError("'leafgen i18n init' needs --lang LOCALE")
        code = _pybabel(CommandLineInterface(), ["init", "-i", str(pot), "-d", tdir, "-l", lang])
        po = catalog_path(project, lang)
        if code == 0 and po.is_file():  # every new catalog starts on record as unreviewed
            po.write_text(f"# Medical review: {UNREVIEWED}\n" + po.read_text(encoding="utf-8"), encoding="utf-8")
        return code
    if action == "update":
        return _pybabel(CommandLineInterface(), ["update", "-i", str(pot), "-d", tdir, "--previous"])
    return _pybabel(CommandLineInterface(), ["compile", "-d", tdir, "--statistics"])


def _pybabel(cli, argv: list[str]) -> int:  # noqa: ANN001
    try:
        return cli.run(["pybabel", *argv]) or 0
    except SystemExit as e:
        return int(e.code or 0)

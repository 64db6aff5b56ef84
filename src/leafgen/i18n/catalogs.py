"""Read gettext catalogs strictly and translate through them, refusing half-translated output."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from leafgen.content import characters
from leafgen.content.sources import MAX_TEXT_CHARS
from leafgen.errors import CatalogError, ErrorList, TranslationError
from leafgen.i18n.locales import check_locale, is_locale
from leafgen.project import SOURCE_LANG, Project, record_entries

DOMAIN = "messages"
# Both styles appear: %(name)s in template strings, {name} in hand-written units.
PLACEHOLDER_RE = re.compile(r"%\((\w+)\)[sd]|\{(\w+)\}")
# A bare conversion (%s, %d) in a string that is %-formatted (its English has %(name)s): a translator's stray
# `%s` would print the whole variables dict, or fail inside the template. "%%" is a literal percent sign.
BARE_CONVERSION_RE = re.compile(r"%[-+#0]*\d*(?:\.\d+)?[sdifrxXeEgGc]")
# One line of a PO file, as `msgfmt -c` reads it: a keyword and a whole quoted string, or a continuation
# string. Babel tolerates an unterminated quote by dropping the last character ("Síntoma" for "Síntomas").
PO_LINE_RE = re.compile(r'^(?:(?:msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?)[ \t]+)?"((?:[^"\\]|\\.)*)"[ \t]*$')
PO_ESCAPE_RE = re.compile(r"\\(.)")
PO_ESCAPES = set('\\"ntr')  # what GNU gettext writes; any other escape is a typo that would print literally
CHARSET_RE = re.compile(r"charset=([^\s\\\";]*)", re.IGNORECASE)
MAX_TRANSLATION_CHARS = 2 * MAX_TEXT_CHARS  # translations run longer than English, but not by this much
# Babel drops custom header fields (X-...) on read, so `pybabel update` would lose them; the header
# comment survives Babel and GNU gettext alike, so the review record lives there.
REVIEW_RE = re.compile(r"^#?\s*Medical review:\s*(.+)$", re.MULTILINE)
TRANSLATOR_HEADER = "Last-Translator"
UNREVIEWED = "not yet reviewed by a qualified medical translator"


def placeholders(text: str) -> list[str]:
    return sorted(a or b for a, b in PLACEHOLDER_RE.findall(text))


def placeholders_differ(msgid: str, msgstr: str) -> bool:
    """True when a translation would format differently from its English (or fail to format at all)."""
    if placeholders(msgid) != placeholders(msgstr):
        return True
    if "%(" not in msgid:  # not %-formatted: a percent sign in "50 %" is just text
        return False
    return sorted(BARE_CONVERSION_RE.findall(msgid.replace("%%", ""))) != sorted(
        BARE_CONVERSION_RE.findall(msgstr.replace("%%", ""))
    )


def check_po_syntax(path: Path, text: str) -> None:
    """Refuse what `msgfmt -c` refuses before Babel reads the file, which forgives too much."""
    text = text.removeprefix("\ufeff")
    bad = characters.first_forbidden(text)
    if bad >= 0:
        at, col = characters.position(text, bad)
        raise CatalogError(characters.message(text[bad], f"at column {col}"), path, at)
    header = "before"  # the header is the first entry's msgstr: where the charset is declared
    # msgfmt refuses a msgid defined twice; Babel keeps the last silently, so one of two translations vanishes.
    seen: dict[tuple[str, str], int] = {}
    field, context, msgid, id_line = "", "", "", 0
    # Lines as gettext counts them: only "\n" ends one (str.splitlines would also split at U+2028).
    for n, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            header = "after" if header == "in" else header
            continue
        m = PO_LINE_RE.match(line)
        if m is None:
            if line.count('"') % 2 == 1 or not line.endswith('"'):
                raise CatalogError("unterminated string: a quote is missing at the end of the line", path, n)
            raise CatalogError(f"not valid PO syntax: {line[:60]!r}", path, n)
        if not line.startswith('"'):  # a keyword line starts a field
            keyword = line.split(None, 1)[0].split("[")[0]
            if keyword == "msgctxt":
                context = ""
            elif keyword == "msgid":
                context, msgid, id_line = (context if field == "msgctxt" else ""), "", n
            elif field == "msgid":  # the id is complete
                first = seen.setdefault((context, msgid), id_line)
                if first != id_line:
                    raise CatalogError(f"duplicate message definition (first defined on line {first})", path, id_line)
            field = keyword
        if field == "msgctxt":
            context += m.group(1)
        elif field == "msgid":
            msgid += m.group(1)
        for esc in PO_ESCAPE_RE.findall(m.group(1)):
            if esc not in PO_ESCAPES:
                raise CatalogError(f'unknown escape \\{esc} in string (only \\n, \\t, \\\\ and \\")', path, n)
        if header == "before" and line.startswith("msgstr"):
            header = "in"
        elif header == "in" and line.startswith("msg"):
            header = "after"
        if header != "in" or "charset=" not in line.lower():
            continue
        charset = CHARSET_RE.search(line)
        name = charset.group(1) if charset else ""
        if name.lower().replace("-", "").replace("_", "") != "utf8":
            raise CatalogError(
                f"catalog declares charset {name!r}: leafgen catalogs are UTF-8; save the file as UTF-8 and"
                ' write "Content-Type: text/plain; charset=UTF-8\\n"',
                path,
                n,
            )


def check_messages(path: Path, catalog: Any) -> None:
    """Every msgid and msgstr: no invisible or control character, no paragraph beyond any leaflet."""
    for message in catalog:
        strings = [message.id] if isinstance(message.id, str) else list(message.id)
        strings += [message.string] if isinstance(message.string, str) else list(message.string)
        for text in strings:
            if not text or not message.id:
                continue
            bad = characters.first_forbidden(text)
            if bad >= 0:
                raise CatalogError(characters.message(text[bad], "(written as an escape)"), path, message.lineno)
            if len(text) > MAX_TRANSLATION_CHARS:
                raise CatalogError(
                    f"text of {len(text):,} characters is far beyond any leaflet paragraph "
                    f"(limit {MAX_TRANSLATION_CHARS:,})",
                    path,
                    message.lineno,
                )


def catalog_path(project: Project, lang: str) -> Path:
    return project.translations_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=64)
def _read_catalog(path: Path, mtime_ns: int, size: int) -> Any:
    """Parse a .po file once per version of it; the build never reads .mo files, so none can be stale."""
    # Imported here: English (the source language) never reads a catalog, and Babel's PO reader brings
    # babel.messages.catalog, difflib and zoneinfo, start-up a one-PDF English build would pay for nothing.
    from babel.messages.pofile import PoFileError, read_po

    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise CatalogError(f"not UTF-8 text ({e.reason} at byte {e.start}): save the catalog as UTF-8", path) from None
    except OSError as e:
        raise CatalogError(f"cannot read: {e.strerror}", path) from None
    try:
        check_po_syntax(path, text)
    except CatalogError as e:
        raise CatalogError(f"broken catalog: {e.message}", path, e.line) from None
    try:
        # Decoded lines, so Babel never re-decodes with whatever the header claims.
        catalog = read_po(text.removeprefix("\ufeff").split("\n"), abort_invalid=True, charset="utf-8")
    except PoFileError as e:
        # Babel counts lines from 0.
        raise CatalogError(f"broken catalog: {e}", path, getattr(e, "lineno", -1) + 1 or None) from None
    except (ValueError, LookupError, TypeError) as e:
        raise CatalogError(f"broken catalog: {e}", path) from None
    try:
        check_messages(path, catalog)
    except CatalogError as e:
        raise CatalogError(f"broken catalog: {e.message}", path, e.line) from None
    return catalog


def read_catalog(path: Path) -> Any:
    """The parsed catalog at path (cached per version of the file); a broken one is a CatalogError."""
    st = path.stat()
    return _read_catalog(path, st.st_mtime_ns, st.st_size)


def load_catalog(project: Project, lang: str) -> Any:
    """The Babel catalog for a language; an unknown language is a user error listing the known ones."""
    path = catalog_path(project, lang)
    # A locale code is never a path (`../../x` would reach outside the project); the folder listing is read only
    # when something is wrong, to say what.
    if lang == SOURCE_LANG or not is_locale(lang) or not path.is_file():
        languages = project.languages()
        if lang != SOURCE_LANG and lang in languages:  # a catalog in a folder not named after its locale
            check_locale(lang, project.translations_dir / lang)
        raise CatalogError(f"unknown language {lang!r} (shipped: {', '.join(languages)})", project.translations_dir)
    return read_catalog(path)


def review_status(catalog: Any) -> str:
    """What the PO header comment says about medical review; absent means unreviewed."""
    m = REVIEW_RE.search(catalog.header_comment or "")
    return m.group(1).strip() if m else UNREVIEWED


def _shown(msgid: str, text: str) -> list[str]:
    """The placeholders of text as a translator writes them, bare conversions included where they matter."""
    bare = BARE_CONVERSION_RE.findall(text.replace("%%", "")) if "%(" in msgid else []
    return placeholders(text) + sorted(bare)


@dataclass
class Translator:
    """Looks strings up for one language and remembers every gap, so the gate can report them all."""

    lang: str
    catalog: Any = None
    path: Path | None = None
    missing: list[str] = field(default_factory=list)
    fuzzy: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)  # problem -> its line in the .po, to blame exactly

    def __call__(self, msgid: str, where: str = "templates") -> str:
        if self.catalog is None or not msgid:
            return msgid
        msg = self.catalog.get(msgid)
        if self.path is not None:  # builds fingerprint a PDF by the entries it used
            record_entries(self.path, [(msgid, None if msg is None else (msg.string, msg.fuzzy))])
        short = " ".join(msgid.split())[:60]
        if msg is None or not msg.string:
            self.missing.append(f"{where}: untranslated: {short!r}")
            return msgid
        if msg.fuzzy:
            self.fuzzy.append(f"{where}: fuzzy (stale, needs review): {short!r}")
            return msgid
        if placeholders_differ(msgid, msg.string):
            problem = (
                f"{where}: placeholders differ ({', '.join(_shown(msgid, msgid)) or 'none'} in English, "
                f"{', '.join(_shown(msgid, msg.string)) or 'none'} translated): {short!r}"
            )
            self.broken.append(problem)
            if msg.lineno:
                self.lines[problem] = msg.lineno
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
                [
                    TranslationError(f"[{leaflet_id}, {self.lang}] {p}", self.path, self.lines.get(p))
                    for p in dict.fromkeys(problems)
                ]
            )


def translator(project: Project, lang: str) -> Translator:
    if lang == SOURCE_LANG:
        return Translator(lang)
    return Translator(lang, load_catalog(project, lang), catalog_path(project, lang))

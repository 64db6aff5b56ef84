"""Read gettext catalogs strictly and translate through them, refusing half-translated output."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import PoFileError, read_po

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

"""How complete and how reviewed each catalog is, and Babel's checks on it."""

from __future__ import annotations

from dataclasses import dataclass, field

from leafgen.errors import CatalogError, ErrorList
from leafgen.i18n.catalogs import (
    TRANSLATOR_HEADER,
    Translator,
    catalog_path,
    load_catalog,
    placeholders_differ,
    review_status,
)
from leafgen.i18n.extract import expected_units
from leafgen.project import Project


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


def status(project: Project, lang: str, expected: dict[str, str] | None = None) -> Status:
    """How much of what the project needs is translated, and whether a medical reviewer has seen it.

    `expected` (from expected_units) can be passed in, so a loop over languages validates each leaflet once.
    """
    catalog = load_catalog(project, lang)
    tr = Translator(lang, catalog, catalog_path(project, lang))
    expected = expected_units(project) if expected is None else expected
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
        if message.id and message.string and not message.fuzzy and placeholders_differ(message.id, message.string):
            errors.append(CatalogError(f"placeholders differ in translation of {message.id!r}", path, message.lineno))
    if errors:
        raise ErrorList(errors)

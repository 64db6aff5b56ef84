"""Name one PDF to make: leaflet, language, kind, paper and print options; light enough for planning."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from leafgen.errors import CatalogError, LeafgenError
from leafgen.project import KINDS, PAPERS, Project


@dataclass(frozen=True)
class Job:
    """One PDF to make: the unit of work for builds, email and the library API."""

    leaflet: str
    lang: str
    kind: str = "handout"
    paper: str = "a4"
    large_print: bool = False
    fillable: bool = False


def choice_problem(what: str, value: object, choices: Sequence[str]) -> str:
    """'' if value is one of choices, else the one wording for it that every front end shows (the command, an
    email list's row, the library): "unknown language 'de' (shipped: en, ar, ...)"."""
    if isinstance(value, str) and value in choices:
        return ""
    listed = "shipped" if what == "language" else "choose from"
    return f"unknown {what} {value!r} ({listed}: {', '.join(choices)})"


def check_choice(what: str, value: object, choices: Sequence[str], path: str | Path | None = None) -> None:
    """Raise choice_problem's line; a language is a catalog folder's name, so its error is a CatalogError."""
    problem = choice_problem(what, value, choices)
    if problem:
        raise (CatalogError if what == "language" else LeafgenError)(problem, path)


def check_job(job: Job, project: Project, languages: Collection[str] | None = None) -> None:
    """Every choice of a job, before anything is read for it. The language must be one the project ships: it
    names a folder, so `../../x` would read a catalog from outside the project. `languages` saves the listing
    when a plan checks many jobs."""
    if not (project.ships(job.lang) if languages is None else job.lang in languages):
        langs = list(project.languages() if languages is None else languages)
        check_choice("language", job.lang, langs, project.translations_dir)
    check_choice("kind", job.kind, KINDS)
    check_choice("paper", job.paper, PAPERS)
    if job.fillable and job.kind != "checklist":
        raise LeafgenError("only the checklist has a fillable variant")

"""Name one PDF to make: leaflet, language, kind, paper and print options; light enough for planning."""

from __future__ import annotations

from dataclasses import dataclass

from leafgen.errors import LeafgenError
from leafgen.project import KINDS, PAPERS


@dataclass(frozen=True)
class Job:
    """One PDF to make: the unit of work for builds, email and the library API."""

    leaflet: str
    lang: str
    kind: str = "handout"
    paper: str = "a4"
    large_print: bool = False
    fillable: bool = False


def check_job(job: Job) -> None:
    if job.kind not in KINDS:
        raise LeafgenError(f"unknown kind {job.kind!r} (choose from {', '.join(KINDS)})")
    if job.paper not in PAPERS:
        raise LeafgenError(f"unknown paper {job.paper!r} (choose from {', '.join(PAPERS)})")
    if job.fillable and job.kind != "checklist":
        raise LeafgenError("only the checklist has a fillable variant")

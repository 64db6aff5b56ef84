"""What callers (the CLI, the desk, scripts) ask of leafgen: results and diagnostics, never printing."""

from __future__ import annotations

from pathlib import Path

from leafgen.project import find_project
from leafgen.render.job import Job
from leafgen.render.pipeline import render_job


def render(
    leaflet: str,
    lang: str = "en",
    kind: str = "handout",
    paper: str = "a4",
    *,
    large_print: bool = False,
    fillable: bool = False,
    project: str | Path | None = None,
    allow_fallback: bool = False,
) -> bytes:
    """The PDF bytes of one leaflet in one language, kind and paper."""
    job = Job(leaflet, lang, kind, paper, large_print, fillable)
    return render_job(find_project(project), job, allow_fallback=allow_fallback).pdf

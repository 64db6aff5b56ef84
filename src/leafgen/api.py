"""What callers (the CLI, the desk, scripts) ask of leafgen: results and diagnostics, never printing."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from leafgen.mail.recipients import single
from leafgen.mail.send import Outcome, journal_path, send_one
from leafgen.mail.smtp import load_config
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


def email(
    to: str,
    leaflets: Sequence[str],
    lang: str,
    *,
    name: str = "",
    kinds: Sequence[str] | None = None,
    paper: str | None = None,
    large_print: bool = False,
    project: str | Path | None = None,
    send: bool = False,
    smtp_config: str | Path | None = None,
    journal: str | Path | None = None,
    outbox: str | Path | None = None,
) -> Outcome:
    """Email one patient their leaflets, through the project's send journal, as `leafgen email --to` does.

    Idempotent: the same address, leaflets, language and kinds again (a double submit) sends nothing and returns
    'skipped'. Without send=True it is a dry run into the outbox. SMTP settings as for the command: LEAFGEN_SMTP_*
    variables over the TOML file `smtp_config`. Bad input raises MailError; the outcome's note names no patient.
    """
    proj = find_project(project)
    recipient = single(proj, to, name, list(leaflets), lang, list(kinds) if kinds else None, paper, large_print)
    settings = load_config(Path(smtp_config) if smtp_config else None, os.environ) if send else None
    where = journal_path(proj, journal, for_writing=send)
    return send_one(proj, recipient, settings, where, outbox=Path(outbox) if outbox is not None else None)

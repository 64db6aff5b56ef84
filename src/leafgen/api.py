"""What callers (the CLI, the desk, scripts) ask of leafgen: results and diagnostics, never printing."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from babel import Locale

from leafgen.content.profile import clinic
from leafgen.content.schema import load_leaflet
from leafgen.errors import LeafgenError
from leafgen.i18n.catalogs import UNREVIEWED, translator
from leafgen.i18n.locales import bcp47, language_name
from leafgen.i18n.status import status
from leafgen.mail.recipients import single
from leafgen.mail.send import Outcome, journal_path, send_one
from leafgen.mail.smtp import load_config
from leafgen.project import SOURCE_LANG, find_project
from leafgen.render.job import Job
from leafgen.render.pipeline import Personal, PersonalDataError, Rendered, render_job
from leafgen.text.scripts import script_for

__all__ = [
    "LanguageInfo",
    "LeafletInfo",
    "Outcome",
    "Personal",
    "PersonalDataError",
    "Rendered",
    "catalogue",
    "clinic_profile",
    "email",
    "email_is_dry_run",
    "languages",
    "project_root",
    "render",
    "render_document",
]


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
    personal: Personal | None = None,
) -> bytes:
    """The PDF bytes of one leaflet in one language, kind and paper (personalised for one patient if asked)."""
    job = Job(leaflet, lang, kind, paper, large_print, fillable)
    return render_job(find_project(project), job, allow_fallback=allow_fallback, personal=personal).pdf


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


# --- for the clinic desk (and any other front end): what there is, in which languages, and one PDF or email ---


@dataclass(frozen=True)
class LeafletInfo:
    """A leaflet as a catalogue lists it: document control, and its searchable text in every shipped language."""

    id: str
    version: str
    status: str  # draft | approved
    published: dt.date
    review: dt.date
    approved_by: str
    titles: dict[str, str]  # lang -> title (English where a translation is missing)
    text: dict[str, str]  # lang -> title, summary and headings, for search


@dataclass(frozen=True)
class LanguageInfo:
    """A shipped language as a patient and a receptionist recognise it, and whether it is fit to print."""

    code: str  # gettext locale, e.g. zh_Hans
    tag: str  # BCP 47, for HTML lang= (zh-Hans)
    name: str  # its own name: "العربية", "Tiếng Việt"
    english_name: str
    direction: str  # "rtl" or "ltr"
    complete: bool  # every unit of every leaflet and template translated and current
    reviewed: bool  # a qualified medical translator has reviewed it
    review: str  # what the catalog says about its review
    gaps: int  # units not ready (untranslated, fuzzy, placeholder mismatch)
    error: str = ""  # the catalog cannot be read: nothing can be printed in this language until it is fixed


def catalogue(project: str | Path | None = None) -> list[LeafletInfo]:
    """Every leaflet with its document control and its text in each shipped language (for search)."""
    proj = find_project(project)
    out = []
    langs = proj.languages()
    trs = {}
    for lang in langs:
        try:
            trs[lang] = translator(proj, lang)
        except LeafgenError:  # a broken catalog: its language is not searchable (languages() says why)
            continue
    for path in proj.leaflet_paths():
        leaflet, _ = load_leaflet(path)
        english = [leaflet.title, leaflet.summary, *(s.heading for s in leaflet.sections)]
        titles, text = {}, {}
        for lang in langs:
            if lang not in trs:
                titles[lang], text[lang] = leaflet.title, ""
                continue
            parts = [trs[lang](t, leaflet.id) for t in english]
            titles[lang], text[lang] = parts[0], "\n".join(parts)
        d = leaflet.document
        out.append(LeafletInfo(leaflet.id, d.version, d.status, d.published, d.review, d.approved_by, titles, text))
    return out


def languages(project: str | Path | None = None) -> list[LanguageInfo]:
    """Every shipped language: own name, direction, and whether its translation is complete and reviewed."""
    proj = find_project(project)
    english = Locale.parse("en")
    out = []
    for lang in proj.languages():
        direction = "rtl" if script_for(lang).rtl else "ltr"
        own = language_name(lang)
        en_name = Locale.parse(lang).get_display_name(english) or lang
        if lang == SOURCE_LANG:
            out.append(LanguageInfo(lang, bcp47(lang), own, en_name, direction, True, True, "source language", 0))
            continue
        try:
            st = status(proj, lang)
        except LeafgenError as e:  # one broken catalog must not hide every other language
            out.append(LanguageInfo(lang, bcp47(lang), own, en_name, direction, False, False, UNREVIEWED, 0, str(e)))
            continue
        reviewed = st.review != UNREVIEWED and not st.review.lower().startswith("not ")
        out.append(
            LanguageInfo(lang, bcp47(lang), own, en_name, direction, st.complete, reviewed, st.review, len(st.gaps))
        )
    return out


def render_document(
    leaflet: str,
    lang: str = "en",
    kind: str = "handout",
    paper: str = "a4",
    *,
    large_print: bool = False,
    fillable: bool = False,
    project: str | Path | None = None,
    allow_fallback: bool = False,
    personal: Personal | None = None,
) -> Rendered:
    """One PDF with what a front end shows about it (pages, translated title, fallback); `personal` prints the
    patient's name, start date and a clinician's note in that PDF only. Unpersonalised it is `leafgen build`'s."""
    job = Job(leaflet, lang, kind, paper, large_print, fillable)
    return render_job(find_project(project), job, allow_fallback=allow_fallback, personal=personal)


def email_is_dry_run(environ: Mapping[str, str] | None = None) -> bool:
    """True when no SMTP server is configured: email() should then be a dry run into the outbox."""
    return not load_config(None, os.environ if environ is None else environ).host


def clinic_profile(project: str | Path | None = None) -> dict[str, str]:
    """The clinic's name, contact details and default paper, defaults filled in."""
    return clinic(find_project(project))


def project_root(project: str | Path | None = None) -> Path:
    """The folder a command works on: the given one, else the current one, else the shipped content."""
    return find_project(project).root

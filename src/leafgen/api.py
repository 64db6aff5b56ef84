"""What callers (the CLI, the desk, scripts) ask of leafgen: results and diagnostics, never printing."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from babel import Locale

from leafgen.build.executor import build as _build
from leafgen.build.executor import dry_run
from leafgen.build.plan import plan, shard
from leafgen.content.profile import clinic, theme
from leafgen.content.readability import GRADE_CEILING, reading_level
from leafgen.content.schema import load_disclaimer, load_leaflet
from leafgen.errors import ErrorList, LeafgenError
from leafgen.i18n.catalogs import UNREVIEWED, translator
from leafgen.i18n.extract import expected_units
from leafgen.i18n.locales import bcp47, check_locale, language_name
from leafgen.i18n.status import Status, check_catalog, status
from leafgen.project import KINDS, PAPERS, SOURCE_LANG, Project, find_project
from leafgen.render.job import Job, choice_problem
from leafgen.render.pipeline import Personal, PersonalDataError, Rendered, check_personal_text, render_job
from leafgen.render.templating import check_templates
from leafgen.results import Outcome as BuildOutcome
from leafgen.results import Summary
from leafgen.text.scripts import script_for

if TYPE_CHECKING:
    from leafgen.mail.send import Outcome

__all__ = [
    "BuildOutcome",
    "KINDS",
    "PAPERS",
    "CheckResult",
    "LanguageInfo",
    "LeafletInfo",
    "Outcome",
    "Personal",
    "PersonalDataError",
    "Rendered",
    "Summary",
    "build",
    "catalogue",
    "check",
    "check_personal_text",
    "choice_problem",
    "clinic_profile",
    "email",
    "email_is_dry_run",
    "jobs",
    "languages",
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
    project: str | Path | Project | None = None,
    allow_fallback: bool = False,
    personal: Personal | None = None,
) -> bytes:
    """The PDF bytes of one leaflet in one language, kind and paper (personalised for one patient if asked):
    render_document's PDF, for callers that want only the file."""
    return render_document(
        leaflet,
        lang,
        kind,
        paper,
        large_print=large_print,
        fillable=fillable,
        project=project,
        allow_fallback=allow_fallback,
        personal=personal,
    ).pdf


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

    Idempotent: a leaflet the patient already has by email (same address, language and kind; a double submit)
    is never sent again: all of it already sent returns 'skipped', otherwise only the rest is attached. Without
    send=True it is a dry run into the outbox. SMTP settings as for the command: LEAFGEN_SMTP_*
    variables over the TOML file `smtp_config`. Bad input raises MailError; the outcome's note names no patient.
    """
    proj = find_project(project)
    # The mail stage is imported where it is used (here, email_is_dry_run and Outcome below): email_validator,
    # smtplib and sqlite3 cost a build or a `leafgen list` ~40 ms of start-up for nothing.
    from leafgen.mail.recipients import single
    from leafgen.mail.send import journal_path, send_one
    from leafgen.mail.smtp import load_config

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
    status: Status | None = None  # counts and the units not ready (None for the source language)

    @property
    def source(self) -> bool:
        return self.code == SOURCE_LANG


def catalogue(project: str | Path | Project | None = None) -> list[LeafletInfo]:
    """Every leaflet with its document control and its text in each shipped language (for search)."""
    proj = _project(project)
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


def _english_name(lang: str, english: Locale) -> str:
    """The language's name in English, for the catalog's own language: Babel takes "tl" for Filipino (fil_PH), so a
    Tagalog catalog was listed as "Tagalog — Filipino (Philippines)", two names for one language."""
    loc = Locale.parse(lang)
    if loc.language != lang.split("_")[0]:  # an alias: name the language the catalog is in, not its replacement
        return english.languages.get(lang.split("_")[0]) or lang
    return loc.get_display_name(english) or lang


def languages(project: str | Path | Project | None = None) -> list[LanguageInfo]:
    """Every shipped language: own name, direction, and whether its translation is complete and reviewed.

    What a complete catalog must hold is worked out once, not once per language (each leaflet validated once).
    """
    proj = _project(project)
    english = Locale.parse("en")
    expected: dict[str, str] | None = None
    out = []
    for lang in proj.languages():
        try:
            check_locale(lang, proj.translations_dir / lang)
        except LeafgenError as e:  # a misnamed catalog folder: listed as broken, named by its folder
            out.append(LanguageInfo(lang, lang, lang, lang, "ltr", False, False, UNREVIEWED, 0, str(e)))
            continue
        direction = "rtl" if script_for(lang).rtl else "ltr"
        own = language_name(lang)
        en_name = _english_name(lang, english)
        if lang == SOURCE_LANG:
            out.append(LanguageInfo(lang, bcp47(lang), own, en_name, direction, True, True, "source language", 0))
            continue
        try:
            expected = expected_units(proj) if expected is None else expected
            st = status(proj, lang, expected)
        except LeafgenError as e:  # one broken catalog must not hide every other language
            out.append(LanguageInfo(lang, bcp47(lang), own, en_name, direction, False, False, UNREVIEWED, 0, str(e)))
            continue
        reviewed = st.review != UNREVIEWED and not st.review.lower().startswith("not ")
        out.append(
            LanguageInfo(
                lang, bcp47(lang), own, en_name, direction, st.complete, reviewed, st.review, len(st.gaps), "", st
            )
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
    project: str | Path | Project | None = None,
    allow_fallback: bool = False,
    personal: Personal | None = None,
) -> Rendered:
    """One PDF with what a front end shows about it (pages, translated title, fallback); `personal` prints the
    patient's name, start date and a clinician's note in that PDF only. Unpersonalised it is `leafgen build`'s."""
    job = Job(leaflet, lang, kind, paper, large_print, fillable)
    return render_job(_project(project), job, allow_fallback=allow_fallback, personal=personal)


def email_is_dry_run(environ: Mapping[str, str] | None = None) -> bool:
    """True when no SMTP server is configured: email() should then be a dry run into the outbox."""
    from leafgen.mail.smtp import load_config  # see email(): the mail stage loads only when used

    return not load_config(None, os.environ if environ is None else environ).host


def __getattr__(name: str) -> Any:
    """`api.Outcome`, an email's outcome, imported on first use like the rest of the mail stage (see email())."""
    if name == "Outcome":
        from leafgen.mail.send import Outcome

        return Outcome
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def clinic_profile(project: str | Path | None = None) -> dict[str, str]:
    """The clinic's name, contact details and default paper, defaults filled in."""
    return clinic(find_project(project))


def _project(project: str | Path | Project | None) -> Project:
    return project if isinstance(project, Project) else find_project(project)


# --- builds and checks: what `leafgen build` and `leafgen check` do, as results ------------------------------------


@dataclass
class CheckResult:
    """What `check` found: errors (each one line naming its file) would stop a build; warnings would not."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    reading: list[tuple[str, float, float]] = field(default_factory=list)  # leaflet id, grade, ease
    leaflets: int = 0
    languages: int = 0
    rendered: int = 0  # PDFs rendered in memory
    bugs: list[BuildOutcome] = field(default_factory=list)  # renders that hit a bug in leafgen (trace for --debug)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.bugs


def jobs(
    project: Project,
    leaflets: Iterable[str] | None = None,
    langs: Iterable[str] | None = None,
    kinds: Iterable[str] | None = None,
    papers: Iterable[str] | None = None,
    *,
    large_print: bool = False,
    fillable: bool = False,
    shard_spec: str | None = None,
) -> list[Job]:
    """The jobs of a batch; None means every leaflet, every language, both kinds, the clinic's paper."""
    leaflets = list(leaflets) if leaflets is not None else [p.stem for p in project.leaflet_paths()]
    langs = list(langs) if langs is not None else project.languages()
    kinds = list(kinds) if kinds is not None else list(KINDS)
    papers = list(papers) if papers is not None else [clinic(project)["default_paper"]]
    shipped = project.languages()
    for what, values in (("leaflet", leaflets), ("language", langs), ("kind", kinds), ("paper", papers)):
        if not values:
            raise LeafgenError(f"no {what} given")
    for lang in langs:
        if lang not in shipped:
            raise LeafgenError(f"unknown language {lang!r} (shipped: {', '.join(shipped)})", project.translations_dir)
    if fillable and "checklist" not in kinds:
        raise LeafgenError("only the checklist has a fillable variant: add --kind checklist")
    planned = plan(project, leaflets, langs, kinds, papers, large_print, fillable)
    return shard(planned, shard_spec) if shard_spec else planned


def build(
    project: Project,
    jobs: list[Job],
    out_dir: str | Path,
    *,
    allow_fallback: bool = False,
    force: bool = False,
    workers: int = 1,
    on_done: Callable[[BuildOutcome], None] | None = None,
    start_method: str | None = None,
) -> Summary:
    """Build what is out of date into out_dir; on_done sees each outcome as it happens (for progress)."""
    return _build(
        project,
        jobs,
        Path(out_dir),
        allow_fallback=allow_fallback,
        force=force,
        workers=workers,
        on_done=on_done,
        start_method=start_method,
    )


def check(project: Project, *, allow_fallback: bool = False, workers: int = 1) -> CheckResult:
    """Every error a build of this project would hit, found without writing a PDF.

    Validates each source once, then renders every leaflet in every language, kind, paper and print size
    (and the fillable checklist) in memory, so faults that only layout or the translation gate find
    (a glyph no font has, a broken theme value, an unknown layout tag, a stale translation) are found here.
    """
    result = CheckResult(languages=len(project.languages()))
    seen: set[str] = set()

    def error(e: LeafgenError) -> None:
        for line in str(e).splitlines():
            if line not in seen:
                seen.add(line)
                result.errors.append(line)

    def attempt(fn: Callable[..., object], *args: object) -> object:
        try:
            return fn(*args)
        except ErrorList as e:
            for x in e.errors:
                error(x)
        except LeafgenError as e:
            error(e)
        return None

    valid: list[str] = []
    paths = project.leaflet_paths()
    result.leaflets = len(paths)
    for path in paths:
        loaded = attempt(load_leaflet, path)
        if not isinstance(loaded, tuple):
            continue
        leaflet, warnings = loaded
        valid.append(leaflet.id)
        result.warnings.extend(warnings)
        grade, ease = reading_level(leaflet)
        result.reading.append((leaflet.id, grade, ease))
        if grade > GRADE_CEILING:
            result.warnings.append(f"{path}: reading grade {grade:.1f} is above {GRADE_CEILING:g}")
    shared_ok = all(
        attempt(fn, arg) is not None
        for fn, arg in ((load_disclaimer, project.disclaimer_path), (clinic, project), (theme, project))
    )
    attempt(check_templates, project.templates_dir)
    for lang in project.languages()[1:]:
        attempt(check_catalog, project, lang)
    if valid and shared_ok:
        langs = project.languages()
        everything = plan(project, valid, langs, KINDS, PAPERS) + plan(
            project, valid, langs, KINDS, PAPERS, large_print=True
        )
        everything += plan(project, valid, langs, ["checklist"], PAPERS, fillable=True)
        for outcome in dry_run(project, everything, allow_fallback=allow_fallback, workers=workers):
            result.rendered += 1
            if outcome.bug:  # reported as a build reports it; the rest is still checked
                result.bugs.append(outcome)
            elif outcome.error:
                for line in outcome.error.splitlines():
                    if line not in seen:
                        seen.add(line)
                        result.errors.append(line)
    return result

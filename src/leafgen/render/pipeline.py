"""Run the pipeline for one document: source → validate → translate → template → layout → PDF."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import astuple, dataclass, field

from reportlab.platypus.doctemplate import LayoutError

from leafgen.content.characters import FORBIDDEN_RE, why
from leafgen.content.model import Disclaimer, Leaflet, map_text, units
from leafgen.content.profile import clinic, theme
from leafgen.content.schema import load_disclaimer, load_leaflet, long_word
from leafgen.errors import LeafgenError, SourceError
from leafgen.i18n.catalogs import Translator, translator
from leafgen.i18n.locales import format_date
from leafgen.project import Project, Reads, recording
from leafgen.render.job import Job, check_job
from leafgen.render.layout import layout
from leafgen.render.pdf import write_pdf
from leafgen.render.templating import render_template
from leafgen.text.rtl import shape_rtl
from leafgen.text.scripts import missing_glyphs, script_for

MAX_TRANSLATED_HEADING_CHARS = 300  # content.schema.MAX_HEADING_CHARS, and half again for longer languages
NOTE_MAX = 600  # characters: a short note fits one box on the first page, even in large print


@dataclass(frozen=True)
class Personal:
    """One patient's details for one PDF: kept apart from the Job, so they never reach a fingerprint, the build
    cache, a manifest or a file name, and are forgotten with the PDF."""

    name: str = field(default="", repr=False)  # the checklist's "Patient name" line
    start: dt.date | None = field(default=None, repr=False)  # the checklist's "Start date" line
    note: str = field(default="", repr=False)  # the clinician's note, boxed on the handout

    def __bool__(self) -> bool:
        return bool(self.name or self.start or self.note)


class PersonalDataError(LeafgenError):
    """The patient's details cannot be printed as given; the message names the field, never its content."""


def check_personal_text(name: str, note: str) -> None:
    """Refuse a control, reordering or non-character in the details (text pasted from another program carries
    them): a NUL or ESC would break the page's layout, an override reorder what the patient reads. The same rule
    as for a leaflet's text, said in the desk's words: the field and the character, never the text. A note too
    long for its box is named before a word too long for a line, since shortening it may fix both."""
    if any(ch in name for ch in "\r\n\t") or len(name) > 120:
        raise PersonalDataError("the patient's name must be one line of at most 120 characters")
    if len(note) > NOTE_MAX:
        raise PersonalDataError(f"the note is {len(note)} characters long; at most {NOTE_MAX} fit its box")
    for label, text in (("patient's name", name), ("note", note)):
        if m := FORBIDDEN_RE.search(text):
            ch = m.group()
            reason = why(ch) if unicodedata.category(ch) in ("Cc", "Cf") else "a character no page can print"
            where = f"U+{ord(ch):04X} {unicodedata.name(ch, '')}".strip()
            raise PersonalDataError(f"the {label} has {reason} ({where}); delete it or type that part again")
        if problem := long_word(text):
            raise PersonalDataError(f"the {label} has {problem.split(' (', 1)[0]}: add spaces")


def _personal_context(personal: Personal | None, job: Job) -> dict | None:
    """What the templates may print, checked: one line for the name, paragraphs for the note, glyphs present."""
    if not personal:
        return None
    check_personal_text(personal.name, personal.note)
    note = [" ".join(line.split()) for line in personal.note.splitlines()]
    script = script_for(job.lang)
    for label, text in (("patient's name", personal.name), ("note", personal.note)):
        drawn = shape_rtl(text) if script.rtl else text
        missing = [ch for ch in missing_glyphs(drawn, script.regular) if ch not in "\r\n"]
        if missing:
            shown = ", ".join(f"'{ch}' (U+{ord(ch):04X})" for ch in missing[:3])
            raise PersonalDataError(
                f"the {label} has characters the fonts for this language cannot print: {shown}; "
                "remove them or write them another way"
            )
    return {
        "name": " ".join(personal.name.split()),
        "start": format_date(personal.start, job.lang) if personal.start else "",
        "note": [line for line in note if line],
    }


@dataclass(frozen=True)
class Rendered:
    job: Job
    pdf: bytes
    pages: int
    title: str  # translated leaflet title, for file names and email subjects
    fallback: bool  # some units are in English, and every page says so
    reads: Reads  # every input this render read: files by content, catalog entries by value


def translate(leaflet: Leaflet, disclaimer: Disclaimer, tr: Translator) -> tuple[Leaflet, Disclaimer]:
    """The leaflet and disclaimer in tr's language; gaps are recorded in tr, not hidden."""
    if tr.catalog is None:
        return leaflet, disclaimer
    where = {u.text: u.where for u in reversed(units(leaflet))}  # first use names the unit
    translated = map_text(leaflet, lambda text: tr(text, where.get(text, leaflet.id)))
    d = Disclaimer(tr(disclaimer.heading, "disclaimer"), tr(disclaimer.text, "disclaimer"))
    return translated, d


def english_units(leaflet: Leaflet, disclaimer: Disclaimer, t_leaflet: Leaflet, t_disclaimer: Disclaimer) -> frozenset:
    """Units left in English (an allowed fallback, or a name spelt the same): tagged /Lang en for screen readers."""
    pairs = zip(units(leaflet), units(t_leaflet), strict=True)
    same = {en.text for en, tr in pairs if en.text == tr.text}
    same |= {en for en, tr in zip(astuple(disclaimer), astuple(t_disclaimer), strict=True) if en == tr}
    return frozenset(same)


def _check_headings(leaflet: Leaflet, translated: Leaflet, tr: Translator) -> None:
    """A translated heading far longer than any heading: as the leaflet's own limit (content.schema), with room
    for languages that run longer, so a catalog cannot make a heading taller than a page; and, as for the
    leaflet, no word too long to set (content.schema.long_word)."""
    pairs = [(leaflet.title, translated.title), (leaflet.checklist.title, translated.checklist.title)]
    pairs += [(s.heading, t.heading) for s, t in zip(leaflet.sections, translated.sections, strict=True)]
    for english, text in pairs:
        if len(text) > MAX_TRANSLATED_HEADING_CHARS:
            msg = tr.catalog.get(english) if tr.catalog is not None else None
            raise SourceError(
                f"a translated heading of {len(text):,} characters is far beyond any heading"
                f" (limit {MAX_TRANSLATED_HEADING_CHARS}): {' '.join(english.split())[:60]!r}",
                tr.path,
                getattr(msg, "lineno", None),
            )
    for en, unit in zip(units(leaflet), units(translated), strict=True):
        if problem := long_word(unit.text):
            msg = tr.catalog.get(en.text) if tr.catalog is not None else None
            raise SourceError(problem, tr.path, getattr(msg, "lineno", None))


def _flowable_text(e: LayoutError) -> str:
    """The start of the text ReportLab could not place, without its object address."""
    text = re.sub(r"<\w+ at 0x[0-9a-fA-F]+>", "", str(e))  # ReportLab names flowables by object address
    if size := re.search(r"\(\d[\d.]* x \d", text):  # what follows is sizes and frame names, never the text
        text = text[: size.start()]
    m = re.search(r"'([^'<>]{1,60})", text)
    return f"starting {m.group(1).strip()!r}" if m and m.group(1).strip() else "a table row or box"


def render_job(
    project: Project, job: Job, *, allow_fallback: bool = False, personal: Personal | None = None
) -> Rendered:
    """Make one PDF in memory; raise a LeafgenError instead of producing anything half-done.

    Without `personal` the PDF is the one `leafgen build` writes, byte for byte. Every input is recorded
    where it is read (project files, templates as Jinja loads them, catalog entries as they are looked up,
    font files), so builds know what a PDF depends on without a list here.
    """
    with recording() as reads:
        pdf, pages, title, fallback = _render(project, job, allow_fallback, personal)
    return Rendered(job, pdf, pages, title, fallback, reads)


def _render(
    project: Project, job: Job, allow_fallback: bool, personal: Personal | None
) -> tuple[bytes, int, str, bool]:
    check_job(job, project)
    tr = translator(project, job.lang)  # first: a broken or misnamed catalog is the error, not a date in it
    person = _personal_context(personal, job)
    leaflet, _warnings = load_leaflet(project.leaflet_path(job.leaflet))
    disclaimer = load_disclaimer(project.disclaimer_path)
    t_leaflet, t_disclaimer = translate(leaflet, disclaimer, tr)
    _check_headings(leaflet, t_leaflet, tr)
    template = f"{job.kind}.xml.j2"
    context = {
        "leaflet": t_leaflet,
        "disclaimer": t_disclaimer,
        "clinic": clinic(project),
        "lang": job.lang,
        "published": format_date(leaflet.document.published, job.lang),
        "review": format_date(leaflet.document.review, job.lang),
        "large_print": job.large_print,
        "paper": job.paper,
        "fillable": job.fillable,
        "fallback": False,
    }
    if person is not None:  # absent, not None, for unpersonalised PDFs: templates test `personal is defined`
        context["personal"] = person
    xml = render_template(project.templates_dir, template, context, tr)
    tr.gate(job.leaflet, allow_fallback)
    if tr.incomplete:  # allowed fallback: render again with the banner on every page
        xml = render_template(project.templates_dir, template, {**context, "fallback": True}, tr)
    laid = layout(
        xml,
        template=project.templates_dir / template,
        theme=theme(project),
        lang=job.lang,
        paper=job.paper,
        large_print=job.large_print,
        fillable=job.fillable,
        # Blame a missing glyph on the file that holds the character: English content on the leaflet, a
        # translation on its catalog.
        origin=tuple(p for p in (leaflet.path, tr.path, project.disclaimer_path, project.clinic_path) if p),
        english=english_units(leaflet, disclaimer, t_leaflet, t_disclaimer) if job.lang != "en" else frozenset(),
    )
    try:
        pdf, pages = write_pdf(laid, job.lang)
    except LayoutError as e:
        raise SourceError(
            f"a block is too tall to fit on one page ({_flowable_text(e)}): shorten it, "
            f"or reduce sizes in {project.theme_path.name}",
            leaflet.path,
        ) from None
    return pdf, pages, t_leaflet.title, tr.incomplete

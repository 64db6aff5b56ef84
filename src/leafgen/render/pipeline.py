"""Run the pipeline for one document: source → validate → translate → template → layout → PDF."""

from __future__ import annotations

import re
from dataclasses import astuple, dataclass

from reportlab.platypus.doctemplate import LayoutError

from leafgen.content.model import Disclaimer, Leaflet, map_text, units
from leafgen.content.profile import clinic, theme
from leafgen.content.schema import load_disclaimer, load_leaflet
from leafgen.errors import SourceError
from leafgen.i18n.catalogs import Translator, translator
from leafgen.i18n.locales import format_date
from leafgen.project import Project
from leafgen.render.job import Job, check_job
from leafgen.render.layout import layout
from leafgen.render.pdf import write_pdf
from leafgen.render.templating import render_template


@dataclass(frozen=True)
class Rendered:
    job: Job
    pdf: bytes
    pages: int
    title: str  # translated leaflet title, for file names and email subjects
    fallback: bool  # some units are in English, and every page says so


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


def _flowable_text(e: LayoutError) -> str:
    """The start of the text ReportLab could not place, without its object address."""
    m = re.search(r"'([^']{1,60})", str(e))
    return f"starting {m.group(1)!r}" if m else "a table row or box"


def render_job(project: Project, job: Job, *, allow_fallback: bool = False) -> Rendered:
    """Make one PDF in memory; raise a LeafgenError instead of producing anything half-done."""
    check_job(job)
    leaflet, _warnings = load_leaflet(project.leaflet_path(job.leaflet))
    disclaimer = load_disclaimer(project.disclaimer_path)
    tr = translator(project, job.lang)
    t_leaflet, t_disclaimer = translate(leaflet, disclaimer, tr)
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
    return Rendered(job, pdf, pages, t_leaflet.title, tr.incomplete)

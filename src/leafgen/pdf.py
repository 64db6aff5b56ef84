"""Draw a laid-out story onto pages and return reproducible PDF bytes."""

from __future__ import annotations

import io
from typing import Any

from xml.sax.saxutils import escape

from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Frame, PageTemplate

from leafgen import scripts
from leafgen.i18n import bcp47
from leafgen.layout import Layout


def _numbered_canvas(layout: Layout) -> type[Canvas]:
    """A canvas that holds pages back until the end, so every footer can say 'Page X of Y' in one pass."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self._held: list[dict] = []

        def showPage(self) -> None:  # noqa: N802 - ReportLab's name
            self._held.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._held)
            for number, state in enumerate(self._held, start=1):
                self.__dict__.update(state)
                _decorate(self, layout, number, total)
                Canvas.showPage(self)
            Canvas.save(self)

    return NumberedCanvas


def _line(canv: Canvas, layout: Layout, text: str, y: float) -> None:
    """One running line at the reading start of the column; a Paragraph, so RTL and font fallback apply."""
    para = scripts.paragraph(escape(text), layout.styles["running"], layout.script)
    width = layout.page_size[0] - 2 * layout.margin_x
    para.wrap(width, layout.page_size[1])
    para.drawOn(canv, layout.margin_x, y)


def _decorate(canv: Canvas, layout: Layout, page: int, pages: int) -> None:
    """Header, fallback banner and footer: drawn on every page, outside the story's frame."""
    width, height = layout.page_size
    size = layout.styles["running"].fontSize
    top = height - layout.margin_y
    canv.saveState()
    if layout.running.get("page-header"):
        _line(canv, layout, layout.running["page-header"], top - size)
        canv.setStrokeColor(layout.colours["rule"])
        canv.setLineWidth(0.6)
        canv.line(layout.margin_x, top - size * 1.6, width - layout.margin_x, top - size * 1.6)
    if layout.running.get("banner"):
        band = size * 2.2
        y = top - size * 2.2 - band
        canv.setFillColor(layout.colours["banner_fill"])
        canv.setStrokeColor(layout.colours["banner_edge"])
        canv.rect(layout.margin_x, y, width - 2 * layout.margin_x, band, fill=1, stroke=1)
        _line(canv, layout, layout.running["banner"], y + band / 2 - size / 3)
    bottom = layout.margin_y
    if layout.running.get("page-footer"):
        _line(canv, layout, layout.running["page-footer"], bottom)
    if layout.running.get("page-number"):
        number = layout.running["page-number"].replace("{page}", str(page)).replace("{pages}", str(pages))
        _line(canv, layout, number, bottom - size * 1.5)
    canv.restoreState()


def header_height(layout: Layout) -> float:
    size = layout.styles["running"].fontSize
    return size * (2.4 + (2.6 if layout.running.get("banner") else 0))


def write_pdf(layout: Layout, lang: str) -> tuple[bytes, int]:
    """Build the PDF and count its pages, in ReportLab's invariant mode: same inputs, same bytes."""
    buf = io.BytesIO()
    width, height = layout.page_size
    size = layout.styles["running"].fontSize
    top = header_height(layout)
    footer = size * 3.2
    frame = Frame(
        layout.margin_x,
        layout.margin_y + footer,
        width - 2 * layout.margin_x,
        height - 2 * layout.margin_y - top - footer,
        leftPadding=0,
        rightPadding=0,
        topPadding=0,
        bottomPadding=0,
        id="body",
    )
    doc = BaseDocTemplate(
        buf,
        pagesize=layout.page_size,
        pageTemplates=[PageTemplate("page", [frame])],
        invariant=1,
        title=layout.meta.get("title", ""),
        subject=layout.meta.get("subject", ""),
        author=layout.meta.get("author", ""),
        creator="leafgen",
        producer="leafgen",
        lang=bcp47(lang),
        initialFontName=layout.script.regular,
        initialFontSize=layout.styles["p"].fontSize,
    )
    doc.build(list(layout.story), canvasmaker=_numbered_canvas(layout))
    return buf.getvalue(), doc.page

"""Draw a laid-out story onto pages and return reproducible PDF bytes."""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import partial
from typing import Any

from reportlab.pdfbase.pdfdoc import PDFPage, PDFStream, PDFZCompress
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Flowable, Frame, PageTemplate

from leafgen.i18n.locales import bcp47
from leafgen.render.layout import Layout
from leafgen.render.pack import pack
from leafgen.render.tagging import Node, Tags, tag
from leafgen.text.paragraph import paragraph
from leafgen.text.scripts import escape

GAP = 0.6  # space between running elements and the story, in running-font sizes


@dataclass
class Running:
    """The running header, banner and footer, wrapped once per document so the frame can make room."""

    layout: Layout
    width: float
    parts: dict[str, tuple[Flowable, float]]  # element -> (paragraph, height)

    @classmethod
    def measure(cls, layout: Layout) -> Running:
        width = layout.page_size[0] - 2 * layout.margin_x
        parts = {}
        for key in ("page-header", "banner", "page-footer"):
            if layout.running.get(key):
                para = _para(layout, layout.running[key])
                if key == "banner":  # read first, once: its repetitions on later pages are artifacts
                    banner = Node("P", lang=layout.structure.lang)
                    layout.structure.kids.insert(0, banner)
                    tag(para, banner)
                _, h = para.wrap(width - (2 * _pad(layout) if key == "banner" else 0), layout.page_size[1])
                parts[key] = (para, h)
        return cls(layout, width, parts)

    @property
    def size(self) -> float:
        return self.layout.styles["running"].fontSize

    def top_height(self) -> float:
        h = sum(self.parts[k][1] + GAP * self.size for k in ("page-header",) if k in self.parts)
        if "banner" in self.parts:
            h += self.parts["banner"][1] + 2 * _pad(self.layout) + GAP * self.size
        return h + GAP * self.size

    def bottom_height(self) -> float:
        number = self.layout.styles["running"].leading if self.layout.running.get("page-number") else 0
        footer = self.parts["page-footer"][1] if "page-footer" in self.parts else 0
        return number + footer + 2 * GAP * self.size

    def draw(self, canv: Canvas, page: int, pages: int) -> None:
        """Header, fallback banner and footer: drawn on every page, outside the story's frame."""
        layout, x = self.layout, self.layout.margin_x
        y = layout.page_size[1] - layout.margin_y
        canv.saveState()
        if "page-header" in self.parts:
            para, h = self.parts["page-header"]
            y -= h
            para.drawOn(canv, x, y)
            y -= GAP * self.size / 2
            canv.setStrokeColor(layout.colours["rule"])
            canv.setLineWidth(0.6)
            canv.line(x, y, x + self.width, y)
            y -= GAP * self.size / 2
        if "banner" in self.parts:
            para, h = self.parts["banner"]
            pad = _pad(layout)
            y -= h + 2 * pad
            canv.setFillColor(layout.colours["banner_fill"])
            canv.setStrokeColor(layout.colours["banner_edge"])
            canv.rect(x, y, self.width, h + 2 * pad, fill=1, stroke=1)
            para.drawOn(canv, x + pad, y + pad)
        y = layout.margin_y
        if layout.running.get("page-number"):
            text = layout.running["page-number"].replace("{page}", str(page)).replace("{pages}", str(pages))
            para = _para(layout, text)
            para.wrap(self.width, layout.page_size[1])
            para.drawOn(canv, x, y)
            y += layout.styles["running"].leading
        if "page-footer" in self.parts:
            self.parts["page-footer"][0].drawOn(canv, x, y)
        canv.restoreState()


def _para(layout: Layout, text: str) -> Flowable:
    """A running line is a Paragraph too, so right-to-left order and font fallback apply."""
    return paragraph(escape(text), layout.styles["running"], layout.script)


def _pad(layout: Layout) -> float:
    return layout.styles["running"].fontSize * 0.6


class NumberedCanvas(Canvas):
    """A canvas that holds pages back until the end, so every footer can say 'Page X of Y' in one pass.

    With `tags`, it also tags what it draws: each page's stream is an artifact except for the
    tagged flowables' own marked content, and the structure tree is written at the end.
    One class for every document (made with functools.partial), and its links to the story dropped once
    saved: ReportLab's document objects refer to each other in cycles, so whatever the canvas still held
    (the story, the structure tree: ~1,600 objects) waited for the cycle collector after every PDF.
    """

    def __init__(self, *args: Any, running: Running, tags: Tags | None, **kwargs: Any):
        if tags:  # PDF/UA-1 is built on PDF 1.7 (ISO 32000-1); /Tabs alone is PDF 1.5
            kwargs["pdfVersion"] = (1, 7)
        super().__init__(*args, **kwargs)
        self._held: list[dict] = []
        self.running: Running | None = running
        self.tags = tags
        if tags:
            tags.open_page(self)

    def showPage(self) -> None:  # noqa: N802 - ReportLab's name
        tags = self.tags
        if tags:
            tags.close_page(self)
            tags.next_page()
        # The page's state without the list of held pages itself: holding it would make each state a cycle.
        self._held.append({k: v for k, v in self.__dict__.items() if k != "_held"})
        self._startPage()
        if tags:
            tags.open_page(self)

    def save(self) -> None:
        running, tags = self.running, self.tags
        assert running is not None
        total = len(self._held)
        for number, state in enumerate(self._held, start=1):
            self.__dict__.update(state)
            if tags:
                tags.page = number - 1
                tags.open_page(self)
            running.draw(self, number, total)
            if tags:
                tags.close_page(self)
                tags.page_setup(self, number - 1)
            Canvas.showPage(self)
            _flate_only(self._doc.Pages.pages[-1])
            if tags:
                tags.page_done(self, number - 1)
        if tags:
            tags.finish(self, running.layout.meta.get("title", ""), running.layout.meta)
        Canvas.save(self)
        self._held, self.running, self.tags = [], None, None


def _flate_only(page: PDFPage) -> None:
    """Compress the page's stream without ReportLab's default ASCII85 layer.

    ASCII85 (for 7-bit channels; email attachments are base64 anyway) makes page streams a quarter
    larger, and ReportLab's pure-Python encoder is one of the slowest steps of a build.
    """
    if page.compression and page.stream and not page.Contents:
        page.Contents = PDFStream(content=page.stream, filters=[PDFZCompress])


def write_pdf(layout: Layout, lang: str, *, tagged: bool = True) -> tuple[bytes, int]:
    """Build the PDF and count its pages, in ReportLab's invariant mode: same inputs, same bytes.

    Tagged (PDF/UA-1) unless `tagged` is False, which only the benchmark uses, to measure its cost.
    """
    buf = io.BytesIO()
    width, height = layout.page_size
    tags = Tags(layout.structure, bcp47(lang)) if tagged else None
    running = Running.measure(layout)
    top, bottom = running.top_height(), running.bottom_height()
    frame = Frame(
        layout.margin_x,
        layout.margin_y + bottom,
        width - 2 * layout.margin_x,
        height - 2 * layout.margin_y - top - bottom,
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
    doc.build(list(layout.story), canvasmaker=partial(NumberedCanvas, running=running, tags=tags))
    return pack(buf.getvalue(), tags.late if tags else None), doc.page

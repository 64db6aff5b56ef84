"""The floor: the English A4 handout as a bare ReportLab Platypus story, nothing of leafgen's pipeline.

Same content, styles, fonts (the TTFs in src/leafgen/text/fonts, registered under their own names), sizes,
page geometry and running header/footer with "Page X of Y" as leafgen's handout, but no templating,
no translation, no validation, no layout XML: content is read once up front and only the story and
the PDF are made per call. What leafgen costs above this is the price of its pipeline.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import yaml
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Frame, ListFlowable, ListItem, PageTemplate, Paragraph, Table

ROOT = Path(__file__).resolve().parents[1]
FONTS = ROOT / "src" / "leafgen" / "text" / "fonts"
REGULAR, BOLD = "FloorSans", "FloorSans-Bold"
SAMPLE = "the quick brown fox jumps over the lazy dog, THE QUICK BROWN FOX 0123456789."


def register_fonts() -> None:
    if REGULAR not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(REGULAR, str(FONTS / "NotoSans-Regular.ttf")))
        pdfmetrics.registerFont(TTFont(BOLD, str(FONTS / "NotoSans-Bold.ttf")))
        pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD, italic=REGULAR, boldItalic=BOLD)


def load_content(root: Path = ROOT, leaflet: str | None = None) -> dict[str, Any]:
    """Everything the page shows, read once (plain YAML, unchecked)."""
    path = (
        root / "leaflets" / f"{leaflet}.yaml" if leaflet else next(iter(sorted((root / "leaflets").glob("[!_]*.yaml"))))
    )
    load = lambda p: yaml.load(p.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)  # noqa: E731
    return {
        "leaflet": load(path),
        "disclaimer": load(root / "leaflets" / "_disclaimer.yaml"),
        "theme": load(root / "templates" / "theme.yaml"),
        "clinic": load(root / "clinic.yaml"),
    }


def _date(d: dt.date) -> str:
    return f"{d.day} {d:%B %Y}"  # what Babel's long English format gives


def styles(theme: dict[str, Any]) -> dict[str, ParagraphStyle]:
    t = {**theme["standard"], **theme["colours"]}
    text, accent, muted = (colors.HexColor(t[k]) for k in ("text", "accent", "muted"))
    body, lead = t["body_size"], t["leading"]

    def style(name: str, size: float, bold: bool = False, colour: Any = text, **kw: Any) -> ParagraphStyle:
        kw.setdefault("leading", size * lead)
        return ParagraphStyle(
            name, fontName=BOLD if bold else REGULAR, fontSize=size, textColor=colour, alignment=TA_LEFT,
            bulletFontName=REGULAR, **kw,
        )  # fmt: skip

    return {
        "title": style("title", t["title_size"], True, accent, spaceAfter=body * 0.6, leading=t["title_size"] * 1.2),
        "h1": style("h1", t["h1_size"], True, accent, spaceBefore=body * 0.9, spaceAfter=body * 0.35),
        "h2": style("h2", t["h2_size"], True, text, spaceBefore=body * 0.6, spaceAfter=body * 0.3),
        "p": style("p", body, spaceAfter=body * 0.5),
        "li": style("li", body, spaceAfter=body * 0.2),
        "small": style("small", t["small_size"], colour=muted, spaceAfter=2),
        "running": style("running", t["small_size"], colour=muted),
    }


def render(content: dict[str, Any]) -> tuple[bytes, int]:
    """One handout PDF from preloaded content: the story, then the document."""
    register_fonts()
    lf, disc, theme, clinic = content["leaflet"], content["disclaimer"], content["theme"], content["clinic"]
    t, col = theme["standard"], {k: colors.HexColor(v) for k, v in theme["colours"].items()}
    st = styles(theme)
    body = t["body_size"]
    page_w, page_h = A4
    margin = t["margin_mm"] * mm
    width = min(page_w - 2 * margin, t["measure"] * stringWidth(SAMPLE, REGULAR, body) / len(SAMPLE))
    margin_x = (page_w - width) / 2

    def para(text: str, style: str) -> Paragraph:
        return Paragraph(escape(" ".join(str(text).split())), st[style])

    def bullets(items: list[str], style: str) -> ListFlowable:
        s = st[style]
        return ListFlowable(
            [ListItem(para(i, style)) for i in items], bulletType="bullet", start="\u2022", bulletFontName=REGULAR,
            bulletFontSize=s.fontSize, leftIndent=s.fontSize * 1.3, rightIndent=0, bulletDir="ltr",
            bulletColor=s.textColor, spaceAfter=s.fontSize * 0.4,
        )  # fmt: skip

    def box(kind: str, flowables: list) -> Table:
        fill, pad = col[f"{kind}_fill"], t["box_padding"]
        table = Table([[flowables]], colWidths=[width], splitInRow=1, hAlign="LEFT")
        table.setStyle([
            ("FONTNAME", (0, 0), (-1, -1), REGULAR), ("BACKGROUND", (0, 0), (-1, -1), fill),
            ("BOX", (0, 0), (-1, -1), 2 if kind == "urgent" else 1, col.get(f"{kind}_edge", fill)),
            *[(f"{side}PADDING", (0, 0), (-1, -1), pad) for side in ("LEFT", "RIGHT", "TOP", "BOTTOM")],
        ])  # fmt: skip
        table.spaceBefore = table.spaceAfter = body * 0.6
        return table

    story: list = [para(lf["title"], "title"), box("summary", [para(lf["summary"], "p")])]
    for section in lf["sections"]:
        part = [para(section["heading"], "h1")]
        for block in section["content"]:
            part.append(bullets(block["bullets"], "li") if isinstance(block, dict) else para(block, "p"))
        story += [box("urgent", part)] if section.get("style") == "urgent" else part
    story.append(box("disclaimer", [para(disc["heading"], "h2"), para(disc["text"], "p")]))
    if clinic.get("phone") or clinic.get("email") or clinic.get("address"):
        story.append(para("Contact your clinic", "h2"))
        story.append(para(", ".join(x for x in (clinic["name"], clinic.get("address")) if x), "p"))
        for key, label in (("phone", "Phone"), ("email", "Email")):
            if clinic.get(key):
                story.append(para(f"{label}: {clinic[key]}", "p"))
    story += [para("About this leaflet", "h2"), para("Sources:", "small")]
    story.append(bullets(lf["document"]["sources"], "small"))

    doc_info = lf["document"]
    header = "  |  ".join(
        [clinic["name"]]
        + ([f"Phone: {clinic['phone']}"] if clinic.get("phone") else [])
        + ([clinic["website"]] if clinic.get("website") else [])
    )
    footer = (
        f"Version {doc_info['version']}  |  Published {_date(doc_info['published'])}  |  "
        f"Review due {_date(doc_info['review'])}"
    )
    size = st["running"].fontSize

    class NumberedCanvas(Canvas):
        """Pages held back so each footer can say 'Page X of Y'."""

        def __init__(self, *a: Any, **k: Any):
            super().__init__(*a, **k)
            self._held: list[dict] = []

        def showPage(self) -> None:  # noqa: N802
            self._held.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            for number, state in enumerate(self._held, start=1):
                self.__dict__.update(state)
                top = page_h - margin
                self.saveState()
                self.setFont(REGULAR, size)
                self.setFillColor(st["running"].textColor)
                self.drawString(margin_x, top - size, header)
                self.setStrokeColor(col["rule"])
                self.setLineWidth(0.6)
                self.line(margin_x, top - size * 1.6, page_w - margin_x, top - size * 1.6)
                self.drawString(margin_x, margin, footer)
                self.drawString(margin_x, margin - size * 1.5, f"Page {number} of {len(self._held)}")
                self.restoreState()
                Canvas.showPage(self)
            Canvas.save(self)

    buf = io.BytesIO()
    foot, head = size * 3.2, size * 2.4
    frame = Frame(
        margin_x, margin + foot, page_w - 2 * margin_x, page_h - 2 * margin - head - foot,
        leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0, id="body",
    )  # fmt: skip
    doc = BaseDocTemplate(
        buf, pagesize=A4, pageTemplates=[PageTemplate("page", [frame])], invariant=1, title=lf["title"],
        subject="Patient information leaflet", author=clinic["name"], creator="floor", producer="floor", lang="en",
        initialFontName=REGULAR, initialFontSize=body,
    )  # fmt: skip
    doc.build(story, canvasmaker=NumberedCanvas)
    return buf.getvalue(), doc.page


if __name__ == "__main__":  # the bare script's whole process: read, lay out, write one PDF (bench/run.py times it)
    import sys

    pdf, pages = render(load_content())
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_bytes(pdf)
    print(f"floor: {len(pdf)} bytes, {pages} pages")

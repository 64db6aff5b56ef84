"""Turn layout XML from a template into ReportLab flowables, with the theme applied."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfdoc import PDFName
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import Flowable, ListFlowable, ListItem, Paragraph, Spacer, Table, TableStyle
from reportlab.platypus.flowables import LIIndenter

from leafgen.content import characters
from leafgen.errors import FontError, TemplateError
from leafgen.i18n.locales import bcp47
from leafgen.render.tagging import Node, tag, tag_list
from leafgen.text.paragraph import paragraph
from leafgen.text.rtl import shape_rtl
from leafgen.text.scripts import Script, escape, missing_glyphs, script_for

PAGE_SIZES = {"a4": A4, "letter": LETTER}
MAX_GRID_DAYS = 14  # a fortnight of tick boxes is the most a row of one page holds at any theme size
MIN_ITEM_WIDTH = 0.3  # of the column: the instruction needs room beside the day boxes
BOX_STYLES = ("summary", "urgent", "disclaimer", "note")
# Elements in one layout: a leaflet at every content limit (2,000 texts) makes about 2,500; 10,000 paragraphs are
# some 200 pages and many seconds of layout.
MAX_ELEMENTS = 10_000
MAX_DEPTH = 20  # the shipped templates nest 4 deep (document, box, ul, li); ReportLab recurses per level
MAX_BREAKS = 50  # <br/> in one paragraph: ReportLab's time grows faster than the square of their number
# Elements whose own text is never printed (only their children's): text there would silently vanish.
CONTAINERS = frozenset({"document", "section", "box", "ul", "grid", "row", "fields"})
ROW_NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a row's tick boxes are form fields named after it
MEASURE_SAMPLE = "the quick brown fox jumps over the lazy dog, THE QUICK BROWN FOX 0123456789."
KEEP_LINES = 2  # lines of text a heading takes with it to the foot of a page (a typesetter's minimum)
KEEP_AHEAD = 6  # flowables a KeepStart looks at: heading, a short paragraph or two, an intro, a list


@dataclass
class Layout:
    """Everything pdf.py needs: the story, the running texts and the page geometry."""

    story: list[Flowable]
    page_size: tuple[float, float]
    margin_x: float
    margin_y: float
    script: Script
    styles: dict[str, ParagraphStyle]
    colours: dict[str, Any]
    meta: dict[str, str] = field(default_factory=dict)  # title, subject, author
    running: dict[str, str] = field(default_factory=dict)  # page-header, page-footer, page-number, banner
    structure: Node = field(default_factory=lambda: Node("Document"))  # filled with content as pages are drawn


class TickBox(Flowable):
    """One day's tick box; an AcroForm check box in the fillable variant."""

    def __init__(self, size: float, name: str, fillable: bool, edge: Any, tip: str = "", node: Node | None = None):
        super().__init__()
        self.size, self.name, self.fillable, self.edge = size, name, fillable, edge
        self.tip, self.node = tip, node  # tooltip (/TU) and Form element of the fillable check box

    def wrap(self, aw: float, ah: float) -> tuple[float, float]:
        return self.size, self.size

    def draw(self) -> None:
        c = self.canv
        if self.fillable:
            c.acroForm.checkboxRelative(
                name=self.name,
                x=0,
                y=0,
                size=self.size,
                buttonStyle="check",
                borderColor=self.edge,
                fillColor=colors.white,
                textColor=colors.black,
                borderWidth=1,
                tooltip=self.tip or None,
            )
            tags = getattr(c, "tags", None)
            if tags is not None and self.node is not None:
                tags.widget(c, self.node)
        else:
            c.setStrokeColor(self.edge)
            c.setLineWidth(1)
            c.rect(0, 0, self.size, self.size)


class BoxTable(Table):
    """A box that moves to the next page whole, and splits only at the top of a page (too long for one).

    What KeepTogether([table]) does for one table, without wrapping every box twice (KeepTogether measures
    its content, then hands it back to the frame, which measures it again).
    """

    def split(self, availWidth: float, availHeight: float) -> list[Flowable]:  # noqa: N803 - ReportLab's names
        frame = getattr(self, "_frame", None)
        if frame is not None and not frame._atTop:
            return []  # the frame ends here and the box starts the next page
        return super().split(availWidth, availHeight)


class KeepStart(Flowable):
    """Before a heading or a list's intro: a new page, unless they fit here with the start of what they lead to.

    ReportLab's keepWithNext is all or nothing: it keeps a heading with the *whole* next flowable (a long
    paragraph or list, so the heading moves and leaves a gap) and only with the next one (so a heading, its
    one-line intro and then the list overleaf still strands the heading). A typesetter's rule instead: a
    heading goes to the foot of a page only with at least two lines of its text, or its intro and the list's
    first item, below.
    Zero height where that fits, and transparent to spacing (_SPACETRANSFER), so it changes nothing there.
    Where it does not fit it says it is as tall as what must come along and cannot split, so the frame ends
    the page (unlike CondPageBreak, whose queued FrameBreak outlives a frame already full: a blank page).
    """

    _ZEROSIZE = True
    _SPACETRANSFER = True
    locChanger = 1  # noqa: N815 - ReportLab's name; never inside a KeepTogether

    def __init__(self, run: list[tuple[Flowable, str]]):
        super().__init__()
        self.run = run  # the flowables from here on, each with its kind: head, intro, para, list, other

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803 - ReportLab's names
        frame = getattr(self, "_frame", None)
        if frame is None or frame._atTop:  # at the top of a page, a new page is no better
            return 0, 0
        need = _start_height(self.run, availWidth)
        return 0, (need if need > availHeight + 1e-6 else 0)

    def split(self, availWidth: float, availHeight: float) -> list[Flowable]:  # noqa: N803 - ReportLab's names
        return []

    def draw(self) -> None:
        pass


def _start_height(run: list[tuple[Flowable, str]], width: float) -> float:
    """Height a heading or intro needs below it on this page: itself, and enough of what it introduces."""
    need, after, lines = 0.0, 0.0, 0
    for i, (f, kind) in enumerate(run):
        gap = f.getSpaceBefore() if i == 0 else max(after, f.getSpaceBefore())
        if kind == "list":  # its first items, as many as keep together (see bullets)
            items = [c for c in f._content if isinstance(c, LIIndenter)]
            first = next((n for n, item in enumerate(items, start=1) if not item.getKeepWithNext()), len(items))
            return need + gap + _stack_height(items[:first], width)
        _, h = f.wrap(width, 1e9)
        if kind == "para" and h > KEEP_LINES * f.style.leading + 1e-6:
            return need + gap + KEEP_LINES * f.style.leading  # the paragraph may split below its first lines
        if kind == "other":
            rows = getattr(f, "_rowHeights", None)
            if rows and not isinstance(f, BoxTable):  # a table splits between rows: its header and one row
                h = sum(rows[: getattr(f, "repeatRows", 0) + 1])
            return need + gap + h
        need += gap + h
        after = f.getSpaceAfter()
        if kind == "para":
            lines += max(1, round(h / f.style.leading))
            if lines >= KEEP_LINES:
                return need
    return need


def _stack_height(flowables: list[Flowable], width: float) -> float:
    """Height of flowables one under another, spaces between them merged as a frame merges them."""
    total, after = 0.0, None
    for f in flowables:
        _, h = f.wrap(width, 1e9)
        total += h + (0 if after is None else max(after, f.getSpaceBefore()))
        after = f.getSpaceAfter()
    return total


def keep_starts(story: list[Flowable], heads: set[int]) -> list[Flowable]:
    """The story with a KeepStart before each heading, or each list intro not right under a heading.

    heads: ids of the heading flowables. An intro is the paragraph right before a list ("Other causes
    include:", "You may have some of these symptoms.").
    """

    def kind(i: int) -> str:
        f = story[i]
        if id(f) in heads:
            return "head"
        if isinstance(f, ListFlowable):
            return "list"
        if isinstance(f, Paragraph):
            return "intro" if i + 1 < len(story) and isinstance(story[i + 1], ListFlowable) else "para"
        return "other"

    kinds = [kind(i) for i in range(len(story))]
    out: list[Flowable] = []
    for i, f in enumerate(story):
        if kinds[i] in ("head", "intro") and not (i and kinds[i - 1] in ("head", "intro")):
            out.append(KeepStart(list(zip(story[i : i + KEEP_AHEAD], kinds[i : i + KEEP_AHEAD], strict=True))))
        out.append(f)
    return out


@lru_cache(maxsize=32)
def _styles(theme_key: tuple, script: Script) -> dict[str, ParagraphStyle]:
    """Paragraph styles for one theme variant and script, built once per process."""
    t = dict(theme_key)
    align = TA_RIGHT if script.rtl else TA_LEFT
    text = colors.HexColor(t["text"])
    accent = colors.HexColor(t["accent"])
    lead = t["leading"]

    def style(name: str, size: float, bold: bool = False, colour: Any = text, **kw: Any) -> ParagraphStyle:
        kw.setdefault("leading", size * lead)
        return ParagraphStyle(
            name,
            fontName=script.bold if bold else script.regular,
            fontSize=size,
            textColor=colour,
            alignment=align,
            bulletFontName=script.regular,
            **kw,
        )

    body = t["body_size"]
    return {
        "title": style("title", t["title_size"], True, accent, spaceAfter=body * 0.6, leading=t["title_size"] * 1.2),
        # No keepWithNext: KeepStart (added by keep_starts) keeps a heading with the start of its text.
        "h1": style("h1", t["h1_size"], True, accent, spaceBefore=body * 0.9, spaceAfter=body * 0.35),
        "h2": style("h2", t["h2_size"], True, text, spaceBefore=body * 0.6, spaceAfter=body * 0.3),
        "p": style("p", body, spaceAfter=body * 0.5),
        "li": style("li", body, spaceAfter=body * 0.2),
        "small": style("small", t["small_size"], colour=colors.HexColor(t["muted"]), spaceAfter=2),
        "cell": style("cell", body, True),
        "cell-note": style("cell-note", t["small_size"], colour=colors.HexColor(t["muted"])),
        "running": style("running", t["small_size"], colour=colors.HexColor(t["muted"])),
    }


def _theme_key(theme: dict[str, Any], large_print: bool) -> tuple:
    variant = theme["large" if large_print else "standard"]
    return tuple(sorted({**variant, **theme.get("colours", {})}.items()))


def _inline(el: ET.Element) -> tuple[str, str]:
    """(ReportLab markup, plain text) of an element: all text escaped, only <b> and <br/> kept as markup."""
    if (breaks := sum(1 for _ in el.iter("br"))) > MAX_BREAKS:
        raise TemplateError(
            f"{breaks:,} line breaks in one <{el.tag}> is far beyond any leaflet (limit {MAX_BREAKS}): use paragraphs"
        )
    markup, plain = [escape(el.text or "")], [el.text or ""]
    for child in el:
        if child.tag == "b":
            m, p = _inline(child)
            markup.append(f"<b>{m}</b>")
            plain.append(p)
        elif child.tag == "br":
            markup.append("<br/>")
            plain.append("\n")
        else:
            raise TemplateError(f"<{child.tag}> is not allowed inside <{el.tag}> (only <b> and <br/>)")
        markup.append(escape(child.tail or ""))
        plain.append(child.tail or "")
    return _fold("".join(markup)), _fold("".join(plain))


_BREAKING_SPACE = re.compile(r"[ \t\r\n\f\v]+")


def _fold(text: str) -> str:
    """Fold layout whitespace to single spaces, keeping no-break spaces (str.split() would eat them: split dates)."""
    return _BREAKING_SPACE.sub(" ", text).strip(" ")


class _Builder:
    """Walks the layout tree once; holds the per-document choices the walk needs."""

    def __init__(
        self,
        script: Script,
        styles: dict,
        colours: dict,
        t: dict,
        lang: str,
        origins: Sequence[Path],
        fillable: bool,
        width: float,
    ):
        self.script, self.styles, self.colours, self.t = script, styles, colours, t
        self.lang, self.origins, self.fillable, self.width = lang, origins, fillable, width
        # Structure: the element new content goes into, the language of the part being read, and
        # whether the enclosing section already has an <h1> (then an <h2> is a level below it).
        self.root = self.node = Node("Document")
        self.text_lang = bcp47(lang)
        self.has_h1 = False
        self.english: frozenset[str] = frozenset()  # paragraphs that are English whatever the leaflet's language
        self.heads: set[int] = set()  # ids of the heading flowables, for keep_starts

    @contextmanager
    def inside(self, node: Node, el: ET.Element | None = None) -> Iterator[Node]:
        """Build the children of `el` into `node`, in the language `el` declares (lang="en")."""
        saved = self.node, self.text_lang, self.has_h1
        self.node = node
        if el is not None and el.get("lang"):
            self.text_lang = node.lang = bcp47(el.get("lang", ""))
        if node.role == "Sect":
            self.has_h1 = False
        try:
            yield node
        finally:
            self.node, self.text_lang, self.has_h1 = saved

    def leaf(self, role: str, el: ET.Element | None = None, **kw: Any) -> Node:
        """A new element in the current one, with its own language where the layout says so."""
        lang = bcp47(el.get("lang", "")) if el is not None and el.get("lang") else self.text_lang
        return self.node.add(role, lang=lang, **kw)

    def check(self, plain: str) -> None:
        """A character with no glyph would print as an empty box: refuse, naming it and the file it came from."""
        drawn = shape_rtl(plain) if self.script.shaping == "arabic-forms" else plain
        missing = missing_glyphs(drawn, self.script.regular)
        if missing:
            ch = missing[0]
            if ch not in plain:  # a shaped form: blame the letter the text holds
                ch = next((c for c in plain if c not in drawn), ch)
            path, line = _blame(ch, self.origins)
            raise FontError(
                f"no glyph for {ch!r} (U+{ord(ch):04X}) in font {self.script.regular} for language "
                f"{self.lang!r}, in text {plain[:50]!r}",
                path,
                line,
            )

    def para(self, el: ET.Element, style: str, role: str = "P") -> Flowable:
        markup, plain = _inline(el)
        self.check(plain)
        node = self.leaf(role, el, title=plain if role[0] == "H" else "")
        if plain in self.english:
            node.lang = "en"
        return tag(paragraph(markup, self.styles[style], self.script), node)

    def text(self, value: str, style: str, node: Node) -> Flowable:
        self.check(value)
        return tag(paragraph(escape(value), self.styles[style], self.script), node)

    def children(self, el: ET.Element) -> list[Flowable]:
        out: list[Flowable] = []
        for child in el:
            out.extend(self.element(child))
        return out

    def element(self, el: ET.Element) -> list[Flowable]:
        tag = el.tag
        if tag == "title":
            return [self.para(el, tag, "H1")]
        if tag in ("h1", "h2"):
            # Levels follow the document, never skip: <title> H1, <h1> H2, and <h2> H3 only below an <h1>
            # of its own section (a box's or the closing "Contact your clinic" heading is H2).
            role = "H3" if tag == "h2" and self.has_h1 else "H2"
            self.has_h1 = self.has_h1 or tag == "h1"
            heading = self.para(el, tag, role)
            self.heads.add(id(heading))
            return [heading]
        if tag == "p":
            return [self.para(el, "small" if el.get("style") == "small" else "p")]
        if tag == "ul":
            return [self.bullets(el)]
        if tag == "section":
            with self.inside(self.leaf("Sect"), el):
                return self.children(el)
        if tag == "box":
            with self.inside(self.leaf("Sect"), el):
                return [self.box(el)]
        if tag == "fields":
            return [self.fields(el)]
        if tag == "grid":
            return [self.grid(el)]
        if tag == "spacer":
            return [Spacer(1, _number(el, "height", self.t["body_size"], 0, 200))]
        raise TemplateError(f"unknown layout element <{tag}>")

    def bullets(self, el: ET.Element) -> Flowable:
        style = "small" if el.get("style") == "small" else "li"
        st = self.styles[style]
        if len(el) == 0:  # ReportLab fails on an empty list deep inside the PDF writer
            raise TemplateError("<ul> needs at least one <li>")
        with self.inside(self.leaf("L"), el) as lst:
            nodes, items = [], []
            for li in el:
                self._is(li, "li", "ul")
                with self.inside(self.leaf("LI", li), li) as item:
                    item.add("Lbl", lang=item.lang)
                    nodes.append(item)
                    items.append(ListItem(self.para(li, style, "LBody")))
        lst.attrs = {"O": PDFName("List"), "ListNumbering": PDFName("Disc")}
        flowable = ListFlowable(
            items,
            bulletType="bullet",
            start="\u2022",
            bulletFontName=script_for("en").regular,  # the Arabic and CJK faces have no U+2022
            bulletFontSize=st.fontSize,
            leftIndent=st.fontSize * 1.3,
            rightIndent=st.fontSize * 1.3 if self.script.rtl else 0,
            bulletDir="rtl" if self.script.rtl else "ltr",
            bulletColor=st.textColor,
            spaceAfter=st.fontSize * 0.4,
        )
        tag_list(flowable, nodes)
        # Where the list splits over pages its last two items go together: never one alone overleaf. (Its
        # first two are not kept together too: that added pages to 4 of the 176 shipped PDFs for little gain.)
        lines = [f for f in flowable._content if isinstance(f, LIIndenter)]
        if len(lines) > 1:
            lines[-2].__dict__["keepWithNext"] = 1  # the indenter's own: setattr would reach the paragraph inside
        return flowable

    @staticmethod
    def _is(el: ET.Element, tag: str, parent: str) -> bool:
        if el.tag != tag:
            raise TemplateError(f"<{el.tag}> is not allowed inside <{parent}> (only <{tag}>)")
        return True

    def _table_style(self, extra: list) -> TableStyle:
        # Naming the font in every table keeps ReportLab from adding a non-embedded Helvetica.
        return TableStyle([("FONTNAME", (0, 0), (-1, -1), self.script.regular), *extra])

    def box(self, el: ET.Element) -> Flowable:
        kind = el.get("style", "summary")
        if kind not in BOX_STYLES:
            raise TemplateError(f"unknown box style {kind!r} ({', '.join(BOX_STYLES)})")
        # A clinic's own theme.yaml may predate the note box: white with the accent edge, then.
        fill = self.colours.get(f"{kind}_fill") or colors.white
        edge = self.colours.get(f"{kind}_edge") or (self.colours.get("accent", fill) if kind == "note" else fill)
        pad = self.t["box_padding"]
        table = BoxTable([[self.children(el)]], colWidths=[self.width], splitInRow=1, hAlign="LEFT")
        table.setStyle(
            self._table_style(
                [
                    ("BACKGROUND", (0, 0), (-1, -1), fill),
                    ("BOX", (0, 0), (-1, -1), 2 if kind in ("urgent", "note") else 1, edge),
                    *[(f"{side}PADDING", (0, 0), (-1, -1), pad) for side in ("LEFT", "RIGHT", "TOP", "BOTTOM")],
                ]
            )
        )
        table.spaceBefore, table.spaceAfter = self.t["body_size"] * 0.6, self.t["body_size"] * 0.6
        return table

    def fields(self, el: ET.Element) -> Flowable:
        """Write-in lines (patient name, start date) the patient fills by hand."""
        # Layout only (label and line): the labels are paragraphs, not a data table.
        # A value (the patient's name from the desk) is printed on the line; it is data, like all text here.
        if len(el) == 0:  # ReportLab refuses a table without rows deep inside the PDF writer
            raise TemplateError("<fields> needs at least one <field>")
        rows = [
            [self.para(f, "p"), self.text(f.get("value", ""), "p", self.leaf("P", f)) if f.get("value") else ""]
            for f in el
            if self._is(f, "field", "fields")
        ]
        if self.script.rtl:
            rows = [r[::-1] for r in rows]
        label_w = self.width * 0.35
        widths = [label_w, self.width - label_w]
        line_col = 0 if self.script.rtl else 1
        table = Table(rows, colWidths=widths[::-1] if self.script.rtl else widths, hAlign="LEFT")
        table.setStyle(
            self._table_style(
                [
                    ("LINEBELOW", (line_col, 0), (line_col, -1), 0.8, self.colours["text"]),
                    ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
                    ("TOPPADDING", (0, 0), (-1, -1), self.t["body_size"] * 0.6),
                ]
            )
        )
        table.spaceAfter = self.t["body_size"]
        return table

    def grid(self, el: ET.Element) -> Flowable:
        """Items down, days across: the patient ticks one box per item per day."""
        days = int(_number(el, "days", 7, 1, MAX_GRID_DAYS, whole=True))
        size = self.t["tick_size"]
        day_w = size + 10
        item_w = self.width - days * day_w
        if item_w < self.width * MIN_ITEM_WIDTH:
            raise TemplateError(
                f'<grid days="{days}"> does not fit the column with tick_size {size:g}: '
                "fewer days, or a smaller tick_size or larger measure in theme.yaml"
            )
        # Structure, in logical order whatever the page direction: two header rows (the item column's
        # header spans both; "Day" spans the day numbers), then per item a row header and a cell per day.
        grid = self.leaf("Table")
        head_row, number_row = grid.add("TR"), grid.add("TR")

        def header(row: Node, scope: str, **span: int) -> Node:
            return row.add("TH", lang=self.text_lang, attrs={"O": PDFName("Table"), "Scope": PDFName(scope), **span})

        head = (
            [self.text(el.get("item-label", ""), "cell", header(head_row, "Column", RowSpan=2))]
            + [self.text(el.get("day-label", ""), "cell", header(head_row, "Column", ColSpan=days))]
            + [""] * (days - 1)
        )
        numbers = [""] + [self.text(str(d), "cell", header(number_row, "Column")) for d in range(1, days + 1)]
        rows = [head, numbers]
        names: set[str] = set()
        for r, row in enumerate(el, start=1):
            self._is(row, "row", "grid")
            name = row.get("name") or f"item{r}"
            if not ROW_NAME_RE.fullmatch(name):
                raise TemplateError(
                    f"<row name={name!r}>: a row name is letters, digits, - and _ (it names tick boxes)"
                )
            if name in names:  # in a fillable PDF, ticking one row's box would tick the other's
                raise TemplateError(f"two <row>s named {name!r}: each row needs its own name")
            names.add(name)
            tr = grid.add("TR")
            cell: list[Flowable] = []
            tips: dict[int, str] = {}
            instruction = ""
            with self.inside(header(tr, "Row")):
                for part in row:
                    if part.tag == "tip":  # the check box's tooltip: "Day 3: Sit up straight…"
                        day = part.get("day", "")
                        if not day.isdigit():
                            raise TemplateError(f'<tip> needs day="1"…, not {day!r}')
                        if not 1 <= int(day) <= days:  # its box does not exist: the tooltip would vanish
                            raise TemplateError(f'<tip day={day!r}> is not a day of this <grid days="{days}">')
                        tips[int(day)] = _fold(part.text or "")
                        continue
                    if part.tag not in ("instruction", "frequency", "safety"):
                        raise TemplateError(
                            f"<{part.tag}> is not allowed inside <row> (instruction, frequency, safety, tip)"
                        )
                    cell.append(self.para(part, "cell" if part.tag == "instruction" else "cell-note"))
                    instruction = instruction or (_inline(part)[1] if part.tag == "instruction" else "")
            boxes: list[Flowable] = []
            for d in range(1, days + 1):
                td = tr.add("TD", lang=self.text_lang)
                form = td.add("Form", lang=self.text_lang) if self.fillable else None
                edge = self.colours["text"]
                # A template without <tip>s still names each box (PDF/UA: every field has a tooltip).
                tip = tips.get(d) or f"{el.get('day-label', '')} {d}: {instruction}".strip(" :")
                boxes.append(TickBox(size, f"{name}_day{d}", self.fillable, edge, tip, form))
            rows.append([cell, *boxes])
        widths = [item_w] + [day_w] * days
        span = [("SPAN", (1, 0), (days, 0))]
        if self.script.rtl:  # mirror: items on the right, day 1 nearest to them
            rows = [row[::-1] for row in rows]
            rows[0] = [rows[0][-2], *rows[0][:-2], rows[0][-1]]  # a span shows its first cell: the day label
            widths = widths[::-1]
            span = [("SPAN", (0, 0), (days - 1, 0))]
        item_col = days if self.script.rtl else 0
        grid_colour = self.colours["rule"]
        table = Table(rows, colWidths=widths, repeatRows=2, hAlign="LEFT")
        table.setStyle(
            self._table_style(
                [
                    *span,
                    ("GRID", (0, 1), (-1, -1), 0.6, grid_colour),
                    ("BOX", (0, 0), (-1, -1), 0.8, grid_colour),
                    ("BACKGROUND", (0, 0), (-1, 1), self.colours["summary_fill"]),
                    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                    ("ALIGN", (0, 0), (-1, -1), "CENTER"),
                    ("ALIGN", (item_col, 0), (item_col, -1), "RIGHT" if self.script.rtl else "LEFT"),
                    ("TOPPADDING", (0, 2), (-1, -1), 6),
                    ("BOTTOMPADDING", (0, 2), (-1, -1), 8),
                ]
            )
        )
        table.spaceAfter = self.t["body_size"]
        return table


def _check_tree(root: ET.Element) -> None:
    """Faults of the layout as a whole, before anything is laid out: nesting too deep for ReportLab, text where
    nothing prints it (a template writing `<section>{{ text }}</section>` would lose it silently), and
    characters no patient text may hold (content and catalogs are checked where they are read; this is the
    template's own text, `&#x202E;` included, since the parser has resolved references)."""
    stack = [(root, 1)]
    while stack:
        el, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise TemplateError(f"layout nested more than {MAX_DEPTH} levels deep (<{el.tag}> and its parents)")
        texts = [el.text or "", el.tail or "", *el.attrib.values()]
        for text in texts:
            if (at := characters.first_forbidden(text)) >= 0:
                raise TemplateError(characters.message(text[at], f"in <{el.tag}>"))
        if el.tag in CONTAINERS:
            loose = [el.text or "", *(child.tail or "" for child in el)]
            if text := next((t.strip() for t in loose if t.strip()), ""):
                shown = text if len(text) <= 40 else text[:40] + "…"
                raise TemplateError(
                    f"text directly inside <{el.tag}> would not be printed ({shown!r}): put it in a <p>"
                )
        stack.extend((child, depth + 1) for child in el)


def _number(el: ET.Element, name: str, default: float, low: float, high: float, whole: bool = False) -> float:
    """A numeric attribute the template wrote, in range; `days="banana"` is the template's error, said so."""
    raw = el.get(name)
    if raw is None:
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        kind = "a whole number" if whole else "a number"
        raise TemplateError(f"<{el.tag} {name}={raw!r}>: {name} must be {kind} from {low:g} to {high:g}")
    return value


def _file_text(path: Path) -> str:
    """Read only when an error is being reported, so never cached: a long-running desk sees edits."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _blame(ch: str, origins: Sequence[Path]) -> tuple[Path | None, int | None]:
    """The first input file (leaflet, catalog, disclaimer, clinic profile, then the template) holding ch, and its
    line; else the template, the one input that can write a character without holding it (`&#x1F600;`)."""
    # As written, or escaped: YAML's "\U0001F600" or "\u00e9", XML's &#x1F600; or &#128512;.
    spelt = re.compile(
        "|".join(
            [re.escape(ch), rf"\\U{ord(ch):08x}", rf"&#x0*{ord(ch):x};", rf"&#0*{ord(ch)};"]
            + ([rf"\\u{ord(ch):04x}"] if ord(ch) <= 0xFFFF else [])
        ),
        re.IGNORECASE,
    )
    for path in origins:
        text = _file_text(path)
        if m := spelt.search(text):
            return path, text.count("\n", 0, m.start()) + 1
    return (origins[-1] if origins else None), None


def _template_line(template: Path, message: str) -> int | None:
    """The line of the template that wrote the element an error names, when the template writes it once."""
    m = re.search(r"<([\w-]+)", message)
    if not m:
        return None
    lines = [
        n
        for n, text in enumerate(_file_text(template).split("\n"), start=1)
        if f"<{m.group(1)}" in text and not text.lstrip().startswith("{#")  # not in a template comment
    ]
    return lines[0] if len(lines) == 1 else None


def layout(
    xml: str,
    *,
    template: Path,
    theme: dict[str, Any],
    lang: str,
    paper: str,
    large_print: bool,
    fillable: bool = False,
    origin: Path | Sequence[Path] | None = None,
    english: frozenset[str] = frozenset(),
) -> Layout:
    """Parse one rendered template and build the story; origin: the files to blame for missing glyphs."""
    origins: Sequence[Path] = (origin,) if isinstance(origin, Path) else tuple(p for p in origin or () if p)
    if "<!DOCTYPE" in xml or "<!ENTITY" in xml:  # entity expansion is a memory bomb; layout needs none
        raise TemplateError("template produced a DOCTYPE or ENTITY declaration: not allowed in layout XML", template)
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as e:
        # The position is in the rendered output, not the template: say so rather than point at a wrong line.
        raise TemplateError(
            f"template produced malformed layout XML: {e} (line {e.position[0]} of its output)", template
        ) from None
    if root.tag != "document":
        raise TemplateError(f"layout must start with <document>, not <{root.tag}>", template)
    if (count := sum(1 for _ in root.iter())) > MAX_ELEMENTS:
        raise TemplateError(
            f"template produced {count:,} layout elements, far beyond any leaflet (limit {MAX_ELEMENTS:,})", template
        )
    script = script_for(lang)
    key = _theme_key(theme, large_print)
    t = dict(key)
    styles = _styles(key, script)
    colours = {k: colors.HexColor(v) for k, v in theme.get("colours", {}).items()}
    page = PAGE_SIZES[paper]
    margin = t["margin_mm"] * mm
    full = page[0] - 2 * margin
    if root.get("width") == "full":
        width = full
    else:  # centre a column of about `measure` characters: 60-70 a line reads best
        # Measured in the Latin face for every language, so a leaflet's column is the same in all of them.
        sample = stringWidth(MEASURE_SAMPLE, script_for("en").regular, t["body_size"])
        width = min(full, t["measure"] * sample / len(MEASURE_SAMPLE))
    builder = _Builder(script, styles, colours, t, lang, (*origins, template), fillable, width)
    builder.root.lang = bcp47(lang)
    builder.english = frozenset(_fold(text) for text in english)
    story: list[Flowable] = []
    running: dict[str, str] = {}
    try:
        _check_tree(root)
        for el in root:
            if el.tag in ("page-header", "page-footer", "page-number", "banner"):
                _, plain = _inline(el)
                builder.check(plain)
                running[el.tag] = plain
            else:
                story.extend(builder.element(el))
    except TemplateError as e:
        raise TemplateError(e.message, template, _template_line(template, e.message)) from None
    story = keep_starts(story, builder.heads)
    meta = {k: " ".join((root.get(k) or "").split()) for k in ("title", "subject", "author")}
    return Layout(story, page, (page[0] - width) / 2, margin, script, styles, colours, meta, running, builder.root)

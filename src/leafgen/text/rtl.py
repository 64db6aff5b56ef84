"""Right-to-left paragraphs: shape Arabic letters, break lines in logical order, reorder each line for drawing."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.platypus import Paragraph
from reportlab.platypus.paragraph import ParaLines
from reportlab.rl_config import paraFontSizeHeightOffset

from leafgen.text.scripts import SOFT_HYPHEN, escape, font_runs


@lru_cache(maxsize=1)
def _reshaper():  # noqa: ANN202 - arabic_reshaper.ArabicReshaper, imported only for Arabic (it pulls in fontTools)
    import arabic_reshaper

    # The reshaper deletes vowel marks (harakat) by default; a shadda can change a word's meaning.
    return arabic_reshaper.ArabicReshaper(configuration={"delete_harakat": False})


def shape_rtl(text: str) -> str:
    """Join Arabic letters into the presentation forms actually drawn (logical order kept)."""
    return _reshaper().reshape(text)


_BR_RE = re.compile(r"<br\s*/?\s*>", re.IGNORECASE)
_TAG_RE = re.compile(r"<[^>]*>")
_WHOLE_BOLD_RE = re.compile(r"^\s*<b>(.*)</b>\s*$", re.DOTALL | re.IGNORECASE)
_SPACE_RE = re.compile(r"[ \t\r\n\f\v]+")  # not NBSP: it must keep words together


def rtl_segments(markup: str) -> tuple[list[list[str]], bool]:
    """Escaped markup -> (hard lines of shaped logical words, whole paragraph bold?)."""
    m = _WHOLE_BOLD_RE.match(markup)
    bold = bool(m) and not re.search(r"</?b>", m.group(1), re.IGNORECASE)
    text = _BR_RE.sub("\n", re.sub(r"[\r\n]", " ", markup))
    text = html.unescape(_TAG_RE.sub("", text)).replace(SOFT_HYPHEN, "")
    segments = [[w for w in _SPACE_RE.split(shape_rtl(line)) if w] for line in text.split("\n")]
    return segments, bold


@dataclass
class _RTLLine:
    words: list[str]  # shaped, logical order
    width: float
    hard: bool  # ends a hard line (<br/> or end of paragraph): never justified

    @cached_property
    def visual(self) -> str:
        """The line as drawn, left to right: bidi-reordered after breaking, per line."""
        # The pure-Python algorithm applies rule L4 (mirrored brackets); the Rust get_display in `bidi` does not.
        from bidi.algorithm import get_display

        return get_display(" ".join(self.words), base_dir="R") if self.words else ""


class RTLParagraph(Paragraph):
    """A single-style right-to-left paragraph (Arabic).

    ReportLab has no usable bidi support without rlbidi, so this class breaks the shaped
    *logical* words into lines itself, reorders each broken line into visual order with
    python-bidi, and draws it right-aligned, switching to the Latin fallback font for runs
    the Arabic font lacks ("B12"). Line order stays top-to-bottom because reordering happens
    after breaking. Inline styling is not supported; `paragraph()` strips it.
    """

    def __init__(self, segments: list[list[str]], style: ParagraphStyle,
                 justify_last: bool = False):
        self._segments = [list(s) for s in segments]
        self._justify_last = justify_last
        plain = " ".join(" ".join(s) for s in self._segments)
        super().__init__(escape(plain), style)

    def _word_width(self, word: str) -> float:
        return sum(w for _, _, w in font_runs(word, self.style.fontName, self.style.fontSize))

    def _leading(self) -> float:
        style = self.style
        auto = getattr(self, "autoLeading", getattr(style, "autoLeading", ""))
        ascent, descent = pdfmetrics.getAscentDescent(style.fontName, style.fontSize)
        if auto == "max":
            return max(style.leading, ascent - descent)
        if auto == "min":
            return ascent - descent
        return style.leading

    def breakLines(self, width):  # noqa: N802 - ReportLab's name
        """Greedy breaking of logical words; returns ReportLab's simple (kind 0) structure."""
        max_widths = list(width) if isinstance(width, (list, tuple)) else [width]
        style = self.style
        font, size = style.fontName, style.fontSize
        space = self._word_width(" ")
        lines: list[_RTLLine] = []
        for seg in self._segments:
            cur: list[str] = []
            cur_w = 0.0
            for word in seg:
                ww = self._word_width(word)
                limit = max_widths[min(len(lines), len(max_widths) - 1)]
                if cur and cur_w + space + ww > limit + 1e-6:
                    lines.append(_RTLLine(cur, cur_w, hard=False))
                    cur, cur_w = [word], ww
                else:
                    cur_w = cur_w + space + ww if cur else ww
                    cur.append(word)
            lines.append(_RTLLine(cur, cur_w, hard=True))
        if lines and not any(line.words for line in lines):
            lines = []
        self._rtl_lines = lines
        self._width_max = max((line.width for line in lines), default=0)
        ascent, descent = pdfmetrics.getAscentDescent(font, size)
        return ParaLines(
            kind=0,
            lines=[(max_widths[min(i, len(max_widths) - 1)] - line.width, [line.visual])
                   for i, line in enumerate(lines)],
            fontName=font, fontSize=size, textColor=style.textColor,
            ascent=ascent, descent=descent,
        )

    def minWidth(self) -> float:  # noqa: N802 - ReportLab's name
        return max((self._word_width(w) for s in self._segments for w in s), default=0)

    def split(self, availWidth, availHeight):  # noqa: N803 - ReportLab's names
        """Split between lines; both parts are RTLParagraphs rebuilt from logical words."""
        if availWidth < 1e-8 or availHeight < 1e-8 or not any(self._segments):
            return []
        if not hasattr(self, "_rtl_lines") or getattr(self, "width", None) != availWidth:
            self.wrap(availWidth, availHeight)
        style = self.style
        lines = self._rtl_lines
        n = len(lines)
        s = int((availHeight + 1e-8) / self._leading())
        allow_orphans = getattr(self, "allowOrphans", getattr(style, "allowOrphans", 0))
        allow_widows = getattr(self, "allowWidows", getattr(style, "allowWidows", 1))
        if (not allow_orphans and s <= 1) or s == 0:
            return []
        if n <= s:
            return [self]
        if not allow_widows and n == s + 1:
            if (allow_orphans and n == 3) or n > 3:
                s -= 1
            else:
                return []
        head = RTLParagraph(_segments_of(lines[:s]), style, justify_last=not lines[s - 1].hard)
        tail_style = style
        if style.firstLineIndent:
            tail_style = style.clone(style.name + "-cont", firstLineIndent=0)
        tail = RTLParagraph(_segments_of(lines[s:]), tail_style, self._justify_last)
        return [head, tail]

    def drawPara(self, debug=0):  # noqa: N802 - ReportLab's name
        """Draw each visual line right-aligned (or centred/justified), font runs included."""
        canvas = self.canv
        style = self.style
        font, size = style.fontName, style.fontSize
        self._draw_background(debug)
        lines = self._rtl_lines
        if not lines:
            return
        leading = self._leading()
        ascent, _ = pdfmetrics.getAscentDescent(font, size)
        y = self.height - (size if paraFontSizeHeightOffset else ascent)
        left = style.leftIndent
        canvas.saveState()
        canvas.setFillColor(style.textColor)
        tx = canvas.beginText()
        last = len(lines) - 1
        for i, line in enumerate(lines):
            right = self.width - style.rightIndent - (style.firstLineIndent if i == 0 else 0)
            visual = line.visual
            justify = (style.alignment == TA_JUSTIFY and len(line.words) > 1
                       and (not line.hard or (i == last and self._justify_last)))
            if justify:
                words = visual.split(" ")
                widths = [self._word_width(w) for w in words]
                gap = (right - left - sum(widths)) / (len(words) - 1)
                x = left
                for word, ww in zip(words, widths, strict=True):
                    self._drawfont_runs(tx, x, y, word)
                    x += ww + gap
            elif visual:
                slack = right - left - line.width
                centre = slack / 2 if style.alignment == TA_CENTER else 0
                self._drawfont_runs(tx, right - line.width - centre, y, visual)
            y -= leading
        canvas.drawText(tx)
        canvas.restoreState()

    def _drawfont_runs(self, tx, x: float, y: float, text: str) -> None:
        tx.setTextOrigin(x, y)
        for run, font, _ in font_runs(text, self.style.fontName, self.style.fontSize):
            tx.setFont(font, self.style.fontSize)
            tx.textOut(run)

    def _draw_background(self, debug: int) -> None:
        style = self.style
        bg = style.backColor
        bc = getattr(style, "borderColor", None)
        bw = getattr(style, "borderWidth", 0)
        if debug:
            bg, bc, bw = "#e6e6e6", "#ffff00", 0.5
        if not (bg or (bc and bw)):
            return
        canvas = self.canv
        canvas.saveState()
        pad = getattr(style, "borderPadding", 0) or 0
        if isinstance(pad, (list, tuple)):
            top, right, bottom, left = (list(pad) * 4)[:4] if len(pad) != 4 else pad
        else:
            top = right = bottom = left = pad
        if bg:
            canvas.setFillColor(bg)
        if bc and bw:
            canvas.setStrokeColor(bc)
            canvas.setLineWidth(bw)
        canvas.rect(style.leftIndent - left, -bottom,
                    self.width - style.leftIndent - style.rightIndent + left + right,
                    self.height + top + bottom, fill=1 if bg else 0, stroke=1 if bc and bw else 0)
        canvas.restoreState()


def _segments_of(lines: list[_RTLLine]) -> list[list[str]]:
    """Broken lines back to hard-line segments of logical words (for split halves)."""
    segments: list[list[str]] = []
    cur: list[str] = []
    for line in lines:
        cur.extend(line.words)
        if line.hard:
            segments.append(cur)
            cur = []
    if cur:
        segments.append(cur)
    return segments

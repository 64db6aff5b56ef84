"""Paragraphs leafgen breaks and draws itself: shaped and right-to-left text, each line with its real text."""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_RIGHT
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.platypus.paragraph import ParaLines
from reportlab.rl_config import paraFontSizeHeightOffset

from leafgen.text.actualtext import actual_text
from leafgen.text.rtl import shape_rtl, visual_order
from leafgen.text.scripts import SOFT_HYPHEN, Script, escape, font_runs
from leafgen.text.shaping import shape
from leafgen.text.wrapped import WrappedOnce

_BR_RE = re.compile(r"<br\s*/?\s*>", re.IGNORECASE)
_TAG_RE = re.compile(r"<[^>]*>")
_WHOLE_BOLD_RE = re.compile(r"^\s*<b>(.*)</b>\s*$", re.DOTALL | re.IGNORECASE)
_SPACE_RE = re.compile(r"[ \t\r\n\f\v]+")  # not NBSP: it must keep words together (dates)


def segments_of_markup(markup: str) -> tuple[list[list[str]], bool]:
    """Escaped markup -> (hard lines of logical words, whole paragraph bold?).

    These paragraphs are single-style: inline <b> is dropped, a whole-paragraph <b>…</b> makes it bold.
    """
    m = _WHOLE_BOLD_RE.match(markup)
    bold = m is not None and not re.search(r"</?b>", m.group(1), re.IGNORECASE)
    text = _BR_RE.sub("\n", re.sub(r"[\r\n]", " ", markup))
    text = html.unescape(_TAG_RE.sub("", text)).replace(SOFT_HYPHEN, "")
    return [[w for w in _SPACE_RE.split(line) if w] for line in text.split("\n")], bold


@dataclass(frozen=True)
class Run:
    """A piece of a line drawn in one font: the string handed to the text object, and its width."""

    drawn: str  # code points of the font's glyphs (a ReportLab ShapedStr when HarfBuzz positioned them)
    font: str
    width: float


@lru_cache(maxsize=16384)
def runs_of(text: str, font: str, size: float, shaping: str) -> tuple[Run, ...]:
    """`text` (logical order for "harfbuzz", visual for the others) as font runs, fallback included; memoised."""
    out = []
    for run, run_font, width in font_runs(text, font, size):
        if shaping == "harfbuzz" and run_font == font:
            drawn, width = shape(run, font, size)
            out.append(Run(drawn, font, width))
        else:
            out.append(Run(run, run_font, width))
    return tuple(out)


@lru_cache(maxsize=16384)
def _word_width(word: str, font: str, size: float, shaping: str) -> float:
    drawn = shape_rtl(word) if shaping == "arabic-forms" else word
    return sum(r.width for r in runs_of(drawn, font, size, shaping))


@dataclass
class _Line:
    words: list[str]  # logical order, as in the catalog
    width: float
    hard: bool  # ends a hard line (<br/> or end of paragraph): never justified

    @property
    def text(self) -> str:
        return " ".join(self.words)


class LineParagraph(WrappedOnce):
    """A single-style paragraph that leafgen breaks into lines and draws itself.

    Used where ReportLab alone draws wrongly or extracts wrongly: HarfBuzz-shaped scripts
    (Devanagari, Bengali, Gurmukhi) and right-to-left ones (Arabic, Persian, Urdu, Hebrew).
    Words are broken into lines in logical order; then each line is drawn in visual order
    (bidi-reordered per line for right-to-left, so wrapped lines keep their order), in font
    runs (digits and Latin from the fallback face), inside one /ActualText span holding the
    line's logical text, so extraction, search and screen readers get the catalog's words.
    """

    def __init__(self, segments: list[list[str]], style: ParagraphStyle, script: Script, justify_last: bool = False):
        self._segments = [list(s) for s in segments]
        self._script = script
        self._justify_last = justify_last
        super().__init__(escape(" ".join(" ".join(s) for s in self._segments)), style)

    def _width(self, word: str) -> float:
        return _word_width(word, self.style.fontName, self.style.fontSize, self._script.shaping)

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
        space = self._width(" ")
        lines: list[_Line] = []
        for seg in self._segments:
            cur: list[str] = []
            cur_w = 0.0
            for word in seg:
                ww = self._width(word)
                limit = max_widths[min(len(lines), len(max_widths) - 1)]
                if cur and cur_w + space + ww > limit + 1e-6:
                    lines.append(_Line(cur, cur_w, hard=False))
                    cur, cur_w = [word], ww
                else:
                    cur_w = cur_w + space + ww if cur else ww
                    cur.append(word)
            lines.append(_Line(cur, cur_w, hard=True))
        if lines and not any(line.words for line in lines):
            lines = []
        self._lines = lines
        self._width_max = max((line.width for line in lines), default=0)
        ascent, descent = pdfmetrics.getAscentDescent(style.fontName, style.fontSize)
        return ParaLines(
            kind=0,
            lines=[(max_widths[min(i, len(max_widths) - 1)] - line.width, [line.text]) for i, line in enumerate(lines)],
            fontName=style.fontName,
            fontSize=style.fontSize,
            textColor=style.textColor,
            ascent=ascent,
            descent=descent,
        )

    def minWidth(self) -> float:  # noqa: N802 - ReportLab's name
        return max((self._width(w) for s in self._segments for w in s), default=0)

    def split(self, availWidth, availHeight):  # noqa: N803 - ReportLab's names
        """Split between lines; both parts are rebuilt from logical words."""
        if availWidth < 1e-8 or availHeight < 1e-8 or not any(self._segments):
            return []
        if not hasattr(self, "_lines") or getattr(self, "width", None) != availWidth:
            self.wrap(availWidth, availHeight)
        style = self.style
        lines = self._lines
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
        cls = type(self)
        head = cls(_segments_of(lines[:s]), style, self._script, justify_last=not lines[s - 1].hard)
        tail_style = style
        if style.firstLineIndent:
            tail_style = style.clone(style.name + "-cont", firstLineIndent=0)
        tail = cls(_segments_of(lines[s:]), tail_style, self._script, self._justify_last)
        return [head, tail]

    def _visual_words(self, line: _Line) -> list[str]:
        """The line's words as drawn, left to right."""
        if not self._script.rtl:
            return line.words
        drawn = shape_rtl(line.text) if self._script.shaping == "arabic-forms" else line.text
        return visual_order(drawn).split(" ")

    def drawPara(self, debug=0):  # noqa: N802 - ReportLab's name
        """Draw each line aligned as the style says, in font runs, inside its ActualText span."""
        canvas = self.canv
        style = self.style
        size = style.fontSize
        self._draw_background(debug)
        lines = self._lines
        if not lines:
            return
        leading = self._leading()
        ascent, _ = pdfmetrics.getAscentDescent(style.fontName, size)
        y = self.height - (size if paraFontSizeHeightOffset else ascent)
        left = style.leftIndent
        canvas.saveState()
        canvas.setFillColor(style.textColor)
        tx = canvas.beginText()
        last = len(lines) - 1
        space = self._width(" ")
        for i, line in enumerate(lines):
            indent = style.firstLineIndent if i == 0 else 0
            right = self.width - style.rightIndent - (indent if self._script.rtl else 0)
            start = left + (0 if self._script.rtl else indent)
            words = self._visual_words(line)
            widths = [self._run_width(w) for w in words]
            justify = (
                style.alignment == TA_JUSTIFY
                and len(words) > 1
                and (not line.hard or (i == last and self._justify_last))
            )
            natural = sum(widths) + space * (len(words) - 1)
            gap = (right - start - sum(widths)) / (len(words) - 1) if justify else space
            if justify:
                x = start
            elif style.alignment == TA_RIGHT or (self._script.rtl and style.alignment != TA_CENTER):
                x = right - natural
            elif style.alignment == TA_CENTER:
                x = start + (right - start - natural) / 2
            else:
                x = start
            with actual_text(tx, line.text):
                if justify:
                    for word, ww in zip(words, widths, strict=True):
                        self._draw_runs(tx, x, y, word)
                        x += ww + gap
                else:
                    self._draw_runs(tx, x, y, " ".join(words))
            y -= leading
        canvas.drawText(tx)
        canvas.restoreState()

    def _run_width(self, text: str) -> float:
        return sum(r.width for r in runs_of(text, self.style.fontName, self.style.fontSize, self._drawn_shaping))

    @property
    def _drawn_shaping(self) -> str:
        # Arabic words are already in presentation forms once in visual order: draw them as they are.
        return "harfbuzz" if self._script.harfbuzz else "none"

    def _draw_runs(self, tx, x: float, y: float, text: str) -> None:  # ReportLab's PDFTextObject
        size = self.style.fontSize
        for run in runs_of(text, self.style.fontName, size, self._drawn_shaping):
            tx.setTextOrigin(x, y)
            tx.setFont(run.font, size)
            tx.textOut(run.drawn)
            x += run.width

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
        canvas.rect(
            style.leftIndent - left,
            -bottom,
            self.width - style.leftIndent - style.rightIndent + left + right,
            self.height + top + bottom,
            fill=1 if bg else 0,
            stroke=1 if bc and bw else 0,
        )
        canvas.restoreState()


def _segments_of(lines: list[_Line]) -> list[list[str]]:
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


def needs_own_lines(text: str, script: Script) -> bool:
    """Whether `text` needs a LineParagraph: right-to-left letters, or letters that need shaping."""
    if script.rtl:
        return any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in text)
    if script.harfbuzz:
        return any(ord(ch) > 0x2FF and unicodedata.category(ch)[0] in "LM" for ch in text)
    return False

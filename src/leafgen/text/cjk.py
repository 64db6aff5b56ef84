"""Line breaking for text without spaces between words (Chinese): between characters, with kinsoku rules."""

from __future__ import annotations

from typing import Any

from reportlab.lib.rl_accel import sameFrag
from reportlab.pdfbase.pdfmetrics import getAscentDescent
from reportlab.platypus.paragraph import FragLine, ParaLines, cjkU, imgNormV, imgVRange
from reportlab.rl_config import _FUZZ

from leafgen.text.scripts import TABLE
from leafgen.text.wrapped import WrappedOnce

WORD_JOINER = "\u2060"


def _narrow(ch: str) -> bool:
    """Part of a run of Latin letters or digits ("B12", "2026"), which is never split."""
    return ord(ch) < 0x2E80 and not ch.isspace()


def break_allowed(before: str, after: str) -> bool:
    """May a line end between these two characters? (UAX 14 in the small: what a Chinese leaflet needs.)"""
    if after in TABLE.cannot_start or before in TABLE.cannot_end:
        return False
    if after.isspace():
        return False  # break after the space, so it hangs at the end of the line
    return not (_narrow(before) and _narrow(after))


def kinsoku_lines(frags: list, max_widths: list[float], calc_bounds: bool) -> ParaLines:
    """ReportLab's CJK line structure, breaking only where `break_allowed` says.

    A word joiner (U+2060) forbids the break where it stands and is not drawn (dates are glued
    with it). A closing mark that would start a line hangs in the margin instead, as
    ReportLab's own CJK wrapping does; a piece with no allowed break at all is cut where it
    overflows rather than running off the page.
    """
    chars: list[cjkU] = []
    glued: set[int] = set()  # i: no break before chars[i]
    for f in frags:
        text = f.text if isinstance(f.text, str) else f.text.decode("utf-8")
        if not text:
            chars.append(cjkU(text, f, "utf-8"))  # <br/> and other zero-width specials
            continue
        for ch in text:
            if ch == WORD_JOINER:
                glued.add(len(chars))
            else:
                chars.append(cjkU(ch, f, "utf-8"))
    lines = []
    start, n = 0, len(chars)
    max_width = max_widths[0]
    while start < n:
        used, i, end = 0.0, start, None
        while i < n:
            u = chars[i]
            if hasattr(u.frag, "lineBreak"):
                end = i + 1
                break
            if used + u.width > max_width + _FUZZ and i > start:
                break
            used += u.width
            i += 1
        else:
            end = n
        if end is None:  # overflow at chars[i]: step back to the last allowed break
            end = next(
                (j for j in range(i, start, -1) if j not in glued and break_allowed(chars[j - 1], chars[j])),
                None,
            )
            if end is None:
                end = i + 1 if chars[i] in TABLE.cannot_start else i
        width = sum(u.width for u in chars[start:end])
        line_break = hasattr(chars[end - 1].frag, "lineBreak")
        lines.append(_para_line(chars[start:end], max_width, width, max_width - width, line_break, calc_bounds))
        max_width = max_widths[min(len(lines), len(max_widths) - 1)]
        start = end
    return ParaLines(kind=1, lines=lines)


def _para_line(chars: list, max_width: float, width: float, extra: float, line_break: bool, calc_bounds: bool) -> Any:
    """ReportLab's makeCJKParaLine, the same line, looking at each run of one frag once instead of each character.

    A Chinese paragraph is one frag for hundreds of characters; ReportLab compares and measures every
    character against the last (sameFrag, getAscentDescent), which was most of a Chinese render.
    """
    words: list = []
    run: list = []
    f0 = FragLine()
    max_size = max_ascent = min_descent = 0
    i, n = 0, len(chars)
    while i < n:
        f = chars[i].frag
        j = i + 1
        if not (hasattr(f, "cbDefn") or hasattr(f, "lineBreak")):  # such frags never merge (sameFrag)
            while j < n and chars[j].frag is f:
                j += 1
        size = f.fontSize
        cb = getattr(f, "cbDefn", None) if calc_bounds else None
        if cb is not None and hasattr(cb, "width") and cb.width:  # as ReportLab: getattr(cbDefn, "width", 0)
            descent, ascent = imgVRange(imgNormV(cb.height, size), cb.valign, size)
        else:
            ascent, descent = getAscentDescent(f.fontName, size)
        max_size, max_ascent, min_descent = max(max_size, size), max(max_ascent, ascent), min(min_descent, descent)
        if not sameFrag(f0, f):
            f0 = f0.clone()
            f0.text = "".join(run)
            words.append(f0)
            run = []
            f0 = f
        run.extend(chars[i:j])
        i = j
    if run:
        f0 = f0.clone()
        f0.text = "".join(run)
        words.append(f0)
    return FragLine(
        kind=1, extraSpace=extra, wordCount=1, words=words[1:], fontSize=max_size, ascent=max_ascent,
        descent=min_descent, maxWidth=max_width, currentWidth=width, lineBreak=line_break,
    )  # fmt: skip


class CJKParagraph(WrappedOnce):
    """A ReportLab Paragraph whose CJK line breaking follows kinsoku rules and word joiners."""

    def breakLinesCJK(self, maxWidths):  # noqa: N802, N803 - ReportLab's names
        widths = list(maxWidths) if isinstance(maxWidths, (list, tuple)) else [maxWidths]
        if hasattr(self, "blPara") and getattr(self, "_splitpara", 0):
            return self.blPara
        style = self.style
        self.height = 0
        frags = self.frags
        if not frags:
            return ParaLines(
                kind=0,
                fontSize=style.fontSize,
                fontName=style.fontName,
                textColor=style.textColor,
                lines=[],
                ascent=style.fontSize,
                descent=-0.2 * style.fontSize,
            )
        auto = getattr(self, "autoLeading", getattr(style, "autoLeading", ""))
        # Frames and tables wrap a paragraph more than once at the same width (a box's cells are measured
        # and then drawn): the lines are the same, so they are kept, per paragraph, per widths.
        key = (tuple(widths), auto, id(frags))
        memo = self.__dict__.get("_lines_memo")
        if memo is not None and memo[0] == key:
            return memo[1]
        lines = kinsoku_lines(frags, widths, auto not in ("", "off"))
        self._lines_memo = (key, lines)
        return lines

    def split(self, availWidth: float, availHeight: float) -> list:  # noqa: N803 - ReportLab's names
        self.__dict__.pop("_lines_memo", None)  # ReportLab's CJK split edits the lines' words in place
        return super().split(availWidth, availHeight)

"""Make the Paragraph that draws escaped markup correctly in a script: its fonts, wrapping and direction."""

from __future__ import annotations

import threading
import unicodedata

from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_RIGHT
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import Flowable, Paragraph

from leafgen.text.rtl import RTLParagraph, rtl_segments
from leafgen.text.scripts import BOLD_FONTS, FONT_FILES, Script, register_script, with_fallback_markup

_lock = threading.Lock()


_style_cache: dict[tuple[int, str, bool], tuple[ParagraphStyle, ParagraphStyle]] = {}


def _is_bold_font(font_name: str) -> bool:
    return font_name in BOLD_FONTS or "bold" in font_name.lower()


def _style_for(style: ParagraphStyle, script: Script, bold: bool = False) -> ParagraphStyle:
    """The caller's style adapted to the script: its font, CJK wrapping or mirrored RTL indents.

    Style sheets are written once for all languages, so a Latin font name is replaced by the
    script's font (same weight). Clones are cached per style object.
    """
    key = (id(style), script.name, bold)
    hit = _style_cache.get(key)
    if hit is not None and hit[0] is style:
        return hit[1]
    weight_bold = bold or _is_bold_font(style.fontName)
    font = script.bold if weight_bold else script.regular
    changes: dict[str, object] = {}
    if style.fontName != font:
        changes["fontName"] = font
    if style.bulletFontName not in FONT_FILES:
        changes["bulletFontName"] = script.regular
    suffix = ""
    if script.cjk:
        suffix = "-cjk"
        if style.wordWrap != "CJK":
            changes["wordWrap"] = "CJK"
    elif script.rtl:
        suffix = "-rtl"
        # Indents are written for left-to-right pages; an RTL page is their mirror image.
        changes.update(
            leftIndent=style.rightIndent,
            rightIndent=style.leftIndent,
            alignment=style.alignment if style.alignment in (TA_CENTER, TA_JUSTIFY) else TA_RIGHT,
            wordWrap=None,
        )
    result = style
    if changes:
        result = style.clone(style.name + suffix + ("-bold" if bold else ""), **changes)
    with _lock:
        _style_cache[key] = (style, result)
    return result


def paragraph(markup: str, style: ParagraphStyle, script: Script) -> Flowable:
    """The Paragraph flowable that draws `markup` correctly in `script`.

    `markup` is ReportLab markup already escaped by the caller (<b>, <br/>, &amp; &lt; &gt;).
    Latin: a plain Paragraph. Han: CJK line breaking, with Latin/digits in Noto Sans.
    Arabic: an RTLParagraph; inline <b> is dropped (whole-paragraph <b>...</b> makes it bold).
    """
    register_script(script)
    if script.rtl and _has_rtl(markup):
        segments, bold = rtl_segments(markup)
        return RTLParagraph(segments, _style_for(style, script, bold=bold))
    style = _style_for(style, script)
    if script.cjk or script.rtl:  # e.g. an English reference in an Arabic leaflet: LTR, right-aligned
        markup = with_fallback_markup(markup, style.fontName)
    return Paragraph(markup, style)


def _has_rtl(text: str) -> bool:
    """Text with no right-to-left letter reads left to right, even on a right-to-left page."""
    return any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in text)

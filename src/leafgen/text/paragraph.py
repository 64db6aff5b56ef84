"""Make the Paragraph that draws escaped markup correctly in a script: its fonts, wrapping and direction."""

from __future__ import annotations

import threading

from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_RIGHT
from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import Flowable, Paragraph

from leafgen.text.cjk import WORD_JOINER, CJKParagraph
from leafgen.text.lines import LineParagraph, needs_own_lines, segments_of_markup
from leafgen.text.scripts import BOLD_FONTS, FONT_FILES, Script, register_script, with_fallback_markup
from leafgen.text.wrapped import WrappedOnce

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
    Unshaped left-to-right scripts (Latin, Cyrillic, Hangul, Han): a plain Paragraph, fast, with
    CJK line breaking where the table says so and Latin/digits from the fallback face.
    Right-to-left text and text that needs HarfBuzz: a LineParagraph (own line breaking, visual
    order per line, /ActualText); inline <b> is dropped there (whole-paragraph <b>...</b> makes it bold).
    Text without such letters (an English reference in an Arabic or Hindi leaflet) stays a plain
    Paragraph, aligned as the page is.
    """
    register_script(script)
    if script.cjk:
        cjk_style = _style_for(style, script)
        return _parsed_once(with_fallback_markup(markup, cjk_style.fontName), cjk_style, CJKParagraph)
    markup = markup.replace(WORD_JOINER, "")  # only CJK breaking needs (and removes) them
    if needs_own_lines(markup, script):
        segments, bold = segments_of_markup(markup)
        return LineParagraph(segments, _style_for(style, script, bold=bold), script)
    style = _style_for(style, script)
    if script.fallback:
        markup = with_fallback_markup(markup, style.fontName)
    return _parsed_once(markup, style, WrappedOnce)


# (markup, id(style), class) -> (style, what ReportLab's parser made of the markup: style, text, bullet, frags)
_parsed: dict[tuple[str, int, type], tuple[ParagraphStyle, ParagraphStyle, str, object, list]] = {}
PARSED_MAX = 4096  # distinct paragraphs kept: a catalogue's strings in a few styles; cleared when full


def _parsed_once(markup: str, style: ParagraphStyle, cls: type[Paragraph]) -> Paragraph:
    """A Paragraph whose markup is parsed once per process, not once per PDF.

    ReportLab parses every paragraph's markup (HTMLParser, one fragment per font run) each time it is built:
    a tenth of an English render, for the same disclaimer, headings and running lines in every PDF of a batch
    and every preview of the desk. The fragments are only read afterwards (wrapping, ReportLab's and the CJK
    kinsoku breaking alike, works on clones), so Paragraphs of the same markup, style and class share them.
    """
    key = (markup, id(style), cls)
    hit = _parsed.get(key)
    if hit is not None and hit[0] is style:
        _, parsed_style, text, bullet, frags = hit
        return cls(text, parsed_style, bulletText=bullet, frags=frags)
    para = cls(markup, style)
    with _lock:
        if len(_parsed) >= PARSED_MAX:
            _parsed.clear()
        _parsed[key] = (style, para.style, para.text, para.bulletText, para.frags)
    return para

"""OpenType shaping of one font run with HarfBuzz, through ReportLab's shaper so its text objects draw the result."""

from __future__ import annotations

import threading
from functools import lru_cache

from reportlab.lib.abag import ABag
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import ShapedStr, shapeFragWord

_lock = threading.Lock()
_prepared: set[str] = set()


def prepare_font(font_name: str) -> None:
    """Give every glyph that has no character a Private Use code point, in glyph order, once.

    ReportLab numbers such glyphs (conjuncts, half forms, reordered vowel signs) as it first
    meets them, so the codes, and with them the PDF bytes, would depend on what the process
    drew before. Numbering them all up front keeps same inputs -> same bytes, in any worker.
    """
    if font_name in _prepared:
        return
    with _lock:
        if font_name in _prepared:
            return
        font = pdfmetrics.getFont(font_name)
        hb_font = font.hbFont(10)
        mapped = font.face.glyphToChar
        for gid in range(font.hbFace.glyph_count):
            if gid and gid not in mapped:
                font.hbAddPrivate(hb_font.glyph_to_string(gid), gid, hb_font.get_glyph_h_advance(gid))
        _prepared.add(font_name)


@lru_cache(maxsize=16384)
def shape(text: str, font_name: str, size: float) -> tuple[str, float]:
    """(what to draw, its width in points) for a run of one font; memoised, since headers repeat per page.

    The drawn string is a ReportLab ShapedStr (glyphs as code points plus HarfBuzz positions) or,
    when shaping changes nothing, the text itself.
    """
    prepare_font(font_name)
    word = [pdfmetrics.stringWidth(text, font_name, size), (ABag(fontName=font_name, fontSize=size), text)]
    shaped = shapeFragWord(word, features=None)
    if shaped is word:
        return text, word[0]
    drawn = "".join(str(s) for _, s in shaped[1:])
    data = [d for _, s in shaped[1:] for d in (s.__shapeData__ if isinstance(s, ShapedStr) else [])]
    if len(shaped) != 2 or not isinstance(shaped[1][1], ShapedStr):  # only simple substitutions
        return drawn, pdfmetrics.stringWidth(drawn, font_name, size)
    return ShapedStr(drawn, shapeData=data), sum(d.x_advance for d in data) * size / 1000

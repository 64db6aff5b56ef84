"""Embed vendored TrueType faces the way ReportLab does, minus what no PDF reader uses (smaller files)."""

from __future__ import annotations

import struct

from reportlab.pdfbase.ttfonts import TTFont, TTFontFace

# Name records a subset keeps: copyright, family, style, full name, PostScript name. The rest (licence
# description and URLs, designers, version strings, the same names in other languages) is 1.2-1.9 KB
# copied into every subset of every PDF, and PDF readers take the font's name from /BaseFont.
KEPT_NAMES = (0, 1, 2, 4, 6)


class EmbeddedFont(TTFont):
    """A TrueType font registered with ReportLab, embedded as lean subsets of only the glyphs drawn."""

    def __init__(self, name: str, filename: str):
        # asciiReadable=False: by default ReportLab puts every ASCII glyph a face has into its first subset,
        # used or not (95 glyphs of a fallback face that draws three bullets; ~5 KB a PDF), and keeps codes
        # 32-127 of a CJK subset for them. Off, codes go to characters as they are first drawn (space stays 32).
        super().__init__(name, filename, asciiReadable=False)
        self.face.__class__ = _LeanFace  # same object and state; only what a subset copies changes


class _LeanFace(TTFontFace):
    _lean_name: bytes | None = None

    def get_table(self, tag: str) -> bytes:
        if tag != "name":
            return super().get_table(tag)
        if self._lean_name is None:
            self._lean_name = lean_name_table(super().get_table("name"))
        return self._lean_name


def lean_name_table(table: bytes) -> bytes:
    """A 'name' table (format 0) with only the KEPT_NAMES records, in English where there is a choice.

    Windows (3, 1, 0x409) records are kept if the font has them, else Macintosh Roman (1, 0, 0): one
    copy of each name, as a viewer or a font inspector expects to find it.
    """
    _, count, offset = struct.unpack(">HHH", table[:6])
    records = [struct.unpack(">HHHHHH", table[6 + 12 * i : 18 + 12 * i]) for i in range(count)]
    for platform in ((3, 1, 0x409), (1, 0, 0)):
        kept = [r for r in records if r[:3] == platform and r[3] in KEPT_NAMES]
        if kept:
            break
    else:
        return table
    strings = b""
    out = []
    for platform_id, encoding_id, lang_id, name_id, length, start in sorted(kept):
        text = table[offset + start : offset + start + length]
        out.append(struct.pack(">HHHHHH", platform_id, encoding_id, lang_id, name_id, len(text), len(strings)))
        strings += text
    return struct.pack(">HHH", 0, len(out), 6 + 12 * len(out)) + b"".join(out) + strings

"""Embed vendored TrueType faces the way ReportLab does, minus what no PDF reader uses (smaller files)."""

from __future__ import annotations

import struct
from typing import Any

from reportlab.pdfbase import pdfdoc
from reportlab.pdfbase.ttfonts import SUBSETN, TTFont, TTFontFace, makeToUnicodeCMap

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

    def addObjects(self, doc: Any) -> None:  # noqa: N802 - ReportLab's name
        """Write the font: as ReportLab does when one subset holds every character drawn, else merged.

        ReportLab draws with one-byte codes, so a face with more than 255 characters in a document (a
        Chinese or Korean handout) is split into subsets of 256 codes, and each became a separate
        TrueType font with its own copy of the font's tables and of every component glyph its
        characters share (Droid Sans Fallback builds characters from radicals). Here the subsets share
        one font program instead: each is a Type 0 font whose encoding CMap maps its one-byte codes to
        glyphs of that program (a CIDFontType2 with an identity CIDToGIDMap). Content streams, word
        spacing (code 32 stays a one-byte space) and each subset's ToUnicode are as before.
        """
        state = self.state.get(doc)
        if state is None or len(state.subsets) < 2:
            super().addObjects(doc)
            return
        state.frozen = 1
        codes = [code for subset in state.subsets for code in subset]
        gids = _glyph_ids(self.face.charToGlyph, codes)  # as makeSubset numbers them
        base = (SUBSETN(0) + b"+" + self.face.name + self.face.subfontNameX).decode("pdfdoc")
        descriptor = self.face.addSubsetObjects(doc, base, codes)
        widths: dict[int, float] = {}
        for code, gid in zip(codes, gids, strict=True):
            widths.setdefault(gid, self.face.getCharWidth(code))
        cid_font = pdfdoc.PDFDictionary(
            {
                "Type": pdfdoc.PDFName("Font"),
                "Subtype": pdfdoc.PDFName("CIDFontType2"),
                "BaseFont": pdfdoc.PDFName(base),
                "CIDSystemInfo": _IDENTITY,
                "FontDescriptor": descriptor,
                "DW": self.face.defaultWidth,
                "W": pdfdoc.PDFArray(_w_array(widths)),
                "CIDToGIDMap": pdfdoc.PDFName("Identity"),
            }
        )
        cid_ref = doc.Reference(cid_font, f"cidFont:{base}")
        fonts = doc.idToObject["BasicFonts"].dict
        start = 0
        for n, subset in enumerate(state.subsets):
            internal = self.getSubsetInternalName(n, doc)[1:]
            sub_gids = gids[start : start + len(subset)]
            start += len(subset)
            encoding = pdfdoc.PDFStream(
                pdfdoc.PDFDictionary(
                    {
                        "Type": pdfdoc.PDFName("CMap"),
                        "CMapName": pdfdoc.PDFName(f"Leafgen-{internal.replace('+', '-')}"),
                        "CIDSystemInfo": _IDENTITY,
                    }
                ),
                _encoding_cmap(f"Leafgen-{internal.replace('+', '-')}", sub_gids).encode("ascii"),
                [pdfdoc.PDFZCompress] if doc.compression else [],
            )
            to_unicode = pdfdoc.PDFStream(
                content=makeToUnicodeCMap(f"{base}-{n}", subset),
                filters=[pdfdoc.PDFZCompress] if doc.compression else [],
            )
            font = pdfdoc.PDFDictionary(
                {
                    "Type": pdfdoc.PDFName("Font"),
                    "Subtype": pdfdoc.PDFName("Type0"),
                    "BaseFont": pdfdoc.PDFName(base),
                    "Encoding": doc.Reference(encoding, f"encodingCMap:{internal}"),
                    "DescendantFonts": pdfdoc.PDFArray([cid_ref]),
                    "ToUnicode": doc.Reference(to_unicode, f"toUnicodeCMap:{internal}"),
                }
            )
            fonts[internal] = doc.Reference(font, internal)
        del self.state[doc]


_IDENTITY = pdfdoc.PDFDictionary(
    {"Registry": pdfdoc.PDFString("Adobe"), "Ordering": pdfdoc.PDFString("Identity"), "Supplement": 0}
)


def _glyph_ids(char_to_glyph: dict[int, int], codes: list[int]) -> list[int]:
    """The glyph id each code gets in ReportLab's makeSubset(codes): in order of first use, .notdef 0."""
    new: dict[int, int] = {0: 0}
    out = []
    for code in codes:
        old = char_to_glyph.get(code, 0)
        out.append(new.setdefault(old, len(new)))
    return out


def _w_array(widths: dict[int, float]) -> list[Any]:
    """A CIDFont's /W: [first [w w ...] first [w ...]] over runs of consecutive glyph ids."""
    out: list[Any] = []
    run: list[float] = []
    first = prev = -2
    for gid in sorted(widths):
        if gid != prev + 1 and run:
            out += [first, pdfdoc.PDFArray(run)]
            run = []
        if not run:
            first = gid
        run.append(round(widths[gid], 3))
        prev = gid
    if run:
        out += [first, pdfdoc.PDFArray(run)]
    return out


def _encoding_cmap(name: str, gids: list[int]) -> str:
    """A one-byte CMap (codes 00-FF) sending each code to its glyph, as ranges where glyph ids run on."""
    ranges: list[tuple[int, int, int]] = []
    for code, gid in enumerate(gids):
        if ranges and ranges[-1][1] == code - 1 and ranges[-1][2] + code - ranges[-1][0] == gid:
            ranges[-1] = (ranges[-1][0], code, ranges[-1][2])
        else:
            ranges.append((code, code, gid))
    blocks = []
    for i in range(0, len(ranges), 100):  # at most 100 entries a block (PostScript CMap syntax)
        chunk = ranges[i : i + 100]
        body = "\n".join(f"<{lo:02X}> <{hi:02X}> {gid}" for lo, hi, gid in chunk)
        blocks.append(f"{len(chunk)} begincidrange\n{body}\nendcidrange")
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> def\n"
        f"/CMapName /{name} def\n/CMapType 1 def\n"
        "1 begincodespacerange\n<00> <FF>\nendcodespacerange\n"
        + "\n".join(blocks)
        + "\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    )


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

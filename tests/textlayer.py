"""Read a PDF's text layer as a reader gets it, line by line, with pikepdf: /ActualText spans, else ToUnicode.

poppler 22.12 applies its own right-to-left reordering to text it extracts, so a correct logical-order
/ActualText on a right-to-left line comes back reversed from `pdftotext`; this reader takes the
content stream as written instead. It knows what leafgen's PDFs contain (ReportLab's single-byte
TrueType subsets, text drawn straight into the page), not PDF at large.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from functools import lru_cache

import pikepdf


@dataclass
class Line:
    """One drawn line: its text, whether that text came from /ActualText, its font sizes and fonts."""

    text: str = ""
    actual: bool = False  # the text is an ActualText span's (shaped or reordered glyphs)
    sizes: set[float] = field(default_factory=set)
    fonts: set[str] = field(default_factory=set)
    glyphs: list[tuple[str, int]] = field(default_factory=list)  # (font resource, code) in drawing order
    bare_text: str = ""  # the part of `text` decoded from glyphs outside any ActualText span (ToUnicode)
    drawn: list[tuple[float, str]] = field(default_factory=list)  # (x of its Tm, glyphs via ToUnicode) per show


def _cmap(font: pikepdf.Object) -> dict[int, str]:
    """A font's ToUnicode map (bfchar and bfrange entries), code -> text."""
    out: dict[int, str] = {}
    if "/ToUnicode" not in font:
        return out
    data = font.ToUnicode.read_bytes().decode("latin-1")

    def uni(hexs: str) -> str:
        return bytes.fromhex(hexs).decode("utf-16-be")

    for block in re.findall(r"beginbfchar(.*?)endbfchar", data, re.S):
        for code, dst in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            out[int(code, 16)] = uni(dst)
    for block in re.findall(r"beginbfrange(.*?)endbfrange", data, re.S):
        for lo, hi, dst in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            base = int(dst, 16)
            for i, code in enumerate(range(int(lo, 16), int(hi, 16) + 1)):
                out[code] = chr(base + i)
    return out


def _strings(op: pikepdf.ContentStreamInstruction) -> list[bytes]:
    name = str(op.operator)
    if name == "TJ":
        return [bytes(x) for x in op.operands[0] if isinstance(x, pikepdf.String)]
    if name in ("Tj", "'"):
        return [bytes(op.operands[0])]
    if name == '"':
        return [bytes(op.operands[2])]
    return []


@lru_cache(maxsize=64)
def mcid_texts(doc: pikepdf.Pdf) -> dict[tuple[int, int], str]:
    """(page index, MCID) -> its text as a reader gets it: /ActualText spans where there are any, else the
    glyphs' ToUnicode (U+FFFD for a glyph without one, so a missing mapping shows)."""
    out: dict[tuple[int, int], str] = {}
    for index, page in enumerate(doc.pages):
        cmaps = {str(k): _cmap(v) for k, v in page.Resources.get("/Font", {}).items()}
        font, current = "", None  # the open MCID's key
        marks: list[tuple[str | None, bool]] = []  # per open sequence: its ActualText, does it open an MCID
        for op in pikepdf.parse_content_stream(page):
            name = str(op.operator)
            if name in ("BDC", "BMC"):
                props = op.operands[1] if name == "BDC" else pikepdf.Dictionary()
                props = props if isinstance(props, pikepdf.Dictionary) else pikepdf.Dictionary()
                if "/MCID" in props:
                    current = (index, int(props.MCID))
                    out[current] = ""
                actual = props.get("/ActualText")
                marks.append((None if actual is None else str(actual), "/MCID" in props))
            elif name == "EMC":
                actual, opens = marks.pop()
                if actual is not None and current is not None:
                    out[current] += actual + " "
                if opens:
                    current = None
            elif name == "Tf":
                font = str(op.operands[0])
            elif current is not None and all(a is None for a, _ in marks):
                out[current] += "".join(cmaps.get(font, {}).get(b, "\ufffd") for s in _strings(op) for b in s)
    return out


def text_layer(pdf: bytes) -> tuple[tuple[Line, ...], ...]:
    """Per page, the drawn lines in content-stream order (story first, then running header and footer)."""
    pages = []
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        for page in doc.pages:
            fonts = page.Resources.get("/Font", {})
            cmaps = {str(k): _cmap(v) for k, v in fonts.items()}
            lines: list[Line] = []
            cur = Line()
            marks: list[str | None] = []  # open marked content: its ActualText, or None
            font, size, x, y = "", 0.0, 0.0, None

            def flush(lines: list[Line] = lines) -> None:
                nonlocal cur
                if cur.text.strip():
                    lines.append(cur)
                cur = Line()

            for op in pikepdf.parse_content_stream(page):
                name = str(op.operator)
                if name == "BT":
                    flush()
                    y = None
                elif name == "BDC":
                    props = op.operands[1]
                    actual = props.get("/ActualText") if isinstance(props, pikepdf.Dictionary) else None
                    marks.append(str(actual) if actual is not None else None)
                elif name == "BMC":
                    marks.append(None)
                elif name == "EMC":
                    actual = marks.pop() if marks else None
                    if actual is not None:
                        cur.text += actual
                        cur.actual = True
                elif name == "Tf":
                    font, size = str(op.operands[0]), float(op.operands[1])
                elif name == "Tm":
                    x, new_y = float(op.operands[4]), float(op.operands[5])
                    if y is not None and abs(new_y - y) > 0.01:
                        flush()
                    y = new_y
                elif name in ("Td", "TD"):
                    if float(op.operands[1]) != 0:
                        flush()
                    y = (y or 0.0) + float(op.operands[1])
                elif name in ("T*", "'", '"'):
                    flush()
                in_span = any(m is not None for m in marks)
                for s in _strings(op):
                    cur.sizes.add(size)
                    cur.fonts.add(font)
                    cur.glyphs.extend((font, b) for b in s)
                    decoded = "".join(cmaps.get(font, {}).get(b, "\ufffd") for b in s)
                    cur.drawn.append((x, decoded))
                    if not in_span:
                        cur.text += decoded
                        cur.bare_text += decoded
            flush()
            pages.append(tuple(lines))
    return tuple(pages)


def running_keys(pages: tuple[tuple[Line, ...], ...]) -> set[str]:
    """Lines on every page (header, footer, page number: digits ignored): not part of the story."""
    if len(pages) < 2:
        return set()
    keys = [{_key(line.text) for line in page} for page in pages]
    return set.intersection(*keys)


def _key(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.split()))


def story_lines(pdf: bytes) -> list[list[Line]]:
    """Per page, the lines of the story only (running lines removed), in drawing order."""
    pages = text_layer(pdf)
    running = running_keys(pages)
    return [[line for line in page if _key(line.text) not in running] for page in pages]

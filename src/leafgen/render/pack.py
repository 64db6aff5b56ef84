"""Repack ReportLab's PDF into object streams and a cross-reference stream (PDF 1.5), byte for byte reproducibly.

ReportLab writes every object uncompressed at the top level with a text cross-reference table. A tagged
leaflet has about 150 small dictionaries (structure elements, font dictionaries with their widths, pages,
outline) that then cost 12-18 KB uncompressed, plus 20 bytes each in the table. Compressed together in one
object stream, with a compressed cross-reference stream, they cost a fifth of that. Streams (page content,
font programs, ToUnicode maps, XMP) stay where they are, as the format requires.

This reads only what ReportLab itself writes (`N 0 obj ... endobj`, one `xref` table, `trailer`) and refuses
anything else rather than guess; it is a few slices and one zlib call, well under a millisecond.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from typing import NamedTuple

_XREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF\s*$")
_TABLE = re.compile(rb"xref\n0 (\d+)\n")
_ENTRY = re.compile(rb"(\d{10}) (\d{5}) ([nf]) ?\r?\n")
_TRAILER_REF = re.compile(rb"/(Root|Info) (\d+ 0 R)")
_ID = re.compile(rb"/ID\s*(\[\s*<[0-9a-fA-F]*>\s*<[0-9a-fA-F]*>\s*\])")
_VERSION = re.compile(rb"%PDF-1\.(\d)")


class PackError(ValueError):
    """The PDF is not laid out as ReportLab writes it: a bug here, never a patient's problem."""


class Late(NamedTuple):
    """Objects written straight into the object stream, numbered from `base` (the first number after
    ReportLab's), and the body of ReportLab's object `number` (a placeholder) that refers to them: the tagged
    structure tree, whose elements need no trip through ReportLab's object machinery."""

    number: int
    bodies: Callable[[int], tuple[bytes, list[bytes]]]  # base -> (body of `number`, bodies of base, base + 1, ...)


def pack(pdf: bytes, late: Late | None = None) -> bytes:
    """The same document with its non-stream objects in one object stream and a cross-reference stream."""
    start = _xref_offset(pdf)
    table = _TABLE.match(pdf, start)
    if not table:
        raise PackError("no cross-reference table where startxref points")
    size = int(table.group(1))
    pos = pdf.find(b"trailer", table.end())
    entries = _ENTRY.findall(pdf, table.end(), pos)
    if pos < 0 or len(entries) != size or entries[0][2] != b"f":
        raise PackError("cross-reference table unreadable")
    if any(kind != b"n" or generation != b"00000" for _, generation, kind in entries[1:]):
        raise PackError("an object is free or has a generation: not ReportLab's layout")
    offsets = [int(offset) for offset, _, _ in entries]
    trailer = pdf[pos:]
    refs = dict(_TRAILER_REF.findall(trailer))
    found_id = _ID.search(trailer)
    if b"Root" not in refs or b"/Encrypt" in trailer:
        raise PackError("trailer without /Root, or encrypted")

    header_end = offsets[1] if size > 1 else start
    header = pdf[:header_end]
    version = _VERSION.match(header)
    if not version:
        raise PackError("no %PDF header")
    if int(version.group(1)) < 5:  # object and cross-reference streams are PDF 1.5
        header = b"%PDF-1.5" + header[version.end() :]

    # Each object's bytes run from its offset to the next object's (ReportLab writes them in number order).
    ends = [*offsets[2:], start]
    out = [header]
    length = len(header)
    xref: list[tuple[int, int, int]] = [(0, 0, 65535)]
    packed: list[bytes] = []
    index: list[bytes] = []
    packed_length = 0
    replaced, extra = late.bodies(size) if late else (b"", [])
    if late and not 0 < late.number < size:
        raise PackError(f"object {late.number} to replace is not in the document")
    objstm = size + len(extra)  # the object stream's number; the cross-reference stream's is the next
    for number in range(1, size):
        begin, end = offsets[number], ends[number - 1]
        head = b"%d 0 obj\n" % number
        if not pdf.startswith(head, begin):
            raise PackError(f"object {number} is not where the cross-reference table says")
        body = pdf[begin + len(head) : end]
        if not body.endswith(b"endobj\n"):
            raise PackError(f"object {number} does not end with endobj")
        body = body[: -len(b"endobj\n")].rstrip(b"\r\n")
        if late and number == late.number:
            body = replaced
        if body.endswith(b"endstream"):  # a stream stays a top-level object, unchanged
            xref.append((1, length, 0))
            chunk = pdf[begin:end]
            out.append(chunk)
            length += len(chunk)
        else:
            xref.append((2, objstm, len(packed)))
            index.append(b"%d %d" % (number, packed_length))
            packed.append(body)
            packed_length += len(body) + 1
    for number, body in enumerate(extra, start=size):
        xref.append((2, objstm, len(packed)))
        index.append(b"%d %d" % (number, packed_length))
        packed.append(body)
        packed_length += len(body) + 1

    head_line = b" ".join(index) + b"\n"
    data = zlib.compress(head_line + b"\n".join(packed) + b"\n")
    xref.append((1, length, 0))
    chunk = (
        (
            b"%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\nstream\n"
            % (objstm, len(packed), len(head_line), len(data))
        )
        + data
        + b"\nendstream\nendobj\n"
    )
    out.append(chunk)
    length += len(chunk)

    xref.append((1, length, 0))  # the cross-reference stream itself
    w2 = max(1, (max(f2 for _, f2, _ in xref).bit_length() + 7) // 8)
    w3 = max(1, (max(f3 for _, _, f3 in xref).bit_length() + 7) // 8)
    rows = b"".join(t.to_bytes(1, "big") + f2.to_bytes(w2, "big") + f3.to_bytes(w3, "big") for t, f2, f3 in xref)
    rows_z = zlib.compress(rows)
    trailer_keys = b" /Info " + refs[b"Info"] if b"Info" in refs else b""
    if found_id:
        trailer_keys += b" /ID " + found_id.group(1)
    out.append(
        b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 %d %d] /Root %s%s /Filter /FlateDecode /Length %d >>\nstream\n"
        % (objstm + 1, objstm + 2, w2, w3, refs[b"Root"], trailer_keys, len(rows_z))
    )
    out.append(rows_z + b"\nendstream\nendobj\n")
    out.append(b"startxref\n%d\n%%%%EOF\n" % length)
    return b"".join(out)


def _xref_offset(pdf: bytes) -> int:
    m = _XREF.search(pdf, max(0, len(pdf) - 64))
    if not m:
        raise PackError("no startxref at the end")
    return int(m.group(1))

"""Give drawn glyphs their real text: /ActualText marked content around a shaped or reordered run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def actual_text_open(text: str) -> str:
    """The operator that opens a /Span whose /ActualText is `text` (UTF-16BE with BOM, as a hex string).

    Shaped glyphs (Devanagari conjuncts, Arabic presentation forms in visual order) have no
    faithful Unicode of their own; a reader, a search or copy-and-paste takes this text instead.
    A hex string needs no escaping, so any text is safe here.
    """
    return f"/Span <</ActualText <FEFF{text.encode('utf-16-be').hex().upper()}>>> BDC"


ACTUAL_TEXT_CLOSE = "EMC"


@contextmanager
def actual_text(code: list[str] | Any, text: str) -> Iterator[None]:
    """Wrap what is drawn inside the block in one ActualText span.

    `code` is the operator list being written: a ReportLab text object's or canvas's `_code`.
    The span is written into the same stream as the glyphs, so it nests inside whatever marked
    content (e.g. a tagged PDF's `/P <</MCID n>> BDC … EMC`) surrounds the drawing.
    """
    ops = code if isinstance(code, list) else code._code
    ops.append(actual_text_open(text))
    try:
        yield
    finally:
        ops.append(ACTUAL_TEXT_CLOSE)

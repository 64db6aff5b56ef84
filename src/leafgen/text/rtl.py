"""Right-to-left text: join Arabic letters into the forms drawn, and put a broken line into visual order."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _reshaper():  # arabic_reshaper.ArabicReshaper, imported only for Arabic (it pulls in fontTools)
    import arabic_reshaper

    # The reshaper deletes vowel marks (harakat) by default; a shadda can change a word's meaning.
    return arabic_reshaper.ArabicReshaper(configuration={"delete_harakat": False})


@lru_cache(maxsize=8192)
def shape_rtl(text: str) -> str:
    """Join Arabic letters into the presentation forms actually drawn (logical order kept); memoised."""
    return _reshaper().reshape(text)


@lru_cache(maxsize=8192)
def visual_order(line: str) -> str:
    """One already-broken line in visual (drawing) order, left to right, in a right-to-left paragraph.

    Reordering after breaking keeps wrapped lines top to bottom; left-to-right runs inside
    ("B12", URLs, numbers, English titles) keep their own order.
    """
    # Imported here, not at the top: 20+ ms that a Latin-only process never needs (CLI start-up, workers).
    # The pure-Python algorithm applies rule L4 (mirrored brackets); the Rust get_display in `bidi` does not.
    from bidi.algorithm import get_display

    return get_display(line, base_dir="R") if line else ""

"""Say which characters patient-facing text may not hold: controls, invisible reordering marks, non-characters."""

from __future__ import annotations

import re
import unicodedata

# Refused everywhere text reaches a page (leaflets, the disclaimer, clinic profile, catalogs):
# - C0/C1 controls other than tab, newline and carriage return (Windows line ends): NUL, BEL, vertical tab...
#   are invisible, and they break the layout XML;
# - bidi embeddings, overrides and isolates (U+202A-202E, U+2066-2069), the deprecated format controls
#   (U+206A-206F), invisible operators (U+2061-2064), interlinear annotations (U+FFF9-FFFB), a BOM inside text
#   and tag characters (U+E0000-E007F): they reorder or hide text, so what prints is not what a reviewer read
#   ("Trojan Source");
# - surrogates, private-use characters and non-characters (U+FFFE, U+FFFF, U+FDD0-FDEF...): no font means them.
# Allowed on purpose: soft hyphen, zero-width space/joiner/non-joiner (Persian and Indic spelling need ZWNJ/ZWJ),
# the left-to-right, right-to-left and Arabic letter marks (plain marks a translator uses; they do not override).
_NONCHARACTERS = "".join(f"{chr(p + 0xFFFE)}{chr(p + 0xFFFF)}" for p in range(0, 0x110000, 0x10000))
FORBIDDEN_RE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
    "\u180e\u2061-\u2064\u202a-\u202e\u2066-\u2069\u206a-\u206f"
    "\ufeff\ufff9-\ufffb\ufdd0-\ufdef"
    "\ud800-\udfff\ue000-\uf8ff\U000f0000-\U0010ffff\U000e0000-\U000e007f"
    f"{_NONCHARACTERS}]"
)


def describe(ch: str) -> str:
    """'U+202E RIGHT-TO-LEFT OVERRIDE': the code point and its name, since the character itself is invisible."""
    name = unicodedata.name(ch, "")
    if not name:
        cat = unicodedata.category(ch)
        name = {"Cc": "control character", "Cs": "surrogate", "Co": "private-use character"}.get(cat, "non-character")
    return f"U+{ord(ch):04X} {name}"


def why(ch: str) -> str:
    """A short reason a clinic editor or translator can act on."""
    cat = unicodedata.category(ch)
    if cat == "Cf":
        return "an invisible formatting character that can reorder or hide text"
    if cat == "Cc":
        return "an invisible control character"
    return "not a printable character"


def first_forbidden(text: str) -> int:
    """Index of the first refused character in text, or -1."""
    m = FORBIDDEN_RE.search(text)
    return m.start() if m else -1


def position(text: str, index: int) -> tuple[int, int]:
    """(line, column), both from 1, of an index into a file's text."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def message(ch: str, where: str = "") -> str:
    """The one-line complaint about a refused character."""
    place = f" {where}" if where else ""
    return f"character {describe(ch)}{place} is not allowed: {why(ch)}; delete it"

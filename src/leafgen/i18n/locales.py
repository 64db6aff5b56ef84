"""Name languages and format dates and tags the way each locale expects."""

from __future__ import annotations

import datetime
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.dates import format_date as _format_date

from leafgen.errors import CatalogError

NBSP = "\u00a0"
WORD_JOINER = "\u2060"  # Unicode's "no line break here" for text without spaces (Chinese dates)

# Long date patterns (CLDR syntax) where the one Babel ships is not what a patient reads naturally.
DATE_PATTERNS: dict[str, str] = {
    "vi": "d 'tháng' M 'năm' y",  # CLDR: "23 tháng 11, 2026"
}

# Month names and a pattern for languages CLDR lacks or only stubs (Babel prints Haitian Creole
# dates as "2026 M11 23"). Kreyòl months as the Haitian Ministry of Education spells them.
MONTHS: dict[str, tuple[tuple[str, ...], str]] = {
    "ht": (
        ("janvye", "fevriye", "mas", "avril", "me", "jen", "jiyè", "out", "septanm", "oktòb", "novanm", "desanm"),
        "{day} {month} {year}",
    ),
}

# The source language's long date exactly as Babel formats it for "en" (CLDR "MMMM d, y"), written out so an
# English build does not load Babel's locale data: ~10 ms, the largest start-up cost of a one-PDF build.
# tests/test_performance.py holds it to Babel's output. Only "en" itself: en_GB and the rest go to Babel.
ENGLISH_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


# A gettext locale: language, then optional script/territory/variant parts; never a path or a space.
LOCALE_RE = re.compile(r"^[a-z]{2,3}(?:_[A-Za-z0-9]{2,8})*(?:@[a-z]+)?$")


@lru_cache(maxsize=256)
def is_locale(name: str) -> bool:
    """A locale code Babel knows (es, pt_BR, zh_Hant): what a catalog folder must be called."""
    if not LOCALE_RE.match(name):
        return False
    try:
        Locale.parse(name)
    except (UnknownLocaleError, ValueError):
        return False
    return True


def check_locale(name: str, folder: Path) -> None:
    """A catalog folder named otherwise (translations/Spanish) is the translator's mistake, said in one line; Babel
    would fail on it deep inside dates and language names."""
    if not is_locale(name):
        raise CatalogError(
            "not a locale code: a catalog folder is named after its locale (e.g. es, pt_BR, zh_Hant), "
            "as in translations/es/LC_MESSAGES/messages.po",
            folder,
        )


# Names CLDR gives differently from what a patient asks for (Babel maps tl to Filipino, fil_PH).
NAMES: dict[str, str] = {"tl": "Tagalog"}


def language_name(lang: str) -> str:
    """The language's own name for itself, as a patient would recognise it."""
    if lang in NAMES:
        return NAMES[lang]
    loc = Locale.parse(lang)
    return loc.get_display_name(loc) or lang


def _primary(lang: str) -> str:
    return re.split(r"[_\-@.]", lang, maxsplit=1)[0].lower()


def format_date(value: Any, lang: str) -> str:
    """A long date in the locale's words that never splits across lines.

    Spaces become no-break spaces ("23 de noviembre de 2027" stays on one line); a date written
    without spaces (Chinese "2026年11月23日") gets word joiners between its characters, which
    leafgen's CJK line breaking honours and never draws.
    """
    if isinstance(value, datetime.datetime):
        value = value.date()
    key = lang if lang in MONTHS or lang in DATE_PATTERNS else _primary(lang)
    if lang == "en":
        text = f"{ENGLISH_MONTHS[value.month - 1]} {value.day}, {value.year}"
    elif key in MONTHS:
        months, pattern = MONTHS[key]
        text = pattern.format(day=value.day, month=months[value.month - 1], year=value.year)
    else:
        text = _format_date(value, format=DATE_PATTERNS.get(key, "long"), locale=lang)
    return nonbreaking(text)


def nonbreaking(text: str) -> str:
    """`text` glued into one unbreakable piece: no-break spaces, or word joiners where it has no spaces."""
    if any(ch.isspace() for ch in text):
        return re.sub(r"[^\S\u00a0\u202f]", NBSP, text)
    return WORD_JOINER.join(text)


def bcp47(lang: str) -> str:
    """PDF /Lang and Content-Language want BCP 47 (zh-Hans), gettext dirs use zh_Hans."""
    return lang.replace("_", "-")

"""Name languages and format dates and tags the way each locale expects."""

from __future__ import annotations

from typing import Any

from babel import Locale
from babel.dates import format_date as _format_date


def language_name(lang: str) -> str:
    """The language's own name for itself, as a patient would recognise it."""
    loc = Locale.parse(lang)
    return loc.get_display_name(loc) or lang


def format_date(value: Any, lang: str) -> str:
    return _format_date(value, format="long", locale=lang)


def bcp47(lang: str) -> str:
    """PDF /Lang and Content-Language want BCP 47 (zh-Hans), gettext dirs use zh_Hans."""
    return lang.replace("_", "-")

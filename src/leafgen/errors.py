"""Say what the user got wrong, naming the file and line, in one line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class LeafgenError(Exception):
    """A mistake in the user's input: printed as one line, never as a traceback."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line

    def __str__(self) -> str:
        where = self.path or ""
        if where and self.line:
            where += f":{self.line}"
        return f"{where}: {self.message}" if where else self.message


class SourceError(LeafgenError):
    """A leaflet source, clinic profile or theme file is malformed."""


class TemplateError(LeafgenError):
    """A Jinja template failed to compile or render, or emitted unknown layout."""


class TranslationError(LeafgenError):
    """A leaflet is not fully and correctly translated into a language: the gate refuses it."""


class CatalogError(LeafgenError):
    """A catalog file is malformed or missing."""


class FontError(LeafgenError):
    """A language needs glyphs or a font file that leafgen does not have."""


class MailError(LeafgenError):
    """A recipient, address, header or mail server setting is unusable."""


class ErrorList(LeafgenError):  # noqa: N818 - a list of errors, raised as one
    """Several independent mistakes found in one pass, so the user fixes them all at once."""

    def __init__(self, errors: Sequence[LeafgenError]):
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = list(errors)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)

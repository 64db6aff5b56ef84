"""Words the command prints in more than one place (kept apart so commands.py need not import the package root)."""

from __future__ import annotations


def internal_error_hint(debug: bool) -> str:
    """What to do about a bug in leafgen: report it, or first see its traceback."""
    if debug:
        return "leafgen: this is a bug in leafgen; please report it with the traceback above"
    return "leafgen: this is a bug in leafgen; run with --debug (or LEAFGEN_DEBUG=1) to see the traceback"

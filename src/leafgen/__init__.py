"""leafgen: translated, print-ready patient leaflets as PDF."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "render"]


def render(*args: Any, **kwargs: Any) -> bytes:
    """The PDF bytes of one leaflet (see leafgen.pipeline.render); imported lazily to keep `--help` fast."""
    from leafgen.render.pipeline import render as _render

    return _render(*args, **kwargs)

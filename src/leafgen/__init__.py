"""leafgen: translated, print-ready patient leaflets as PDF. Callers start at leafgen.api."""

__version__ = "0.1.0"

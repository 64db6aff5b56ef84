"""Score how easy a leaflet's patient-facing prose is to read."""

from __future__ import annotations

from leafgen.content.model import Leaflet, units

GRADE_CEILING = 8.0  # NIH: patient material at or below 8th-grade reading level


def reading_level(leaflet: Leaflet) -> tuple[float, float]:
    """Flesch-Kincaid grade and reading ease of the patient-facing prose."""
    # Imported here, not at the top: textstat loads the CMU pronouncing dictionary (~45 ms), and every
    # `leafgen` command imports this module while only `check` scores reading level; a one-PDF build
    # paid for it on every run.
    import textstat

    text = " ".join(u.text.rstrip(".") + "." for u in units(leaflet))
    return textstat.flesch_kincaid_grade(text), textstat.flesch_reading_ease(text)

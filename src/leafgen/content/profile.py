"""Read a project's clinic profile and theme: the settings every leaflet of the project shares."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from leafgen.content.sources import LDict, load_yaml
from leafgen.errors import ErrorList, LeafgenError, SourceError
from leafgen.project import PAPERS, Project, record

# Neutral defaults: a clinic that has not written clinic.yaml still gets a sensible header.
CLINIC_DEFAULTS: dict[str, str] = {
    "name": "Your clinic",
    "phone": "",
    "email": "",
    "website": "",
    "address": "",
    "default_paper": "a4",
}


MAX_CLINIC_CHARS = 200  # printed in the running header of every page


def _version(path: Path) -> tuple[int, int]:
    """A file's (mtime, size), so a cached parse is dropped when the file changes (a long-running desk)."""
    try:
        st = path.stat()
    except OSError:
        return (0, -1)
    return (st.st_mtime_ns, st.st_size)


def clinic(project: Project) -> dict[str, str]:
    """The clinic profile with defaults filled in; a missing clinic.yaml means all defaults."""
    record(project.clinic_path)  # the parse is cached: record the use
    return _clinic(project.clinic_path, _version(project.clinic_path))


@lru_cache(maxsize=8)
def _clinic(path: Path, _version: tuple[int, int]) -> dict[str, str]:
    if path.exists() and not path.is_file():
        raise SourceError("is a folder, not a file", path)
    data = load_yaml(path) if path.is_file() else LDict()
    if data is None:  # an empty file: all defaults
        data = LDict()
    if not isinstance(data, LDict):
        raise SourceError("clinic profile must be a mapping of keys to values", path, getattr(data, "line", 1))
    errors: list[LeafgenError] = []
    values = dict(CLINIC_DEFAULTS)
    for key, value in data.items():
        line = data.key_lines[key]
        if key not in CLINIC_DEFAULTS:
            errors.append(SourceError(f"unknown key {key!r} (allowed: {', '.join(CLINIC_DEFAULTS)})", path, line))
        elif isinstance(value, (dict, list)):
            kind = "list" if isinstance(value, list) else "mapping"
            errors.append(SourceError(f"{key} must be one line of text, not a {kind}; put it in quotes", path, line))
        elif value is not None:
            # As written: YAML reads `phone: 0123 4567` as text but `phone: 01234567` as the octal number 342391.
            text = data.raw.get(key, str(value))
            if "\n" in text.strip() or len(text) > MAX_CLINIC_CHARS:
                errors.append(
                    SourceError(f"{key} must be one line of at most {MAX_CLINIC_CHARS} characters", path, line)
                )
            values[key] = text.strip()
    if values["default_paper"] not in PAPERS:
        paper_line = data.key_lines.get("default_paper")
        errors.append(SourceError(f"default_paper must be one of {', '.join(PAPERS)}", path, paper_line))
    if errors:
        raise ErrorList(errors)
    return values


def theme(project: Project) -> dict[str, Any]:
    """Sizes, margins and colours for standard and large print."""
    record(project.theme_path)
    return _theme(project.theme_path, _version(project.theme_path))


# Each theme number and its sane range: outside it a page cannot be laid out (`body_size: 5000` never
# finishes, a negative size or margin draws off the page), so it is refused with its line instead.
THEME_RANGES: dict[str, tuple[float, float]] = {
    "body_size": (8, 36),
    "leading": (1.0, 3.0),
    "title_size": (8, 72),
    "h1_size": (8, 48),
    "h2_size": (8, 48),
    "small_size": (6, 36),
    "measure": (30, 120),
    "margin_mm": (5, 40),
    "box_padding": (0, 30),
    "tick_size": (8, 40),
}
LARGE_PRINT_MIN = 16  # UKAAF: nothing in large print under 16 pt, notes and safety warnings included
THEME_COLOURS = ("text", "muted", "accent", "rule", "summary_fill", "urgent_fill", "disclaimer_fill", "banner_fill")
THEME_OPTIONAL_COLOURS = ("urgent_edge", "disclaimer_edge", "banner_edge", "note_fill", "note_edge")
COLOUR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


@lru_cache(maxsize=8)
def _theme(path: Path, _version: tuple[int, int]) -> dict[str, Any]:
    data = load_yaml(path)
    if not isinstance(data, LDict) or not {"standard", "large"} <= data.keys():
        raise SourceError("theme must define 'standard' and 'large' print settings", path, getattr(data, "line", 1))
    errors: list[LeafgenError] = [
        SourceError(f"unknown key {key!r} (allowed: standard, large, colours)", path, data.key_lines[key])
        for key in data
        if key not in ("standard", "large", "colours")
    ]
    for variant in ("standard", "large"):
        errors += _theme_sizes(path, data, variant)
    errors += _theme_colours(path, data)
    if errors:
        raise ErrorList(errors)
    return data


def _theme_sizes(path: Path, data: LDict, variant: str) -> list[LeafgenError]:
    m = data[variant]
    if not isinstance(m, LDict):
        return [SourceError(f"{variant}: must be a mapping of sizes", path, data.key_lines[variant])]
    errors: list[LeafgenError] = [
        SourceError(f"{variant}: unknown key {k!r} (allowed: {', '.join(THEME_RANGES)})", path, m.key_lines[k])
        for k in m
        if k not in THEME_RANGES
    ]
    for key, (low, high) in THEME_RANGES.items():
        line = m.key_lines.get(key, m.line)
        value = m.get(key)
        if key not in m:
            errors.append(SourceError(f"{variant}: missing {key!r}", path, line))
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            errors.append(SourceError(f"{variant}: {key} must be a number, not {m.raw.get(key, value)!r}", path, line))
        elif not low <= value <= high:
            errors.append(SourceError(f"{variant}: {key} {value:g} is out of range ({low:g} to {high:g})", path, line))
        elif variant == "large" and key.endswith("_size") and key != "tick_size" and value < LARGE_PRINT_MIN:
            errors.append(
                SourceError(
                    f"large: {key} {value:g} is under {LARGE_PRINT_MIN} pt, the large-print minimum", path, line
                )
            )
    return errors


def _theme_colours(path: Path, data: LDict) -> list[LeafgenError]:
    m = data.get("colours")
    if not isinstance(m, LDict):
        return [SourceError("colours: must be a mapping of names to #rrggbb", path, data.key_lines.get("colours", 1))]
    errors: list[LeafgenError] = []
    for key in m:
        if key not in THEME_COLOURS + THEME_OPTIONAL_COLOURS:
            allowed = ", ".join(THEME_COLOURS + THEME_OPTIONAL_COLOURS)
            errors.append(SourceError(f"colours: unknown key {key!r} (allowed: {allowed})", path, m.key_lines[key]))
        elif not (isinstance(m[key], str) and COLOUR_RE.match(m[key])):
            errors.append(
                SourceError(
                    f'colours: {key} must be a colour written "#rrggbb" in quotes, not {m.raw.get(key, m[key])!r}',
                    path,
                    m.key_lines[key],
                )
            )
    errors += [SourceError(f"colours: missing {k!r}", path, m.line) for k in THEME_COLOURS if k not in m]
    return errors

"""Read a project's clinic profile and theme: the settings every leaflet of the project shares."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from leafgen.content.sources import LDict, load_yaml
from leafgen.errors import SourceError
from leafgen.project import PAPERS, Project

# Neutral defaults: a clinic that has not written clinic.yaml still gets a sensible header.
CLINIC_DEFAULTS: dict[str, str] = {
    "name": "Your clinic",
    "phone": "",
    "email": "",
    "website": "",
    "address": "",
    "default_paper": "a4",
}


def _version(path: Path) -> tuple[int, int]:
    """A file's (mtime, size), so a cached parse is dropped when the file changes (a long-running desk)."""
    try:
        st = path.stat()
    except OSError:
        return (0, -1)
    return (st.st_mtime_ns, st.st_size)


def clinic(project: Project) -> dict[str, str]:
    """The clinic profile with defaults filled in; a missing clinic.yaml means all defaults."""
    return _clinic(project.clinic_path, _version(project.clinic_path))


@lru_cache(maxsize=8)
def _clinic(path: Path, _version: tuple[int, int]) -> dict[str, str]:
    data = load_yaml(path) if path.is_file() else LDict()
    if not isinstance(data, dict):
        raise SourceError("clinic profile must be a mapping", path, 1)
    for key in data:
        if key not in CLINIC_DEFAULTS:
            raise SourceError(f"unknown key {key!r} (allowed: {', '.join(CLINIC_DEFAULTS)})", path, data.key_lines[key])
    values = {**CLINIC_DEFAULTS, **{k: str(v) for k, v in data.items() if v is not None}}
    if values["default_paper"] not in PAPERS:
        raise SourceError(f"default_paper must be one of {', '.join(PAPERS)}", path)
    return values


def theme(project: Project) -> dict[str, Any]:
    """Sizes, margins and colours for standard and large print."""
    return _theme(project.theme_path, _version(project.theme_path))


@lru_cache(maxsize=8)
def _theme(path: Path, _version: tuple[int, int]) -> dict[str, Any]:
    data = load_yaml(path)
    if not isinstance(data, dict) or not {"standard", "large"} <= data.keys():
        raise SourceError("theme must define 'standard' and 'large' print settings", path, 1)
    return data

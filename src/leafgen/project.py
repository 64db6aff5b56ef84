"""Locate a leafgen project's folders and read its clinic profile and theme."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from leafgen.errors import SourceError
from leafgen.sources import LDict, load_yaml

SOURCE_LANG = "en"
PAPERS = ("a4", "letter")
KINDS = ("handout", "checklist")

# Neutral defaults: a clinic that has not written clinic.yaml still gets a sensible header.
CLINIC_DEFAULTS: dict[str, str] = {
    "name": "Your clinic",
    "phone": "",
    "email": "",
    "website": "",
    "address": "",
    "default_paper": "a4",
}


@dataclass(frozen=True)
class Project:
    """A folder with leaflets/, templates/, translations/ and clinic.yaml."""

    root: Path

    @property
    def leaflets_dir(self) -> Path:
        return self.root / "leaflets"

    @property
    def templates_dir(self) -> Path:
        return self.root / "templates"

    @property
    def translations_dir(self) -> Path:
        return self.root / "translations"

    @property
    def disclaimer_path(self) -> Path:
        return self.leaflets_dir / "_disclaimer.yaml"

    @property
    def clinic_path(self) -> Path:
        return self.root / "clinic.yaml"

    @property
    def theme_path(self) -> Path:
        return self.templates_dir / "theme.yaml"

    def leaflet_paths(self) -> list[Path]:
        """Leaflet sources, sorted; files starting with '_' are shared parts, not leaflets."""
        return sorted(p for p in self.leaflets_dir.glob("*.yaml") if not p.name.startswith("_"))

    def leaflet_path(self, leaflet_id: str) -> Path:
        path = self.leaflets_dir / f"{leaflet_id}.yaml"
        if leaflet_id.startswith("_") or not path.is_file():
            known = ", ".join(p.stem for p in self.leaflet_paths()) or "none"
            raise SourceError(f"unknown leaflet {leaflet_id!r} (known: {known})", self.leaflets_dir)
        return path

    def languages(self) -> list[str]:
        """The source language first, then every locale that has a catalog."""
        found = sorted(p.parent.parent.name for p in self.translations_dir.glob("*/LC_MESSAGES/messages.po"))
        return [SOURCE_LANG] + [lang for lang in found if lang != SOURCE_LANG]

    @cached_property
    def clinic(self) -> dict[str, str]:
        data = load_yaml(self.clinic_path) if self.clinic_path.is_file() else LDict()
        if not isinstance(data, dict):
            raise SourceError("clinic profile must be a mapping", self.clinic_path, 1)
        for key in data:
            if key not in CLINIC_DEFAULTS:
                raise SourceError(
                    f"unknown key {key!r} (allowed: {', '.join(CLINIC_DEFAULTS)})",
                    self.clinic_path,
                    data.key_lines[key],
                )
        clinic = {**CLINIC_DEFAULTS, **{k: str(v) for k, v in data.items() if v is not None}}
        if clinic["default_paper"] not in PAPERS:
            raise SourceError(f"default_paper must be one of {', '.join(PAPERS)}", self.clinic_path)
        return clinic

    @cached_property
    def theme(self) -> dict[str, Any]:
        data = load_yaml(self.theme_path)
        if not isinstance(data, dict) or not {"standard", "large"} <= data.keys():
            raise SourceError("theme must define 'standard' and 'large' print settings", self.theme_path, 1)
        return data


def find_project(root: str | Path | None) -> Project:
    """The given folder, else the current one, else the content shipped beside the package."""
    if root is not None:
        project = Project(Path(root).resolve())
        if not project.leaflets_dir.is_dir():
            raise SourceError("not a leafgen project: no leaflets/ folder", project.root)
        return project
    for candidate in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (candidate / "leaflets").is_dir() and (candidate / "templates").is_dir():
            return Project(candidate)
    raise SourceError(
        "no leafgen project here: pass --project DIR (a folder with leaflets/ and templates/)", Path.cwd()
    )

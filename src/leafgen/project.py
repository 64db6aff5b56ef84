"""Locate a leafgen project's folders and write files into them atomically."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from leafgen.errors import SourceError

SOURCE_LANG = "en"
PAPERS = ("a4", "letter")
KINDS = ("handout", "checklist")
# Leaflet, section and item ids. A leaflet id becomes a file name, so nothing else may reach the file system.
ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_ID_CHARS = 100


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
        return sorted(p for p in self.leaflets_dir.glob("*.yaml") if not p.name.startswith("_") and p.is_file())

    def leaflet_path(self, leaflet_id: str) -> Path:
        """The source of one leaflet; the id is checked before any file is opened (`../../x` names none)."""
        if not isinstance(leaflet_id, str) or len(leaflet_id) > MAX_ID_CHARS or not ID_RE.match(leaflet_id):
            shown = leaflet_id if not isinstance(leaflet_id, str) else leaflet_id[:MAX_ID_CHARS]
            raise SourceError(
                f"leaflet id {shown!r} is not a leaflet id (lowercase letters, digits and hyphens)", self.leaflets_dir
            )
        path = self.leaflets_dir / f"{leaflet_id}.yaml"
        if not path.is_file():
            known = ", ".join(p.stem for p in self.leaflet_paths()) or "none"
            raise SourceError(f"unknown leaflet {leaflet_id!r} (known: {known})", self.leaflets_dir)
        return path

    def languages(self) -> list[str]:
        """The source language first, then every locale that has a catalog."""
        found = sorted(p.parent.parent.name for p in self.translations_dir.glob("*/LC_MESSAGES/messages.po"))
        return [SOURCE_LANG] + [lang for lang in found if lang != SOURCE_LANG]


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


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temp file beside the target, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

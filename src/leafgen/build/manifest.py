"""The manifest: one entry per PDF on disk, written atomically; shard manifests merged."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from leafgen import __version__
from leafgen.errors import ErrorList, LeafgenError
from leafgen.project import write_atomic

MANIFEST = "manifest.json"


def manifest_file(path: Path) -> Path:
    """A manifest named directly (*.json), or the one inside an out folder."""
    return path if path.suffix == ".json" else path / MANIFEST


def read_manifest(out_dir: Path) -> dict[str, dict]:
    try:
        entries = json.loads(manifest_file(out_dir).read_text(encoding="utf-8"))["pdfs"]
        return {e["path"]: e for e in entries}
    except (FileNotFoundError, KeyError, TypeError, ValueError):
        return {}


def write_manifest(out_dir: Path, entries: dict[str, dict]) -> None:
    body = {"generator": f"leafgen {__version__}", "pdfs": [entries[k] for k in sorted(entries)]}
    write_atomic(manifest_file(out_dir), (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode())


def merge_manifests(sources: Iterable[Path]) -> dict[str, dict]:
    """Join shard manifests; the same path twice is fine only if it is the same PDF (same sha256)."""
    merged: dict[str, dict] = {}
    origin: dict[str, Path] = {}
    conflicts: list[LeafgenError] = []
    for source in sources:
        path = manifest_file(source)
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))["pdfs"]
            if not all(isinstance(e, dict) and {"path", "sha256"} <= e.keys() for e in entries):
                raise TypeError
        except FileNotFoundError:
            raise LeafgenError("no manifest here", path) from None
        except (KeyError, TypeError, ValueError):
            raise LeafgenError(
                "not a leafgen manifest (needs a 'pdfs' list of entries with path and sha256)", path
            ) from None
        for entry in entries:
            old = merged.get(entry["path"])
            if old is None:
                merged[entry["path"]], origin[entry["path"]] = entry, path
            elif old["sha256"] != entry["sha256"]:
                conflicts.append(
                    LeafgenError(
                        f"conflicting entries for {entry['path']}: sha256 {entry['sha256'][:12]} here, "
                        f"{old['sha256'][:12]} in {origin[entry['path']]}",
                        path,
                    )
                )
    if conflicts:
        raise ErrorList(conflicts)
    return merged

"""Decide whether a PDF is up to date: leafgen's own code, and the inputs its last render recorded reading."""

from __future__ import annotations

import hashlib
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import leafgen
from leafgen.errors import CatalogError
from leafgen.i18n.catalogs import read_catalog
from leafgen.project import Project, Reads, digest, file_sha, write_atomic

# Per PDF, what its render read (files by content, catalog entries by value), deduplicated: the manifest
# entry's "fingerprint" names a dependency record here. Deleting the file only costs a full rebuild.
CACHE = ".leafgen-cache.json"
CACHE_FORMAT = 2
PACKAGE = Path(leafgen.__file__).resolve().parent
# Tracked per use instead (a font edit rebuilds only the languages that use it; the shipped project is a project).
_NOT_CODE = {PACKAGE / "text" / "fonts", PACKAGE / "shipped"}
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # a requirement's distribution name, before its version
_MISSING = digest(repr(None))  # what Translator records for a msgid the catalog does not have


@lru_cache(maxsize=1)
def code_digest() -> str:
    """leafgen's own files and the versions of the libraries that shape a PDF, hashed once per process.

    An upgrade in place, or an edit in an editable install, changes it, and every PDF is rebuilt: the versions
    are those of every runtime dependency, since any of them can change a PDF (a new uharfbuzz shapes Devanagari
    differently, python-bidi orders a line, rl-accel formats numbers).
    """
    h = hashlib.sha256()
    for top, dirs, files in os.walk(PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and Path(top, d) not in _NOT_CODE)
        for name in sorted(files):
            if not name.endswith((".pyc", ".pyo")):
                path = Path(top, name)
                h.update(f"{path.relative_to(PACKAGE).as_posix()}\0".encode())
                h.update(path.read_bytes())
    h.update(dependency_versions().encode())
    return h.hexdigest()[:32]


def dependency_versions() -> str:
    """'name version' of each of leafgen's runtime dependencies, as installed (extras are not PDF inputs)."""
    # Imported here, not at the top: importlib.metadata costs ~40 ms, which only a build (once) should pay.
    from importlib import metadata

    try:
        requires = metadata.requires("leafgen") or []
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "leafgen not installed"
    names = sorted({m.group().lower() for r in requires if "extra ==" not in r and (m := _NAME_RE.match(r))})
    versions = []
    for name in names:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} missing")
    return "\n".join(versions)


class Corrupted(Exception):  # noqa: N818 - a state, caught within this module
    """A cache entry that does not hold what its key says."""


class BuildCache:
    """Dependency records for one out folder: written after a render, checked against the inputs on the next build.

    A record holds leafgen's code digest, every file the render read (as ids into a shared table of
    (name, sha256) pairs: thousands of PDFs share a few dozen inputs) and, per catalog, the digest of the
    entries it looked up. It is keyed by the hash of its own JSON, so PDFs that read the same things (A4 and
    Letter, say) share one. The file carries a checksum of its body; when that fails, each record is checked
    against its key and only the damaged ones are dropped (their PDFs rebuilt), with one warning.
    A record is checked once per build however many PDFs share it; files are hashed once per build.
    """

    def __init__(self, project: Project, out_dir: Path):
        self.project = project
        self.path = out_dir / CACHE
        self.changed = False
        self.damage: list[str] = []
        self._checked: dict[str, bool] = {}
        self._same_file: dict[str, bool] = {}
        self._used_maps: set[str] = set()
        self._shas: dict[str, str | None] = {}
        self.files: dict[str, list] = {}  # file id -> [name, sha]
        self.deps: dict[str, dict] = {}
        self.ids: dict[str, list[str]] = {}
        self.maps: dict[str, dict[str, str]] = {}
        self._read()

    @property
    def warnings(self) -> list[str]:
        """At most one line, however much was damaged: the user needs to know once, not per PDF."""
        if not self.damage:
            return []
        more = f" and {len(self.damage) - 1} more" if len(self.damage) > 1 else ""
        return [f"{self.path}: build cache was damaged ({self.damage[0]}{more}): rebuilt what it described"]

    # -- reading and checking ---------------------------------------------------------------------------------------

    def _read(self) -> None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as e:
            self._damaged(f"cannot read it: {e.strerror}")
            return
        head, _, body = raw.partition(b"\n")
        try:
            header = json.loads(head)
            if not isinstance(header, dict):
                raise ValueError
            if header.get("format") != CACHE_FORMAT:
                self.changed = True  # an older leafgen's cache: replaced without fuss
                return
            data = json.loads(body)
            parts = data["files"], data["deps"], data["ids"], data["catalogs"]
            if not all(isinstance(x, dict) for x in parts):
                raise ValueError
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            self._damaged("not a leafgen build cache")
            return
        self.files, self.deps, self.ids, self.maps = parts
        if header.get("sha256") != hashlib.sha256(body).hexdigest():
            self._salvage()

    def _salvage(self) -> None:
        """The body does not match its checksum: keep only the records that still match their keys."""
        for key in list(self.deps):
            try:
                record = self.deps[key]
                whole = _key(record) == key and all(_file_id(*self.files[fid]) == fid for fid in record["files"])
            except (KeyError, TypeError, ValueError):
                whole = False
            if not whole:
                self._damaged(f"entry {key[:12]} does not match its key")
                del self.deps[key]
        if not self.damage:
            self.changed = True  # only the checksum was wrong: rewrite it

    def _damaged(self, why: str) -> None:
        self.damage.append(why)
        self.changed = True

    def up_to_date(self, key: Any) -> bool:
        """Whether the inputs recorded under this key still hold what the render read."""
        if not isinstance(key, str) or key not in self.deps:
            return False
        if key not in self._checked:
            try:
                self._checked[key] = self._check(self.deps[key])
            except Corrupted as e:
                self._checked[key] = False
                self._damaged(f"entry {key[:12]}: {e}")
                self.deps.pop(key, None)
        return self._checked[key]

    def _check(self, record: dict) -> bool:
        try:
            if record["code"] != code_digest():
                return False
            for fid in record["files"]:
                if fid not in self._same_file:
                    name, sha = self.files[fid]
                    self._same_file[fid] = self._sha(name) == sha
                if not self._same_file[fid]:
                    return False
            for name, cat in record["catalogs"].items():
                if not self._same_entries(name, cat):
                    return False
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise Corrupted(f"malformed ({type(e).__name__}: {e})") from None
        return True

    def _sha(self, name: str) -> str | None:
        """A file's sha256, looked at once per build."""
        if name not in self._shas:
            self._shas[name] = file_sha(self._path(name))
        return self._shas[name]

    def _same_entries(self, name: str, cat: dict) -> bool:
        """The catalog entries this PDF used are as they were, even if other entries changed."""
        sha = self._sha(name)
        if sha == cat["sha"]:
            return True
        ids = self.ids.get(cat["ids"])
        if not isinstance(ids, list) or _list_key(ids) != cat["ids"]:
            raise Corrupted("its list of catalog entries is missing or damaged")
        entries = self._entries(self._path(name), sha)
        if entries is None:
            return False
        return _entries_digest(ids, entries) == cat["digest"]

    def _entries(self, path: Path, sha: str | None) -> dict[str, str] | None:
        """msgid digest -> value digest for every entry of a catalog, by the catalog's content (parsed once)."""
        if sha is None:
            return None
        if sha not in self.maps:
            try:
                catalog = read_catalog(path)
            except CatalogError:
                return None  # the render reports a broken catalog
            self.maps[sha] = _entry_digests(catalog)
            self.changed = True
        self._used_maps.add(sha)
        return self.maps[sha]

    # -- remembering ------------------------------------------------------------------------------------------------

    def remember(self, reads: Reads) -> str:
        """Store what one render read; return the key for its manifest entry."""
        catalogs = {}
        for path, entries in sorted(reads.entries.items()):
            ids = sorted(entries)
            ids_key = _list_key(ids)
            self.ids[ids_key] = ids
            catalogs[self._name(path)] = {
                "sha": reads.catalogs.get(path),
                "ids": ids_key,
                "digest": _entries_digest(ids, entries),
            }
        fids = []
        for path, sha in reads.files.items():
            name = self._name(path)
            fid = _file_id(name, sha)
            self.files[fid] = [name, sha]
            fids.append(fid)
        record = {"code": code_digest(), "files": sorted(set(fids)), "catalogs": catalogs}
        key = _key(record)
        if key not in self.deps:
            self.deps[key] = record
            self.changed = True
        self._checked[key] = True
        return key

    def save(self, manifest: dict[str, dict]) -> None:
        """Keep the records the manifest still names (other shards and languages included), and what they need."""
        keep = {e.get("fingerprint") for e in manifest.values()}
        deps = {k: v for k, v in self.deps.items() if k in keep}
        if not self.changed and len(deps) == len(self.deps):
            return
        ids = {c["ids"] for r in deps.values() for c in r["catalogs"].values()}
        fids = {fid for r in deps.values() for fid in r["files"]}
        body = json.dumps(
            {
                "files": {k: v for k, v in self.files.items() if k in fids},
                "deps": deps,
                "ids": {k: v for k, v in self.ids.items() if k in ids},
                "catalogs": {k: v for k, v in self.maps.items() if k in self._used_maps},
            },
            separators=(",", ":"),
        ).encode()
        header = json.dumps({"format": CACHE_FORMAT, "sha256": hashlib.sha256(body).hexdigest()}).encode()
        try:
            write_atomic(self.path, header + b"\n" + body)
        except OSError as e:
            self.damage.append(f"cannot save it: {e.strerror}; the next build redoes everything")

    # -- paths: relative to the project or the package, so a moved project or a reinstall stays up to date ----------

    def _name(self, path: str) -> str:
        p = Path(path)
        roots = sorted((("project:", self.project.root), ("leafgen:", PACKAGE)), key=lambda r: -len(str(r[1])))
        for prefix, root in roots:  # the innermost: the shipped project lives inside the package
            if p.is_relative_to(root):
                return prefix + p.relative_to(root).as_posix()
        return path

    def _path(self, name: str) -> Path:
        if name.startswith("project:"):
            return self.project.root / name.removeprefix("project:")
        if name.startswith("leafgen:"):
            return PACKAGE / name.removeprefix("leafgen:")
        return Path(name)


def _file_id(name: str, sha: str | None) -> str:
    return digest(f"{name}\0{sha}")[:16]


def _key(record: dict) -> str:
    return digest(json.dumps(record, sort_keys=True, separators=(",", ":")))


def _list_key(ids: list[str]) -> str:
    return digest(",".join(ids))


def _entries_digest(ids: list[str], entries: dict[str, str]) -> str:
    return digest(",".join(f"{i}={entries.get(i, _MISSING)}" for i in ids))


def _entry_digests(catalog: Any) -> dict[str, str]:
    """What Translator would record for each msgid of a catalog (as `catalog.get(msgid)` finds it)."""
    out: dict[str, str] = {}
    for m in catalog:
        if m.id and m.context is None:
            msgid = m.id if isinstance(m.id, str) else m.id[0]
            out[digest(msgid)] = digest(repr((m.string, m.fuzzy)))
    return out

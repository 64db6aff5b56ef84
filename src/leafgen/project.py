"""Locate a leafgen project's folders and write files into them atomically."""

from __future__ import annotations

import contextvars
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from leafgen.errors import SourceError

SOURCE_LANG = "en"
PAPERS = ("a4", "letter")
KINDS = ("handout", "checklist")
# Leaflet, section and item ids. A leaflet id becomes a file name, so nothing else may reach the file system.
ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_ID_CHARS = 100
# The default project (leaflets/, templates/, translations/, clinic.yaml) ships inside the package, so an
# installed leafgen finds it; in a checkout these are symlinks to the repository's top-level folders.
SHIPPED = Path(__file__).resolve().parent / "shipped"


class Project(NamedTuple):
    """A folder with leaflets/, templates/, translations/ and clinic.yaml. (A NamedTuple, not a dataclass:
    dataclasses and the inspect module under it are 5 ms of `leafgen --help`, which this module starts.)"""

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

    def ships(self, lang: object) -> bool:
        """Whether `lang` is one of languages(), by one look at its catalog instead of listing them all (a
        third of a millisecond, 2% of an English render). A name that could leave the folder is never one."""
        if lang == SOURCE_LANG:
            return True
        if not isinstance(lang, str) or not lang or lang.startswith(".") or any(c in lang for c in "/\\\0"):
            return False
        return (self.translations_dir / lang / "LC_MESSAGES" / "messages.po").is_file()

    def languages(self) -> list[str]:
        """The source language first, then every locale that has a catalog (a hidden folder, such as a tool's
        backup `.es`, is not one: pathlib's glob, unlike a shell's, lists it)."""
        found = sorted(
            name
            for p in self.translations_dir.glob("*/LC_MESSAGES/messages.po")
            if not (name := p.parent.parent.name).startswith(".")
        )
        return [SOURCE_LANG] + [lang for lang in found if lang != SOURCE_LANG]


def find_project(root: str | Path | None) -> Project:
    """The given folder, else the current one, else the content shipped inside the package."""
    if root is not None:
        project = Project(Path(root).resolve())
        if not project.leaflets_dir.is_dir():
            raise SourceError("not a leafgen project: no leaflets/ folder", project.root)
        return project
    for candidate in (Path.cwd(), SHIPPED):
        if (candidate / "leaflets").is_dir() and (candidate / "templates").is_dir():
            return Project(candidate)
    raise SourceError(
        "no leafgen project here: pass --project DIR (a folder with leaflets/ and templates/)", Path.cwd()
    )


def _umask() -> int:
    """The process umask (read by setting it, so set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write to a temp file beside the target, then rename: readers never see half a file.

    mkstemp creates files 0600; outputs (PDFs, manifest) get the mode any new file gets under the user's umask,
    so a clinic's shared print folder can read them. `private` keeps 0600 (patient data).
    """
    import tempfile  # here: with `random` under it, 7 ms of every `leafgen --help` that never writes a file

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if not private:
                os.fchmod(f.fileno(), 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- what a render read ----------------------------------------------------------------------------------------------


class Reads:
    """Every input one render used, recorded where it is read, so builds know a PDF's real inputs.

    files: path -> sha256 of the bytes (None if the file was absent); entries: catalog path -> {msgid digest:
    digest of (translation, fuzzy), or of None when the catalog has no entry}. A catalog is tracked by the
    entries looked up in it, so an edit to another leaflet's entry does not touch this PDF.
    """

    __slots__ = ("files", "entries", "catalogs")

    def __init__(self) -> None:
        self.files: dict[str, str | None] = {}
        self.entries: dict[str, dict[str, str]] = {}
        self.catalogs: dict[str, str | None] = {}  # catalog path -> sha when first looked up


_reads: contextvars.ContextVar[Reads | None] = contextvars.ContextVar("leafgen_reads", default=None)
_shas: dict[tuple[str, int, int], str] = {}


@contextmanager
def recording() -> Iterator[Reads]:
    """Record what the code inside reads (per thread and task: a desk serving several renders stays apart)."""
    reads = Reads()
    token = _reads.set(reads)
    try:
        yield reads
    finally:
        _reads.reset(token)


def _sha(data: bytes) -> str:
    # hashlib here, not at the top: loading OpenSSL is 5 ms of every `leafgen --help`, which hashes nothing.
    import hashlib

    return hashlib.sha256(data).hexdigest()[:32]


def digest(text: str) -> str:
    """A short content hash for recorded values: collisions at 128 bits are not a concern here."""
    return _sha(text.encode())


def file_sha(path: Path) -> str | None:
    """sha256 of a file's bytes (None if absent), hashed once per version of the file in this process."""
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    key = (str(path), st.st_mtime_ns, st.st_size)
    sha = _shas.get(key)
    if sha is None:
        try:
            sha = _sha(path.read_bytes())
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        _shas[key] = sha
    return sha


def record(*paths: Path) -> None:
    """Note that the current render read these files (a no-op outside `recording`)."""
    reads = _reads.get()
    if reads is not None:
        for path in paths:
            name = str(path)
            if name not in reads.files:
                reads.files[name] = file_sha(path)


def record_entries(catalog: Path, lookups: Iterable[tuple[str, object]]) -> None:
    """Note catalog lookups: (msgid, value) where value is (translation, fuzzy) or None when there is no entry."""
    reads = _reads.get()
    if reads is not None:
        name = str(catalog)
        if name not in reads.catalogs:
            reads.catalogs[name] = file_sha(catalog)
        seen = reads.entries.setdefault(name, {})
        for msgid, value in lookups:
            seen[digest(msgid)] = digest(repr(value))

"""Build many PDFs: plan jobs, skip what is up to date, render in parallel, write atomically, keep the manifest."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from itertools import product
from pathlib import Path

from leafgen import __version__
from leafgen.errors import ErrorList, LeafgenError, TranslationError
from leafgen.project import Project

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class Outcome:
    """What happened to one job; a manifest entry when it produced a PDF."""

    status: str  # built | skipped | refused | failed
    entry: dict | None = None
    error: str = ""


@dataclass
class Summary:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def ok(self) -> bool:
        return not (self.count("refused") or self.count("failed"))

    def line(self) -> str:
        parts = [f"{self.count(s)} {s}" for s in ("built", "skipped", "refused", "failed")]
        return f"{', '.join(parts)} in {self.seconds:.1f} s"


def relative_path(job) -> str:  # noqa: ANN001 - render.Job, imported lazily
    """Where a job's PDF goes inside the out dir: one folder per leaflet and language."""
    suffix = ("-large" if job.large_print else "") + ("-fillable" if job.fillable else "")
    return f"{job.leaflet}/{job.lang}/{job.leaflet}-{job.kind}-{job.paper}{suffix}.pdf"


def plan(
    project: Project,
    leaflets: Iterable[str],
    langs: Iterable[str],
    kinds: Iterable[str],
    papers: Iterable[str],
    large_print: bool = False,
    fillable: bool = False,
) -> list:
    """Every (leaflet, language, kind, paper) combination asked for, in a stable order."""
    from leafgen.render import Job, check_job

    jobs = [
        Job(lf, lang, kind, paper, large_print, fillable and kind == "checklist")
        for lf, lang, kind, paper in product(leaflets, langs, kinds, papers)
    ]
    for job in jobs:
        check_job(job)
        project.leaflet_path(job.leaflet)
    return jobs


def shard(jobs: list, spec: str) -> list:
    """The K-th of N disjoint slices (1-based), by position, so shards need no coordination."""
    try:
        k, n = (int(x) for x in spec.split("/"))
        if not 1 <= k <= n:
            raise ValueError
    except ValueError:
        raise LeafgenError(f"--shard takes K/N with 1 <= K <= N, not {spec!r}") from None
    return jobs[k - 1 :: n]


def _digest(paths: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(str(p.name).encode())
        h.update(_file_digest(p, p.stat().st_mtime_ns, p.stat().st_size).encode())
    return h.hexdigest()


@lru_cache(maxsize=4096)
def _file_digest(path: Path, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprint(project: Project, job) -> str:  # noqa: ANN001
    """Hash of every input a PDF depends on: change one and only the PDFs that use it rebuild."""
    from leafgen.i18n import catalog_path
    from leafgen.scripts import script_for

    inputs = [project.leaflet_path(job.leaflet), project.disclaimer_path, *sorted(project.templates_dir.rglob("*"))]
    inputs += [p for p in (project.clinic_path, catalog_path(project, job.lang)) if p.is_file()]
    inputs += list(script_for(job.lang).font_files)
    h = hashlib.sha256(json.dumps([__version__, asdict(job)], sort_keys=True).encode())
    h.update(_digest(p for p in inputs if p.is_file()).encode())
    return h.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temp file beside the target, then rename: readers never see half a PDF."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_manifest(out_dir: Path) -> dict[str, dict]:
    try:
        entries = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))["pdfs"]
        return {e["path"]: e for e in entries}
    except (FileNotFoundError, KeyError, TypeError, ValueError):
        return {}


def write_manifest(out_dir: Path, entries: dict[str, dict]) -> None:
    body = {"generator": f"leafgen {__version__}", "pdfs": [entries[k] for k in sorted(entries)]}
    write_atomic(out_dir / MANIFEST, (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode())


def _run(project: Project, job, out_dir: Path, allow_fallback: bool, fp: str) -> Outcome:  # noqa: ANN001
    """Render and write one PDF; errors become outcomes so the rest of the batch goes on."""
    from leafgen.render import render_job

    rel = relative_path(job)
    try:
        r = render_job(project, job, allow_fallback=allow_fallback)
    except LeafgenError as e:
        # The translation gate refuses; anything else (broken input) fails.
        errors = e.errors if isinstance(e, ErrorList) else [e]
        refused = all(isinstance(x, TranslationError) for x in errors)
        return Outcome("refused" if refused else "failed", error=str(e))
    write_atomic(out_dir / rel, r.pdf)
    entry = {
        "leaflet": job.leaflet,
        "lang": job.lang,
        "kind": job.kind,
        "paper": job.paper,
        "large_print": job.large_print,
        "fillable": job.fillable,
        "fallback": r.fallback,
        "path": rel,
        "pages": r.pages,
        "sha256": hashlib.sha256(r.pdf).hexdigest(),
        "fingerprint": fp,
    }
    return Outcome("built", entry)


def _worker(args: tuple) -> Outcome:
    return _run(*args)


def build(
    project: Project,
    jobs: list,
    out_dir: Path,
    *,
    allow_fallback: bool = False,
    force: bool = False,
    workers: int = 1,
    on_done: Callable[[Outcome], None] | None = None,
) -> Summary:
    """Build what is out of date; the manifest always matches the PDFs on disk, even after failures."""
    start = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(out_dir)
    summary = Summary()
    todo = []
    for job in jobs:
        rel = relative_path(job)
        fp = fingerprint(project, job)
        old = manifest.get(rel)
        if not force and old and old.get("fingerprint") == fp and (out_dir / rel).is_file():
            summary.outcomes.append(Outcome("skipped", old))
            if on_done:
                on_done(summary.outcomes[-1])
        else:
            todo.append((project, job, out_dir, allow_fallback, fp))
    for outcome in _execute(todo, workers):
        summary.outcomes.append(outcome)
        if outcome.entry:
            manifest[outcome.entry["path"]] = outcome.entry
        if on_done:
            on_done(outcome)
    write_manifest(out_dir, manifest)
    summary.seconds = time.perf_counter() - start
    return summary


def _execute(todo: list[tuple], workers: int) -> Iterator[Outcome]:
    """In-process for one worker (no pickling, easy to debug); a process pool otherwise."""
    if workers <= 1 or len(todo) <= 1:
        yield from map(_worker, todo)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_worker, todo, chunksize=max(1, min(16, len(todo) // (workers * 8))))

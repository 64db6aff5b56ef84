"""Run a batch: skip what is up to date, render the rest in a process pool, write atomically, keep the manifest."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path

from leafgen.build.fingerprint import CACHE, Fingerprints, read_cache
from leafgen.build.manifest import MANIFEST, read_manifest, write_manifest
from leafgen.build.plan import relative_path
from leafgen.errors import ErrorList, LeafgenError, TranslationError
from leafgen.project import Project, write_atomic
from leafgen.render.pipeline import render_job


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
        seconds = f"{self.seconds:.1f}" if self.seconds >= 0.1 else f"{self.seconds:.2f}"
        return f"{', '.join(parts)} in {seconds} s"


def _run(project: Project, job, out_dir: Path, allow_fallback: bool, fp: str | None) -> Outcome:  # noqa: ANN001
    """Render and write one PDF; errors become outcomes so the rest of the batch goes on."""
    rel = relative_path(job)
    try:
        r = render_job(project, job, allow_fallback=allow_fallback)
        write_atomic(out_dir / rel, r.pdf)
    except LeafgenError as e:
        # The translation gate refuses; anything else (broken input) fails.
        errors = e.errors if isinstance(e, ErrorList) else [e]
        refused = all(isinstance(x, TranslationError) for x in errors)
        return Outcome("refused" if refused else "failed", error=str(e))
    except Exception as e:  # a bug or a full disk must not take the other PDFs down with it
        return Outcome("failed", error=f"{rel}: {type(e).__name__}: {e}")
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


_WORKER: tuple = ()


def _init_worker(project: Project, out_dir: Path, allow_fallback: bool) -> None:
    global _WORKER
    _WORKER = (project, out_dir, allow_fallback)


def _run_one(item: tuple) -> Outcome:
    """In a worker: render and write one PDF, return only its small manifest entry."""
    project, out_dir, allow_fallback = _WORKER
    job, fp = item
    return _run(project, job, out_dir, allow_fallback, fp)


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
    """Build what is out of date; the manifest always matches the PDFs on disk, even after failures.

    Jobs are fingerprinted as they are handed out, so workers start on the first stale PDF while the
    rest of the catalogue is still being checked, and are forked before the main process has grown.
    """
    start = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = out_dir / MANIFEST
    manifest = read_manifest(manifest_path)
    changed = not manifest_path.is_file()
    fingerprints = Fingerprints(project, read_cache(out_dir))
    summary = Summary()
    present: set[str] = set()  # PDFs seen on disk while checking

    def done(outcome: Outcome) -> None:
        nonlocal changed
        summary.outcomes.append(outcome)
        if outcome.status == "built":
            manifest[outcome.entry["path"]] = outcome.entry
            present.add(outcome.entry["path"])
            changed = True
        if on_done:
            on_done(outcome)

    def stale() -> Iterator[tuple]:
        out = str(out_dir)
        for job in jobs:
            rel = relative_path(job)
            try:
                fp: str | None = fingerprints(job)
            except Exception:  # an unreadable or broken input: the render names the fault
                fp = None
            old = manifest.get(rel)
            if not force and fp and old and old.get("fingerprint") == fp and os.path.isfile(os.path.join(out, rel)):
                present.add(rel)
                if allow_fallback or not old.get("fallback"):
                    done(Outcome("skipped", old))
                    continue
            yield job, fp

    try:
        for outcome in _execute(stale(), workers, (project, out_dir, allow_fallback)):
            done(outcome)
    finally:  # also on Ctrl-C: the PDFs already written are listed, and only PDFs that exist
        gone = [rel for rel in manifest if rel not in present and not (out_dir / rel).is_file()]
        for rel in gone:
            del manifest[rel]
        if changed or gone:
            write_manifest(manifest_path, manifest)
        if fingerprints.added:
            write_atomic(out_dir / CACHE, json.dumps(fingerprints.cache_to_keep()).encode())
    summary.seconds = time.perf_counter() - start
    return summary


def _execute(todo: Iterator[tuple], workers: int, context: tuple) -> Iterator[Outcome]:
    """In-process for one worker or one job (no pool to start, no pickling, easy to debug); otherwise a
    process pool kept a few jobs ahead, so memory does not grow with the size of the catalogue."""
    first = list(islice(todo, 2)) if workers > 1 else []
    if len(first) < 2:
        for job, fp in chain(first, todo):
            yield _run(context[0], job, context[1], context[2], fp)
        return
    queue = chain(first, todo)
    pending: dict = {}
    broken: BaseException | None = None

    def crashed(item: tuple, e: BaseException) -> Outcome:
        return Outcome("failed", error=f"{relative_path(item[0])}: worker process died: {e}")

    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=context) as pool:
        while True:
            while broken is None and len(pending) < workers * 4:
                item = next(queue, None)
                if item is None:
                    break
                try:
                    pending[pool.submit(_run_one, item)] = item
                except BrokenProcessPool as e:
                    broken = e
                    yield crashed(item, e)
            if not pending:
                break
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                item = pending.pop(future)
                try:
                    yield future.result()
                except BrokenProcessPool as e:
                    broken = e
                    yield crashed(item, e)
        for item in queue:  # never submitted because the pool broke
            yield crashed(item, broken or RuntimeError("pool stopped"))

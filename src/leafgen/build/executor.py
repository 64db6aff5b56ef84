"""Run a batch: skip what is up to date, render the rest in a process pool, write atomically, keep the manifest."""

from __future__ import annotations

import hashlib
import os
import time
import traceback
from collections.abc import Callable, Iterator
from itertools import chain, islice
from pathlib import Path

from leafgen.build.fingerprint import BuildCache
from leafgen.build.manifest import MANIFEST, read_manifest, write_manifest
from leafgen.build.plan import relative_path
from leafgen.errors import ErrorList, LeafgenError, TranslationError
from leafgen.project import Project, write_atomic
from leafgen.render.job import Job
from leafgen.render.pipeline import render_job
from leafgen.results import Outcome, Summary

__all__ = ["Outcome", "Summary", "build"]


def _run(project: Project, job: Job, out_dir: Path | None, allow_fallback: bool) -> Outcome:
    """Render and write one PDF; every error becomes an outcome so the rest of the batch goes on.

    A user error (LeafgenError: the translation gate, broken input) is one line; an output folder that cannot
    be written is one line; anything else is a bug in leafgen and keeps its traceback for --debug.
    """
    rel = relative_path(job)
    try:
        r = render_job(project, job, allow_fallback=allow_fallback)
    except LeafgenError as e:
        errors = e.errors if isinstance(e, ErrorList) else [e]
        refused = all(isinstance(x, TranslationError) for x in errors)
        return Outcome("refused" if refused else "failed", rel, error=str(e))
    except Exception as e:  # a bug must not take the other PDFs down with it; it is reported as one
        return Outcome("failed", rel, error=f"{rel}: {type(e).__name__}: {e}", trace=traceback.format_exc())
    if out_dir is None:  # a dry run (leafgen check): rendered in memory, nothing written
        return Outcome("built", rel)
    try:
        write_atomic(out_dir / rel, r.pdf)
    except OSError as e:
        return Outcome("failed", rel, error=f"{out_dir / rel}: cannot write the PDF: {e.strerror or e}")
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
        "fingerprint": None,  # set by the main process from `reads`, which it keeps in the build cache
    }
    return Outcome("built", rel, entry, reads=r.reads)


_WORKER: tuple = ()


def _init_worker(project: Project, out_dir: Path | None, allow_fallback: bool) -> None:
    global _WORKER
    _WORKER = (project, out_dir, allow_fallback)


def _run_one(job: Job) -> Outcome:
    """In a worker: render and write one PDF, return only its small manifest entry and what it read."""
    project, out_dir, allow_fallback = _WORKER
    return _run(project, job, out_dir, allow_fallback)


def _out_folder(out_dir: Path) -> None:
    """The output folder exists and is writable, or a one-line error says why not (before any rendering)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise LeafgenError("the output folder is a file, not a folder", out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LeafgenError(f"cannot create the output folder: {e.strerror or e}", out_dir) from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise LeafgenError("the output folder is not writable", out_dir)


def build(
    project: Project,
    jobs: list[Job],
    out_dir: Path,
    *,
    allow_fallback: bool = False,
    force: bool = False,
    workers: int = 1,
    on_done: Callable[[Outcome], None] | None = None,
    start_method: str | None = None,
) -> Summary:
    """Build what is out of date; the manifest always matches the PDFs on disk, even after failures.

    A refused or failed job withdraws its previous PDF (from the folder and the manifest): an outdated
    leaflet must not stay printable. Jobs are checked as they are handed out, so workers start on the first
    stale PDF while the rest of the catalogue is still being checked. `start_method` is multiprocessing's
    (fork, forkserver, spawn; default: the platform's).
    """
    if workers < 1:
        raise LeafgenError(f"--jobs must be at least 1, not {workers}")
    start = time.perf_counter()
    _out_folder(out_dir)
    manifest_path = out_dir / MANIFEST
    manifest = read_manifest(manifest_path)
    changed = not manifest_path.is_file()
    cache = BuildCache(project, out_dir)
    summary = Summary()
    # What the project holds now, read before rendering: a PDF of anything else can never be rebuilt.
    leaflets = {p.stem for p in project.leaflet_paths()}
    languages = set(project.languages())
    present: set[str] = set()  # PDFs seen on disk while checking

    def withdraw(rel: str) -> None:
        """Unlink a PDF, drop its manifest entry and report it (Summary.removed): refused, failed, or withdrawn."""
        nonlocal changed
        (out_dir / rel).unlink(missing_ok=True)
        manifest.pop(rel, None)
        present.discard(rel)
        summary.removed.append(rel)
        changed = True

    def done(outcome: Outcome) -> None:
        nonlocal changed
        if outcome.status == "built" and outcome.entry is not None:
            entry = {**outcome.entry, "fingerprint": cache.remember(outcome.reads)}
            outcome = Outcome("built", outcome.path, entry)
            manifest[outcome.path] = entry
            present.add(outcome.path)
            changed = True
        elif outcome.status in ("refused", "failed") and (
            outcome.path in manifest or (out_dir / outcome.path).is_file()
        ):
            withdraw(outcome.path)
        summary.outcomes.append(outcome)
        if on_done:
            on_done(outcome)

    def stale() -> Iterator[Job]:
        out = str(out_dir)
        for job in jobs:
            rel = relative_path(job)
            old = manifest.get(rel)
            if (
                not force
                and old
                and os.path.isfile(os.path.join(out, rel))
                and cache.up_to_date(old.get("fingerprint"))
            ):
                present.add(rel)
                if allow_fallback or not old.get("fallback"):
                    done(Outcome("skipped", rel, old))
                    continue
            yield job

    try:
        for outcome in _execute(stale(), workers, (project, out_dir, allow_fallback), start_method):
            done(outcome)
    finally:  # also on Ctrl-C: the PDFs already written are listed, and only PDFs that exist
        # A leaflet or language taken out of the project is withdrawn, whatever this build's filters
        # (--lang, --kind, --shard): its PDFs would otherwise stay printable, and never be rebuilt.
        for rel, entry in list(manifest.items()):
            if entry.get("leaflet") not in leaflets or entry.get("lang") not in languages:
                withdraw(rel)
                _prune(out_dir, out_dir / rel)
        gone = [rel for rel in manifest if rel not in present and not (out_dir / rel).is_file()]
        for rel in gone:
            del manifest[rel]
        try:
            if changed or gone:
                write_manifest(manifest_path, manifest)
        except OSError as e:
            raise LeafgenError(f"cannot write the manifest: {e.strerror or e}", manifest_path) from None
        cache.save(manifest)
    summary.warnings.extend(cache.warnings)
    summary.seconds = time.perf_counter() - start
    return summary


def _prune(out_dir: Path, pdf: Path) -> None:
    """Remove the withdrawn PDF's leaflet and language folders once they are empty (nothing else is touched)."""
    for folder in (pdf.parent, pdf.parent.parent):
        if folder == out_dir or out_dir not in folder.parents:
            return
        try:
            folder.rmdir()
        except OSError:  # not empty (other PDFs, or files that are not ours): left as it is
            return


def dry_run(project: Project, jobs: list[Job], *, allow_fallback: bool = False, workers: int = 1) -> Iterator[Outcome]:
    """Render every job in memory and write nothing: what a build would hit, for `leafgen check`."""
    return _execute(iter(jobs), workers, (project, None, allow_fallback), None)


def _execute(todo: Iterator[Job], workers: int, context: tuple, start_method: str | None) -> Iterator[Outcome]:
    """In-process for one worker or one job (no pool to start, no pickling, easy to debug); otherwise a
    process pool kept a few jobs ahead, so memory does not grow with the size of the catalogue.

    The pool never has more workers than jobs seen so far (`-j 300` for 2 PDFs starts 2 processes). Workers
    get everything they need through the initializer's arguments and module-level functions, so any start
    method works (fork inherits the imported pipeline; forkserver and spawn import it in each worker).
    """
    first = list(islice(todo, workers)) if workers > 1 else []
    if len(first) < 2:
        for job in chain(first, todo):
            yield _run(context[0], job, context[1], context[2])
        return
    # The pool's modules load only when a pool runs: a one-PDF build (and the desk's worker) never needs
    # multiprocessing, concurrent.futures and logging at start-up.
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    workers = len(first)
    queue = chain(first, todo)
    pending: dict = {}
    broken: BaseException | None = None

    def crashed(job: Job, e: BaseException) -> Outcome:
        rel = relative_path(job)
        return Outcome("failed", rel, error=f"{rel}: worker process died: {e}", trace=repr(e))

    mp_context = multiprocessing.get_context(start_method)
    with ProcessPoolExecutor(workers, mp_context=mp_context, initializer=_init_worker, initargs=context) as pool:
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

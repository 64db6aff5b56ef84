"""Render PDFs, page images and emails in worker processes: ReportLab and PDFium keep global state and are not
thread-safe, while the web server answers requests on threads.

Everything crossing the process boundary is plain data (pickled through a pipe, never written to disk); errors
come back as a `Failure`, because leafgen's exceptions carry structure that pickling would lose.
"""

from __future__ import annotations

import datetime as dt
import io
import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from threading import Lock
from typing import Any

import pypdfium2 as pdfium

from leafgen import api
from leafgen.errors import ErrorList, LeafgenError, TranslationError
from leafgen.text.scripts import script_for


@dataclass(frozen=True)
class Choice:
    """What to print: a leaflet and the options a receptionist picks (no patient data)."""

    leaflet: str
    lang: str
    kind: str
    paper: str
    large_print: bool
    fillable: bool
    fallback: bool


@dataclass(frozen=True)
class Document:
    pdf: bytes
    pages: int
    title: str
    fallback: bool


@dataclass(frozen=True)
class Failure:
    """Why nothing was made: `refused` for translation gaps, `personal` for details that cannot be printed."""

    kind: str  # refused | personal | error
    lines: tuple[str, ...]


def _failure(e: LeafgenError) -> Failure:
    errors = e.errors if isinstance(e, ErrorList) else [e]
    if all(isinstance(x, TranslationError) for x in errors):
        return Failure("refused", tuple(x.message for x in errors))
    if isinstance(e, api.PersonalDataError):
        return Failure("personal", (e.message,))
    return Failure("error", tuple(str(x) for x in errors))


def render(project: Path, c: Choice, name: str = "", start: dt.date | None = None, note: str = "") -> Any:
    """One PDF, personalised when name, start or note is given; a Failure instead of an exception."""
    personal = api.Personal(name, start, note) or None
    try:
        r = api.render_document(
            c.leaflet,
            c.lang,
            c.kind,
            c.paper,
            large_print=c.large_print,
            fillable=c.fillable,
            project=project,
            allow_fallback=c.fallback,
            personal=personal,
        )
    except LeafgenError as e:
        return _failure(e)
    return Document(r.pdf, r.pages, r.title, r.fallback)


def page_png(pdf: bytes, index: int, width: int) -> bytes:
    """Page `index` (0-based) as a PNG `width` pixels wide, as it will print (PDFium draws like a viewer)."""
    doc = pdfium.PdfDocument(pdf)
    try:
        page = doc[index]
        scale = width / page.get_width()
        image = page.render(scale=scale, may_draw_forms=True).to_pil()
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=False, compress_level=3)
        return out.getvalue()
    finally:
        doc.close()


@dataclass(frozen=True)
class Emailed:
    """What happened to one message (mail.send.Outcome without the recipient: no patient data travels back)."""

    status: str  # written | sent | skipped | failed | deferred | uncertain | held | pending; the desk adds sending
    note: str  # names no patient
    dry_run: bool


def email(
    project: Path, outbox: Path | None, journal: Path | None, to: str, name: str, c: Choice, send: bool
) -> Emailed | Failure:
    """One message through the journal of `leafgen email`; a Failure for bad input or settings."""
    try:
        o = api.email(
            to,
            [c.leaflet],
            c.lang,
            name=name,
            kinds=[c.kind],
            paper=c.paper,
            large_print=c.large_print,
            project=project,
            send=send,
            journal=journal,
            outbox=outbox,
        )
    except LeafgenError as e:
        return _failure(e)
    return Emailed(o.status, o.note, not send)


def _warm(project: Path) -> None:
    """Load ReportLab, PDFium and every shipped script's fonts (and HarfBuzz) once per worker, so the first preview
    in each language is as fast as the rest: a Bengali, Hindi, Punjabi or Korean one took 250-400 ms on a fresh
    desk, loading its fonts, and 150 ms after that."""
    for lang in warm_languages(project):
        r = render(project, Choice(_first_leaflet(project), lang, "handout", "a4", False, False, True))
        if isinstance(r, Document):
            page_png(r.pdf, 0, 200)


def warm_languages(project: Path) -> list[str]:
    """English, then the first shipped language written in each other script (Arabic, Han, Devanagari, ...)."""
    seen, langs = set(), []
    for lang in ("en", *(x.code for x in api.languages(project))):
        script = script_for(lang).name
        if script not in seen:
            seen.add(script)
            langs.append(lang)
    return langs


def _first_leaflet(project: Path) -> str:
    paths = sorted(p for p in (project / "leaflets").glob("*.yaml") if not p.name.startswith("_"))
    return paths[0].stem if paths else ""


class Pool:
    """A small process pool that replaces itself if a worker dies, so one crash does not take the desk down."""

    def __init__(self, project: Path, workers: int):
        self.project, self.workers = project, workers
        self._lock = Lock()
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # forkserver: workers are never forked from the threaded web server; they import leafgen once, from the
        # fork server, which preloads this module.
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        return ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_warm, initargs=(self.project,))

    def warm(self) -> None:
        """Start every worker now (each warms itself), rather than on the first patient's preview."""
        for f in [self._pool.submit(_first_leaflet, self.project) for _ in range(self.workers * 2)]:
            f.result()

    def run(self, fn: Any, *args: Any, timeout: float = 120) -> Any:
        with self._lock:
            pool = self._pool
        try:
            return pool.submit(fn, *args).result(timeout=timeout)
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    self._pool = self._start()
                pool = self._pool
            return pool.submit(fn, *args).result(timeout=timeout)

    def submit(self, fn: Any, *args: Any) -> Future:
        with self._lock:
            pool = self._pool
        try:
            return pool.submit(fn, *args)
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    self._pool = self._start()
                return self._pool.submit(fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

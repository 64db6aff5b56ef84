"""Build many PDFs: plan jobs, skip what is up to date, render in parallel, write atomically, keep the manifest."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import astuple, dataclass, field
from itertools import chain, islice, product
from pathlib import Path
from typing import Any

from leafgen import __version__
from leafgen.errors import ErrorList, LeafgenError, TranslationError
from leafgen.project import SOURCE_LANG, Project

MANIFEST = "manifest.json"
# Facts derived from input files (msgids a source uses, templates a template imports, catalog entries),
# keyed by the file's sha256, so a no-op build parses no YAML, PO or Jinja. Deleting it only costs time.
CACHE = ".leafgen-cache.json"
CACHE_FORMAT = 1
# Only these templates (and what they import) are laid out as PDFs; email_* templates never are.
PDF_TEMPLATE = "{kind}.xml.j2"


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
    from leafgen.jobs import Job, check_job

    leaflets = list(leaflets)
    for leaflet in dict.fromkeys(leaflets):
        project.leaflet_path(leaflet)  # an unknown leaflet is a user error before anything is built
    jobs = [
        Job(lf, lang, kind, paper, large_print, fillable and kind == "checklist")
        for lf, lang, kind, paper in product(leaflets, langs, kinds, papers)
    ]
    for job in jobs:
        check_job(job)
    return jobs


def shard(jobs: list, spec: str) -> list:
    """The K-th of N disjoint slices (1-based), by position, so shards need no coordination.

    Every shard must be planned with the same arguments; slices interleave, so each gets a fair mix of
    languages and kinds. Their manifests are joined with `leafgen manifest merge`.
    """
    try:
        k, n = (int(x) for x in spec.split("/"))
        if not 1 <= k <= n:
            raise ValueError
    except ValueError:
        raise LeafgenError(f"--shard takes K/N with 1 <= K <= N, not {spec!r}") from None
    return jobs[k - 1 :: n]


# --- fingerprints ------------------------------------------------------------------------------------------------


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _font_files(lang: str) -> tuple[Path, ...]:
    """Every TTF a language's PDFs embed or fall back to (a seam for tests)."""
    from leafgen.scripts import script_for

    return script_for(lang).font_files


_FONT_FILES_OF_SCRIPTS = _font_files


class Fingerprints:
    """Input fingerprints for one build: each input file is read and hashed once.

    A PDF depends on its leaflet source, the shared disclaimer, its kind's template and the templates
    that one imports (never email_*), the theme, the clinic profile, its language's fonts, leafgen's
    version, the job's options and, when translated, only the catalog entries of the strings it can use
    (its leaflet's, the disclaimer's and its templates'): a translator's edit to one leaflet's entry
    rebuilds only that leaflet's PDFs in that language. Each part is hashed once per build, at the level
    it varies (per leaflet, language, kind), so a job's fingerprint costs one small hash.
    """

    def __init__(self, project: Project, cache: dict[str, Any] | None = None):
        self.project = project
        self.cache: dict[str, Any] = cache if cache is not None else {}
        self.used: set[str] = set()
        self.added = False
        self._sha: dict[Path, str | None] = {}
        self._memo: dict[tuple, Any] = {}

    def __call__(self, job) -> str:  # noqa: ANN001 - render.Job
        parts = (
            self.shared(),
            self.templates_digest(job.kind),
            self.fonts(job.lang),
            self.leaflet(job.leaflet, job.lang),
            self.entries(("kind", job.kind), job.lang),
            repr(astuple(job)),  # every option, including any added later
        )
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    # -- inputs by level -------------------------------------------------------------------------------------------

    def shared(self) -> str:
        """What every PDF uses: leafgen's version, disclaimer, clinic profile and theme."""
        p = self.project
        return self._once(
            ("shared",),
            lambda: _digest(__version__, self.sha(p.disclaimer_path), self.sha(p.clinic_path), self.sha(p.theme_path)),
        )

    def templates(self, kind: str) -> dict[str, str | None]:
        """The kind's template and every template it imports or includes, transitively: name -> sha."""

        def closure() -> dict[str, str | None]:
            found: dict[str, str | None] = {}
            todo = [PDF_TEMPLATE.format(kind=kind)]
            while todo:
                name = todo.pop()
                if name in found:
                    continue
                path = self.project.templates_dir / name
                found[name] = sha = self.sha(path)
                if sha is not None:
                    refs = self._derived("refs", sha, lambda p=path: _template_refs(self.project, p))
                    # A computed name (None) could be any layout template: depend on all of them.
                    todo += [r for r in refs if r] if None not in refs else self._layout_templates()
            return dict(sorted(found.items()))

        return self._once(("templates", kind), closure)

    def templates_digest(self, kind: str) -> str:
        return self._once(("templates-digest", kind), lambda: _digest(*map(str, self.templates(kind).items())))

    def _layout_templates(self) -> list[str]:
        return sorted(p.name for p in self.project.templates_dir.glob("*.j2") if not p.name.startswith("email_"))

    def fonts(self, lang: str) -> str:
        """The language's font files, by content. Which files a language uses is code (leafgen/scripts.py),
        so the list is kept on disk keyed by that file's content: a no-op build registers no font."""

        def files() -> list[str]:
            if _font_files is not _FONT_FILES_OF_SCRIPTS:  # replaced (tests): never from the cache
                return [str(p) for p in _font_files(lang)]
            code = Path(__file__).with_name("scripts.py")
            key = f"{lang}:{self.sha(code)}:{code}"
            return self._derived("fonts", _h(key), lambda: [str(p) for p in _font_files(lang)])

        return self._once(
            ("fonts", lang), lambda: _digest(*sorted(f"{Path(p).name}={self.sha(Path(p))}" for p in files()))
        )

    def leaflet(self, leaflet: str, lang: str) -> str:
        """The leaflet source, and its strings' catalog entries (which also cover the disclaimer's)."""
        return self._once(
            ("leaflet", leaflet, lang),
            lambda: _digest(
                self.sha(self.project.leaflets_dir / f"{leaflet}.yaml"),
                self.entries(("leaflet", leaflet), lang),
                self.entries(("disclaimer",), lang),
            ),
        )

    # -- catalog entries -------------------------------------------------------------------------------------------

    def entries(self, source: tuple, lang: str) -> str:
        """Digest of the catalog entries, in lang, of the msgids one source (leaflet, disclaimer, kind) uses."""

        def compute() -> str:
            catalog = self.catalog(lang)
            if catalog is None:
                return "-"
            ids = self.msgids(source)
            return _digest(json.dumps(ids), json.dumps(list(map(catalog.get, ids))))

        return "" if lang == SOURCE_LANG else self._once(("entries", source, lang), compute)

    def msgids(self, source: tuple) -> list[str]:
        """Sorted hashes of the msgids a source may look up."""

        def compute() -> list[str]:
            p = self.project
            if source[0] == "kind":
                found: set[str] = set()
                for name, sha in self.templates(source[1]).items():
                    if sha is not None:
                        path = p.templates_dir / name
                        found.update(self._derived("msgids", sha, lambda path=path: _template_msgids(path)))
                return sorted(found)
            path = p.leaflets_dir / f"{source[1]}.yaml" if source[0] == "leaflet" else p.disclaimer_path
            return self._derived("strings", self.sha(path) or "", lambda: _yaml_strings(path))

        return self._once(("msgids", source), compute)

    def catalog(self, lang: str) -> dict[str, str] | None:
        """msgid hash -> hash of (translation, fuzzy) for a language's catalog; None if it has none."""
        from leafgen.i18n import catalog_path

        def compute() -> dict[str, str] | None:
            path = catalog_path(self.project, lang)
            sha = self.sha(path)
            return None if sha is None else self._derived("catalog", sha, lambda: _catalog_entries(path))

        return self._once(("catalog", lang), compute)

    # -- plumbing --------------------------------------------------------------------------------------------------

    def sha(self, path: Path) -> str | None:
        """sha256 of a file's bytes, or None if it does not exist (the render then says what is missing)."""
        if path not in self._sha:
            try:
                self._sha[path] = hashlib.sha256(path.read_bytes()).hexdigest()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                self._sha[path] = None
        return self._sha[path]

    def _once(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """Memoised for this build only: files are read once, and never trusted across builds by mtime."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def _derived(self, kind: str, sha: str, compute: Callable[[], Any]) -> Any:
        """A fact derived from a file's content, kept on disk by content hash between builds."""
        key = f"{kind}:{sha}"
        self.used.add(key)
        if key not in self.cache:
            self.cache[key] = compute()
            self.added = True
        return self.cache[key]

    def cache_to_keep(self) -> dict[str, Any]:
        """What this build used, plus older entries while they are not the bulk (shards, other languages)."""
        unused = [k for k in self.cache if k not in self.used and k != "format"]
        keep = self.cache if len(unused) <= len(self.used) + 256 else {k: self.cache[k] for k in self.used}
        return {"format": CACHE_FORMAT, **{k: v for k, v in keep.items() if k != "format"}}


def _digest(*parts: object) -> str:
    return hashlib.sha256("\n".join(map(str, parts)).encode()).hexdigest()


def _yaml_strings(path: Path) -> list[str]:
    """Hashes of every string value in a YAML source: a superset of its translatable units.

    Cheaper than validating the leaflet (libyaml, no line tracking) and safe: a string that is not a unit
    only adds a catalog lookup that finds nothing. tests/test_batch.py checks units ⊆ strings.
    """
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    found: set[str] = set()
    todo = [yaml.load(path.read_bytes(), Loader=loader)]
    while todo:
        value = todo.pop()
        if isinstance(value, str):
            found.add(_h(value))
        elif isinstance(value, dict):
            todo += value.values()
        elif isinstance(value, list):
            todo += value
    return sorted(found)


def _template_refs(project: Project, path: Path) -> list[str | None]:
    import jinja2
    from jinja2 import meta

    from leafgen.templating import environment

    try:
        ast = environment(project.templates_dir).parse(path.read_text(encoding="utf-8"))
    except jinja2.TemplateSyntaxError:
        return [None]  # the render reports the error; depend on everything meanwhile
    return sorted(meta.find_referenced_templates(ast), key=lambda r: r or "")


def _template_msgids(path: Path) -> list[str]:
    from babel.messages.extract import extract

    from leafgen.i18n import JINJA_OPTIONS

    out: set[str] = set()
    with path.open("rb") as f:
        for _line, msg, _comments, _ctx in extract("jinja2.ext:babel_extract", f, options=JINJA_OPTIONS):
            out.update(_h(m) for m in (msg if isinstance(msg, tuple) else (msg,)) if m)
    return sorted(out)


def _catalog_entries(path: Path) -> dict[str, str]:
    from babel.messages.pofile import read_po

    catalog = read_po(io.BytesIO(path.read_bytes()), abort_invalid=True)
    out: dict[str, str] = {}
    for m in catalog:
        if m.id:
            msgid = m.id if isinstance(m.id, str) else m.id[0]
            out[_h(msgid)] = _h(json.dumps([m.string, m.fuzzy]))
    return out


def fingerprint(project: Project, job) -> str:  # noqa: ANN001
    """Hash of every input a PDF depends on: change one and only the PDFs that use it rebuild."""
    return Fingerprints(project)(job)


def _read_cache(out_dir: Path) -> dict[str, Any]:
    try:
        cache = json.loads((out_dir / CACHE).read_text(encoding="utf-8"))
        return cache if isinstance(cache, dict) and cache.get("format") == CACHE_FORMAT else {}
    except (OSError, ValueError):
        return {}


# --- files and manifest ------------------------------------------------------------------------------------------


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


# --- running jobs ------------------------------------------------------------------------------------------------


def _run(project: Project, job, out_dir: Path, allow_fallback: bool, fp: str | None) -> Outcome:  # noqa: ANN001
    """Render and write one PDF; errors become outcomes so the rest of the batch goes on."""
    from leafgen.pipeline import render_job

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
    fingerprints = Fingerprints(project, _read_cache(out_dir))
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
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    import leafgen.pipeline  # noqa: F401 - imported once here: forked workers inherit it instead of each paying

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

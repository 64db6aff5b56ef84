"""Fingerprint a job's inputs so an up-to-date PDF is skipped, with a content-keyed cache of derived facts."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import astuple
from pathlib import Path
from typing import Any

import jinja2
import yaml
from babel.messages.extract import extract
from babel.messages.pofile import read_po
from jinja2 import meta

from leafgen import __version__
from leafgen.i18n.catalogs import catalog_path
from leafgen.i18n.extract import JINJA_OPTIONS
from leafgen.project import SOURCE_LANG, Project
from leafgen.render.templating import environment
from leafgen.text.scripts import script_for

# Facts derived from input files (msgids a source uses, templates a template imports, catalog entries),
# keyed by the file's sha256, so a no-op build parses no YAML, PO or Jinja. Deleting it only costs time.
CACHE = ".leafgen-cache.json"
CACHE_FORMAT = 1
# Only these templates (and what they import) are laid out as PDFs; email_* templates never are.
PDF_TEMPLATE = "{kind}.xml.j2"


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _font_files(lang: str) -> tuple[Path, ...]:
    """Every TTF a language's PDFs embed or fall back to (a seam for tests)."""
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
            code = Path(__file__).parent.parent / "text" / "scripts.py"
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
    try:
        ast = environment(project.templates_dir).parse(path.read_text(encoding="utf-8"))
    except jinja2.TemplateSyntaxError:
        return [None]  # the render reports the error; depend on everything meanwhile
    return sorted(meta.find_referenced_templates(ast), key=lambda r: r or "")


def _template_msgids(path: Path) -> list[str]:
    out: set[str] = set()
    with path.open("rb") as f:
        for _line, msg, _comments, _ctx in extract("jinja2.ext:babel_extract", f, options=JINJA_OPTIONS):
            out.update(_h(m) for m in (msg if isinstance(msg, tuple) else (msg,)) if m)
    return sorted(out)


def _catalog_entries(path: Path) -> dict[str, str]:
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


def read_cache(out_dir: Path) -> dict[str, Any]:
    try:
        cache = json.loads((out_dir / CACHE).read_text(encoding="utf-8"))
        return cache if isinstance(cache, dict) and cache.get("format") == CACHE_FORMAT else {}
    except (OSError, ValueError):
        return {}

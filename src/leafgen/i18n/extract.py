"""Find every translatable unit (leaflets, disclaimer, templates) and run the pybabel workflow."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

from leafgen.content.model import units
from leafgen.content.schema import load_disclaimer, load_leaflet
from leafgen.errors import CatalogError
from leafgen.i18n.catalogs import DOMAIN, UNREVIEWED, catalog_path
from leafgen.project import Project


def extract_leaflet(fileobj, keywords, comment_tags, options) -> Iterator[tuple]:  # Babel's signature
    """Babel extractor for leaflet sources: one unit per title, heading, paragraph, bullet and item."""
    path = Path(getattr(fileobj, "name", "leaflet.yaml"))
    if path.name.startswith("_"):
        d = load_disclaimer(path)
        for text, key in ((d.heading, "heading"), (d.text, "text")):
            yield getattr(text, "line", 0), None, str(text), [f"shared disclaimer: {key}"]
        return
    leaflet, _ = load_leaflet(path)
    for u in units(leaflet):
        yield u.line, None, u.text, [f"leaflet {u.where}"]


JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true"}
# Same mappings as [tool.babel] in leafgen's pyproject.toml, for projects that keep no pyproject of their own.
# TOML, not .cfg: the .cfg section syntax "[method: pattern]" cannot name "jinja2.ext:babel_extract".
MAPPING = """\
[[mappings]]
method = "leafgen"
pattern = "leaflets/**.yaml"

[[mappings]]
method = "jinja2.ext:babel_extract"
pattern = "templates/**.j2"
extensions = "jinja2.ext.i18n"
trim_blocks = "true"
lstrip_blocks = "true"
"""


def expected_units(project: Project) -> dict[str, str]:
    """msgid → where it is used, for every unit a complete catalog must translate."""
    # Babel's extractor (and babel.messages.catalog under it) is imported where it is used, as is its front
    # end in _pybabel: every build imports this module through leafgen.api, and a build never extracts.
    from babel.messages.extract import extract_from_file

    found: dict[str, str] = {}
    for path in project.leaflet_paths():
        for u in units(load_leaflet(path)[0]):
            found.setdefault(u.text, u.where)
    d = load_disclaimer(project.disclaimer_path)
    found.setdefault(d.heading, "disclaimer")
    found.setdefault(d.text, "disclaimer")
    for path in sorted(project.templates_dir.glob("*.j2")):
        for _line, msg, _comments, _ctx in extract_from_file(
            "jinja2.ext:babel_extract", str(path), options=JINJA_OPTIONS
        ):
            for m in msg if isinstance(msg, tuple) else (msg,):
                if m:
                    found.setdefault(m, f"template {path.name}")
    return found


def run_pybabel(project: Project, action: str, lang: str | None) -> int:
    """The ordinary pybabel commands, with leafgen's mapping and paths filled in."""
    pot = project.translations_dir / f"{DOMAIN}.pot"
    tdir = str(project.translations_dir)
    if action == "extract":
        with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
            f.write(MAPPING)
        try:
            argv = [
                "extract",
                "-F",
                f.name,
                "-o",
                str(pot),
                "--no-location",
                "--project",
                "leafgen",
                "--add-comments",
                "TRANSLATORS:",
                str(project.root),
            ]
            return _pybabel(argv)
        finally:
            Path(f.name).unlink()
    if action == "init":
        if not lang:
            raise CatalogError("'leafgen i18n init' needs --lang LOCALE")
        code = _pybabel(["init", "-i", str(pot), "-d", tdir, "-l", lang])
        po = catalog_path(project, lang)
        if code == 0 and po.is_file():  # every new catalog starts on record as unreviewed
            po.write_text(f"# Medical review: {UNREVIEWED}\n" + po.read_text(encoding="utf-8"), encoding="utf-8")
        return code
    if action == "update":
        return _pybabel(["update", "-i", str(pot), "-d", tdir, "--previous"])
    return _pybabel(["compile", "-d", tdir, "--statistics"])


def _pybabel(argv: list[str]) -> int:
    # Imported here (see expected_units): pybabel's front end (optparse, configparser, logging) serves only
    # `leafgen i18n`.
    from babel.messages.frontend import CommandLineInterface

    try:
        return CommandLineInterface().run(["pybabel", *argv]) or 0
    except SystemExit as e:
        return int(e.code or 0)

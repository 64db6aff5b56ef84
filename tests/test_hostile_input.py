"""Broken and hostile input in every file a clinic, designer or translator edits: one line naming the file and line."""

from __future__ import annotations

import re
import time
import tracemalloc
from pathlib import Path

import pytest

from conftest import DATA, LEAFLET, normalise, pdf_reader, pdf_text
from leafgen import api
from leafgen.build.plan import plan
from leafgen.cli import main
from leafgen.content.schema import load_leaflet
from leafgen.errors import CatalogError, ErrorList, LeafgenError
from leafgen.i18n.catalogs import load_catalog
from leafgen.project import Project

BAD = DATA / "bad"
EXPECT_RE = re.compile(r"^(?:#|\{#) expect: (\d+): (.+?)(?: #\})?$")


def expectation(path: Path) -> tuple[int, str]:
    """First line of each bad file: 'expect: LINE: MESSAGE' (a comment in its format); LINE 0 means no line."""
    first = path.read_bytes().split(b"\n", 1)[0].decode("ascii")
    m = EXPECT_RE.match(first)
    assert m, f"{path.name} needs an 'expect: LINE: TEXT' comment as its first line"
    return int(m.group(1)), m.group(2)


def install(project: Project, kind: str, bad: Path) -> tuple[Path, list[str]]:
    """Put a bad file where a project keeps that kind of file; the build arguments that will read it."""
    if kind == "catalog":
        target = project.translations_dir / "es" / "LC_MESSAGES" / "messages.po"
        args = ["--lang", "es", "--kind", "handout"]
    elif kind == "theme":
        target, args = project.theme_path, ["--lang", "en", "--kind", "handout", "--large-print"]
    elif kind == "template":
        page = "checklist" if bad.name.startswith("checklist") else "handout"
        target, args = project.templates_dir / f"{page}.xml.j2", ["--lang", "en", "--kind", page]
    else:
        target, args = project.clinic_path, ["--lang", "en", "--kind", "handout"]
    target.write_bytes(bad.read_bytes())
    return target, args


CASES = [(kind, p) for kind in ("catalog", "theme", "template", "clinic") for p in sorted((BAD / kind).glob("*.*"))]


def test_every_kind_of_input_file_has_bad_examples():
    for kind in ("catalog", "theme", "template", "clinic"):
        assert len([c for c in CASES if c[0] == kind]) >= 5, kind


@pytest.mark.parametrize(("kind", "bad"), CASES, ids=[f"{k}/{p.name}" for k, p in CASES])
def test_bad_input_file_is_one_clean_line_naming_file_and_line(kind: str, bad: Path, project, tmp_path, capsys):
    line, message = expectation(bad)
    target, args = install(project, kind, bad)
    out = tmp_path / "out"
    started = time.monotonic()
    code = main(["build", LEAFLET, "--project", str(project.root), "--out", str(out), "--jobs", "1", *args])
    err = capsys.readouterr().err
    assert time.monotonic() - started < 20, "a bad input must not make the build hang"
    assert code == 1, err
    assert "Traceback" not in err and " at 0x" not in err, err
    where = f"{target}:{line}: " if line else f"{target}: "
    assert any(where in ln and message in ln for ln in err.splitlines()), err
    assert not list(out.rglob("*.pdf")) and not list(out.rglob("*.tmp")), "a failed build left files behind"


def test_alias_bomb_is_refused_fast_and_small():
    tracemalloc.start()
    started = time.monotonic()
    with pytest.raises(LeafgenError, match=r"bad-alias-bomb.yaml:2: YAML anchors and aliases"):
        load_leaflet(BAD / "bad-alias-bomb.yaml")
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 1 and peak < 5_000_000, (elapsed, peak)


@pytest.mark.parametrize(
    "leaflet_id", ["../../../../tmp/outside", "/etc/passwd", "x/../pins-and-needles-in-back", "_disclaimer"]
)
def test_leaflet_id_must_be_an_id_before_any_file_is_opened(leaflet_id: str, project, tmp_path, capsys):
    outside = tmp_path / "outside.yaml"  # a valid leaflet that a traversal would read
    outside.write_text(project.leaflet_path(LEAFLET).read_text(encoding="utf-8").replace(LEAFLET, "outside"))
    out = tmp_path / "deep" / "out"
    code = main(["build", leaflet_id, "--project", str(project.root), "--out", str(out), "--lang", "en"])
    err = capsys.readouterr().err
    assert code == 1 and "is not a leaflet id" in err and "Traceback" not in err, err
    assert not list(tmp_path.rglob("*.pdf"))
    with pytest.raises(LeafgenError, match="is not a leaflet id"):
        api.render(leaflet_id, project=project.root)


def test_unquoted_version_is_printed_as_written(project):
    path = project.leaflet_path(LEAFLET)
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r"version: .*", "version: 1.10", text), encoding="utf-8")
    assert "Version 1.10" in normalise(pdf_text(api.render(LEAFLET, project=project.root)))


def test_clinic_phone_is_printed_as_written(project):
    # YAML 1.1 reads 01234567 as an octal number (342391): a wrong phone number on every page.
    project.clinic_path.write_text("name: Riverside Clinic\nphone: 01234567\n", encoding="utf-8")
    text = normalise(pdf_text(api.render(LEAFLET, project=project.root)))
    assert "01234567" in text and "342391" not in text


def test_missing_glyph_in_english_content_blames_the_leaflet_line(project, tmp_path, capsys):
    path = project.leaflet_path(LEAFLET)
    lines = path.read_text(encoding="utf-8").splitlines()
    n = next(i for i, ln in enumerate(lines) if ln.startswith("title:"))
    lines[n] += " \U0001f600"  # an emoji: in no vendored font
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    code = main(
        ["build", LEAFLET, "--project", str(project.root), "--out", str(out), "--lang", "es", "--allow-fallback"]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert f"{path}:{n + 1}: no glyph for" in err and "messages.po" not in err, err


def test_checklist_subject_is_the_leaflets_checklist_title(project):
    path = project.leaflet_path(LEAFLET)
    text = path.read_text(encoding="utf-8")
    title = load_leaflet(path)[0].checklist.title
    path.write_text(text.replace(f"title: {title}", "title: Daily knee exercises", 1), encoding="utf-8")
    pdf = api.render(LEAFLET, kind="checklist", project=project.root)
    assert pdf_reader(pdf).metadata.subject == "Daily knee exercises"


def test_large_print_checklist_notes_are_at_least_16_pt():
    pdf = api.render(LEAFLET, kind="checklist", large_print=True)
    sizes: dict[str, float] = {}

    def visit(text: str, cm, tm, font, size) -> None:  # pypdf's visitor signature
        if text.strip():
            sizes[text.strip()] = min(sizes.get(text.strip(), 99.0), size * tm[3])

    for page in pdf_reader(pdf).pages:
        page.extract_text(visitor_text=visit)
    notes = {t: s for t, s in sizes.items() if t.startswith(("How often", "Safety"))}
    assert notes, sorted(sizes)[:20]
    assert min(notes.values()) >= 16, notes


def test_sandbox_error_is_one_line_without_internals(project):
    path = project.templates_dir / "handout.xml.j2"
    path.write_text(
        path.read_text().replace(
            "<title>{{ leaflet.title }}", "<title>{{ cycler.__init__.__globals__.os.popen('id').read() }}"
        )
    )
    with pytest.raises((LeafgenError, ErrorList)) as info:
        api.render(LEAFLET, project=project.root)
    assert "uid=" not in str(info.value) and len(str(info.value).splitlines()) == 1


def test_a_table_row_too_tall_for_a_page_is_not_described_by_its_sizes(project):
    # ReportLab's message about a table holds no text, only sizes: "(369.0473684210526 x 10134.79...)".
    (project.templates_dir / "checklist.xml.j2").write_text(
        '<document title="x"><grid days="7"><row name="a"><instruction>'
        + "Sit up straight. " * 1500
        + "</instruction></row></grid></document>",
        encoding="utf-8",
    )
    with pytest.raises(LeafgenError) as info:
        api.render(LEAFLET, kind="checklist", project=project.root)
    message = str(info.value)
    assert "a block is too tall to fit on one page (a table row or box)" in message, message
    assert not re.search(r"\d\.\d{6}| x \d", message), message


def test_windows_line_ends_and_byte_order_mark_are_fine(project):
    """Refusing control characters must not refuse a file saved by a Windows editor."""
    for path in (project.leaflet_path(LEAFLET), project.translations_dir / "es" / "LC_MESSAGES" / "messages.po"):
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    text = normalise(pdf_text(api.render(LEAFLET, "es", project=project.root)))
    assert "Síntomas" in text


def test_block_too_tall_for_a_page_is_one_line_without_internals(project):
    """Large sizes that pass the theme ranges and a long (but allowed) checklist row can still not fit a page."""
    theme = project.theme_path.read_text(encoding="utf-8")
    project.theme_path.write_text(
        theme.replace("body_size: 16 ", "body_size: 30 ").replace(
            "measure: 60\n  margin_mm: 14", "measure: 45\n  margin_mm: 14"
        ),
        encoding="utf-8",
    )
    path = project.leaflet_path(LEAFLET)
    text = path.read_text(encoding="utf-8")
    path.write_text(
        re.sub(
            r"(  items:\n    - id: \w+\n      instruction: ).*",
            lambda m: m.group(1) + "Sit up straight with your back supported " * 9,
            text,
            count=1,
        ),
        encoding="utf-8",
    )
    with pytest.raises(LeafgenError) as info:
        api.render(LEAFLET, kind="checklist", large_print=True, project=project.root)
    message = str(info.value)
    assert message.startswith(f"{path}: a block is too tall to fit on one page"), message
    assert " at 0x" not in message and "\n" not in message


FUZZ_FOUND = sorted((DATA / "fuzz").glob("*.yaml"))


@pytest.mark.parametrize("source", FUZZ_FOUND, ids=[p.stem for p in FUZZ_FOUND])
def test_leaflets_the_fuzzer_broke_now_render(source: Path, project) -> None:
    # Valid leaflets from bench/fuzz_render.py, reduced, that crashed the merged code. box-split-list: an urgent
    # box split across pages with a list inside; ReportLab deep-copies the list while splitting, and the copy
    # took a copy of its structure element, outside the tree ("internal error: KeyError" in tagging.finish).
    target = project.leaflets_dir / source.name
    target.write_bytes(source.read_bytes())
    pdf = api.render(source.stem, "en", "handout", project=project.root)
    reader = pdf_reader(pdf)
    assert len(reader.pages) >= 2 and "/StructTreeRoot" in reader.trailer["/Root"]
    assert "d" * 200 in normalise(pdf_text(pdf)).replace(" ", "")


def test_library_refuses_a_language_the_project_does_not_ship(project, tmp_path):
    """A `lang` is a folder name: the library checked kind and paper but not the language, so a path read a catalog
    from outside the project (then crashed in date formatting). Every entry point refuses it in one line."""
    outside = tmp_path / "rvpo" / "LC_MESSAGES"
    outside.mkdir(parents=True)
    (outside / "messages.po").write_bytes((project.translations_dir / "es/LC_MESSAGES/messages.po").read_bytes())
    hidden = project.translations_dir / ".es" / "LC_MESSAGES"  # not a language: languages() never lists it
    hidden.mkdir(parents=True)
    (hidden / "messages.po").write_bytes((project.translations_dir / "es/LC_MESSAGES/messages.po").read_bytes())
    for lang in ("../../rvpo", "../../../tmp/rvpo", "de", "", "./es", "es/", "es/../es", ".es", "es\0"):
        assert not project.ships(lang)
        for render in (api.render, api.render_document):
            for where in (project.root, project):
                with pytest.raises(CatalogError, match=r"translations: unknown language .* \(shipped: en, ar, "):
                    render(LEAFLET, lang, project=where)
    with pytest.raises(CatalogError, match="unknown language '../../rvpo'"):
        plan(project, [LEAFLET], ["../../rvpo"], ["handout"], ["a4"])
    with pytest.raises(CatalogError, match="unknown language '../../rvpo'"):  # status, check: catalogs by name
        load_catalog(project, "../../rvpo")


@pytest.mark.parametrize("folder", ["Spanish", "es-ES", "xx", "es_ES.UTF-8", "ES"])
def test_wrongly_named_catalog_folder_is_one_line_naming_it(folder, project, tmp_path, capsys):
    """translations/Spanish/LC_MESSAGES/messages.po made list, build and check say 'internal error' (Babel's
    UnknownLocaleError), and would have stopped the desk at start; the other languages still work."""
    (project.translations_dir / "es").rename(project.translations_dir / folder)
    where = f"{project.translations_dir / folder}: "
    out = tmp_path / "out"
    for argv in (
        ["list"],
        ["check", "--jobs", "1"],
        ["build", "--out", str(out), "--kind", "handout", "--jobs", "1"],
    ):
        code = main([*argv, "--project", str(project.root)])
        err = capsys.readouterr().err
        assert code == 1, (argv, err)
        assert "internal error" not in err and "Traceback" not in err, (argv, err)
        lines = [ln for ln in err.splitlines() if where in ln]
        assert lines and all("not a locale" in ln for ln in lines), (argv, err)
    assert (out / LEAFLET / "ar").is_dir() and not (out / LEAFLET / folder).exists()
    names = {lang.code: lang for lang in api.languages(project)}
    assert names[folder].error.startswith(where) and names["ar"].complete and not names["ar"].error
    assert len(api.catalogue(project)) == 1

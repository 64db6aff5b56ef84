"""Batch builds: incremental rebuilds per input, parallel = serial bytes, shards and merge, failures kept apart."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import leafgen
import leafgen.build.executor as build_mod
import leafgen.render.pipeline
from conftest import LEAFLET, copy_project, edit_catalog
from leafgen.build.executor import build
from leafgen.build.fingerprint import CACHE
from leafgen.build.manifest import MANIFEST, merge_manifests, read_manifest
from leafgen.build.plan import plan, relative_path, shard
from leafgen.cli import main
from leafgen.errors import LeafgenError
from leafgen.project import Project

SECOND = "second-leaflet"
SECOND_TITLE = "Pins and needles in the back, second edition"
LANGS = ["en", "ar"]
KINDS = ["handout", "checklist"]


def set_translation(catalog, msgid: str, text: str) -> None:
    if msgid in catalog:
        catalog[msgid].string = text
        catalog[msgid].flags.discard("fuzzy")
    else:
        catalog.add(msgid, text)


def two_leaflet_project(root: Path) -> Project:
    """The shipped project plus a second leaflet: same strings but its own title, translated into Arabic."""
    project = copy_project(root)
    source = (project.leaflets_dir / f"{LEAFLET}.yaml").read_text(encoding="utf-8")
    second = source.replace(f"id: {LEAFLET}", f"id: {SECOND}", 1)
    second = second.replace("title: Pins and needles in the back\n", f"title: {SECOND_TITLE}\n", 1)
    assert second.count(SECOND_TITLE) == 1
    (project.leaflets_dir / f"{SECOND}.yaml").write_text(second, encoding="utf-8")
    edit_catalog(project, "ar", lambda c: set_translation(c, SECOND_TITLE, "وخز الإبر في الظهر، الطبعة الثانية"))
    return project


def jobs_for(project: Project, papers=("a4",)) -> list:
    return plan(project, [LEAFLET, SECOND], LANGS, KINDS, list(papers))


def run_build(root: Path, out: Path, **kw) -> build_mod.Summary:
    project = Project(root)  # fresh: Project caches the clinic profile and theme
    kw.setdefault("allow_fallback", True)  # translators may be mid-edit: the gate is not what is tested here
    return build(project, jobs_for(project, kw.pop("papers", ("a4",))), out, **kw)


def built(summary: build_mod.Summary) -> set[str]:
    return {o.entry["path"] for o in summary.outcomes if o.status == "built"}


def paths(leaflets=(LEAFLET, SECOND), langs=LANGS, kinds=KINDS) -> set[str]:
    return {f"{lf}/{lang}/{lf}-{kind}-a4.pdf" for lf in leaflets for lang in langs for kind in kinds}


def assert_manifest_matches_disk(out: Path) -> dict[str, dict]:
    manifest = read_manifest(out)
    for rel, entry in manifest.items():
        assert hashlib.sha256((out / rel).read_bytes()).hexdigest() == entry["sha256"], rel
    return manifest


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> tuple[Path, Path]:
    """Two leaflets × en, ar × handout, checklist, built once; each test works on a copy."""
    base = tmp_path_factory.mktemp("baseline")
    two_leaflet_project(base / "project")
    summary = run_build(base / "project", base / "out")
    assert summary.count("built") == 8 and summary.ok, [o.error for o in summary.outcomes]
    return base / "project", base / "out"


@pytest.fixture
def built_copy(baseline, tmp_path) -> tuple[Path, Path]:
    root, out = tmp_path / "project", tmp_path / "out"
    shutil.copytree(baseline[0], root)
    shutil.copytree(baseline[1], out)
    return root, out


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


# --- incremental -------------------------------------------------------------------------------------------------


def test_nothing_changed_renders_nothing(built_copy, monkeypatch):
    """A moved project (this is a copy) with untouched inputs is up to date; nothing is even rendered."""

    def no_render(*a, **k):
        raise AssertionError("rendered although nothing changed")

    monkeypatch.setattr(build_mod, "render_job", no_render)
    root, out = built_copy
    summary = run_build(root, out)
    assert summary.count("skipped") == 8 and summary.ok


TOUCHES = {
    # input touched -> PDFs that must be rebuilt (and no others)
    "leaflet source": (lambda p: append(p.leaflets_dir / f"{SECOND}.yaml", "# edited\n"), paths(leaflets=[SECOND])),
    "disclaimer": (lambda p: append(p.disclaimer_path, "# edited\n"), paths()),
    "handout template": (
        lambda p: append(p.templates_dir / "handout.xml.j2", "{# edited #}\n"),
        paths(kinds=["handout"]),
    ),
    "checklist template": (
        lambda p: append(p.templates_dir / "checklist.xml.j2", "{# edited #}\n"),
        paths(kinds=["checklist"]),
    ),
    "shared macros": (lambda p: append(p.templates_dir / "_macros.xml.j2", "{# edited #}\n"), paths()),
    "email template": (lambda p: append(p.templates_dir / "email_body.html.j2", "{# edited #}\n"), set()),
    "templates README": (lambda p: append(p.templates_dir / "README.md", "\nedited\n"), set()),
    "theme": (lambda p: append(p.theme_path, "# edited\n"), paths()),
    "clinic profile": (
        lambda p: p.clinic_path.write_text(p.clinic_path.read_text().replace("Your clinic", "Riverside Clinic")),
        paths(),
    ),
    "catalog entry of one leaflet": (
        lambda p: edit_catalog(p, "ar", lambda c: set_translation(c, SECOND_TITLE, "وخز في الظهر (٢)")),
        paths(leaflets=[SECOND], langs=["ar"]),
    ),
    "catalog entry both leaflets use": (
        lambda p: edit_catalog(p, "ar", lambda c: set_translation(c, "Symptoms", "أعراض المرض")),
        paths(langs=["ar"]),
    ),
    "catalog entry of the handout template": (
        lambda p: edit_catalog(p, "ar", lambda c: set_translation(c, "About this leaflet", "حول هذه النشرة")),
        paths(langs=["ar"], kinds=["handout"]),
    ),
    "catalog entry no PDF uses": (
        lambda p: edit_catalog(p, "ar", lambda c: set_translation(c, "A sentence no leaflet has", "جملة")),
        set(),
    ),
    "catalog header and layout only": (
        lambda p: append(p.translations_dir / "ar" / "LC_MESSAGES" / "messages.po", "\n\n# a comment\n"),
        set(),
    ),
    "another language's catalog": (
        lambda p: edit_catalog(p, "zh_Hans", lambda c: set_translation(c, "Symptoms", "症状表现")),
        set(),
    ),
}


@pytest.mark.parametrize("touch", list(TOUCHES))
def test_touching_an_input_rebuilds_exactly_the_pdfs_that_use_it(built_copy, touch):
    root, out = built_copy
    change, expected = TOUCHES[touch]
    before = read_manifest(out)
    change(Project(root))
    summary = run_build(root, out)
    assert summary.ok, [o.error for o in summary.outcomes]
    assert built(summary) == expected
    assert summary.count("skipped") == 8 - len(expected)
    after = assert_manifest_matches_disk(out)
    for rel in paths() - expected:
        assert after[rel] == before[rel]
    assert run_build(root, out).count("skipped") == 8  # and then it is up to date again


def test_catalog_edit_reaches_the_rebuilt_pdf(built_copy):
    root, out = built_copy
    rel = f"{SECOND}/ar/{SECOND}-handout-a4.pdf"
    old = read_manifest(out)[rel]["sha256"]
    edit_catalog(Project(root), "ar", lambda c: set_translation(c, SECOND_TITLE, "عنوان جديد تماما"))
    run_build(root, out)
    assert read_manifest(out)[rel]["sha256"] != old


# --- leafgen's own code and fonts: a copy of the package, run as a clinic would run an upgraded install ---------------


@pytest.fixture
def package_copy(built_copy, tmp_path) -> Path:
    """A private copy of the installed leafgen package (code and fonts) that a test may change."""
    dest = tmp_path / "site"
    shutil.copytree(
        Path(leafgen.__file__).parent, dest / "leafgen", symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
    )
    return dest


def build_with(site: Path, root: Path, out: Path) -> str:
    """`leafgen build` from the package copy in site, in a fresh process, as after an upgrade in place."""
    argv = ["build", LEAFLET, SECOND, "--project", str(root), "--out", str(out), "--lang", "en,ar", "--paper", "a4",
            "--allow-fallback", "--jobs", "1"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run([sys.executable, "-m", "leafgen", *argv], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_package_copy_is_what_runs(package_copy, built_copy):
    env = {**os.environ, "PYTHONPATH": str(package_copy)}
    where = subprocess.run([sys.executable, "-c", "import leafgen; print(leafgen.__file__)"], env=env,
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert where.startswith(str(package_copy))
    assert "0 built, 8 skipped" in build_with(package_copy, *built_copy)  # same code: up to date


def test_code_change_rebuilds_everything(package_copy, built_copy):
    """Issue 9, defect 1: a changed constant in pdf.py gave "0 built" and stale PDFs."""
    pdf_py = package_copy / "leafgen" / "render" / "pdf.py"
    pdf_py.write_text(pdf_py.read_text(encoding="utf-8") + "\nUNUSED_CONSTANT = 2\n", encoding="utf-8")
    assert "8 built, 0 skipped" in build_with(package_copy, *built_copy)
    assert "0 built, 8 skipped" in build_with(package_copy, *built_copy)


def test_font_change_rebuilds_only_the_languages_that_use_it(package_copy, built_copy):
    root, out = built_copy
    arabic = next((package_copy / "leafgen" / "text" / "fonts").glob("NotoSansArabic-Regular*.ttf"))
    with arabic.open("ab") as f:
        f.write(b"\0")  # a new release of the font: same glyphs, other bytes
    before = read_manifest(out)
    assert "4 built, 4 skipped" in build_with(package_copy, root, out)
    after = read_manifest(out)
    assert {rel for rel in after if after[rel]["fingerprint"] != before[rel]["fingerprint"]} == paths(langs=["ar"])


# --- the build cache -----------------------------------------------------------------------------------------------


def test_corrupted_cache_entry_is_reported_once_and_rebuilt(built_copy, capsys):
    """Issue 9, defect 2: a damaged entry made its PDFs rebuild on every run, with "fingerprint": null, silently."""
    root, out = built_copy
    header, body = (out / CACHE).read_text().split("\n", 1)
    cache = json.loads(body)
    ar_handout = read_manifest(out)[f"{LEAFLET}/ar/{LEAFLET}-handout-a4.pdf"]["fingerprint"]
    cache["deps"][ar_handout]["code"] = "0" * 32  # damage one entry: it no longer says what its key says
    (out / CACHE).write_text(header + "\n" + json.dumps(cache))
    argv = ["build", LEAFLET, SECOND, "--project", str(root), "--out", str(out), "--lang", "en,ar", "--paper", "a4",
            "--allow-fallback", "--jobs", "1"]  # fmt: skip
    assert main(argv) == 0
    stdout, err = capsys.readouterr()
    assert err.count("warning") == 1 and f"{CACHE}: build cache was damaged" in err, err
    assert "1 built, 7 skipped" in stdout  # only the PDF whose entry was damaged
    assert all(e["fingerprint"] for e in read_manifest(out).values())
    assert main(argv) == 0
    stdout, err = capsys.readouterr()
    assert "0 built, 8 skipped" in stdout and err == ""  # repaired: said once, not on every run


def test_unreadable_cache_is_reported_and_replaced(built_copy):
    root, out = built_copy
    (out / CACHE).write_text("{not json")
    summary = run_build(root, out)
    assert summary.count("built") == 8 and len(summary.warnings) == 1 and "damaged" in summary.warnings[0]
    summary = run_build(root, out)
    assert summary.count("skipped") == 8 and summary.warnings == []


def test_deleted_cache_rebuilds_without_a_warning(built_copy):
    root, out = built_copy
    (out / CACHE).unlink()
    summary = run_build(root, out)
    assert summary.count("built") == 8 and summary.warnings == []


def test_force_rebuilds_everything_to_the_same_bytes(built_copy):
    root, out = built_copy
    before = read_manifest(out)
    summary = run_build(root, out, force=True)
    assert built(summary) == paths()
    assert read_manifest(out) == before


def test_deleted_pdf_is_rebuilt(built_copy):
    root, out = built_copy
    rel = f"{LEAFLET}/en/{LEAFLET}-checklist-a4.pdf"
    (out / rel).unlink()
    assert built(run_build(root, out)) == {rel}


def test_manifest_forgets_pdfs_deleted_outside_the_build(built_copy):
    root, out = built_copy
    rel = f"{SECOND}/ar/{SECOND}-handout-a4.pdf"
    (out / rel).unlink()
    project = Project(root)
    summary = build(project, plan(project, [LEAFLET], ["en"], KINDS, ["a4"]), out)  # rel is not in this plan
    assert summary.count("skipped") == 2
    assert rel not in assert_manifest_matches_disk(out) and len(read_manifest(out)) == 7


def test_fallback_pdf_is_not_kept_silently_once_fallback_is_not_allowed(built_copy):
    root, out = built_copy
    edit_catalog(Project(root), "ar", lambda c: set_translation(c, "Symptoms", ""))
    summary = run_build(root, out, allow_fallback=True)
    assert built(summary) == paths(langs=["ar"])
    assert all(read_manifest(out)[rel]["fallback"] for rel in paths(langs=["ar"]))
    summary = run_build(root, out, allow_fallback=False)
    assert summary.count("refused") == 4 and summary.count("skipped") == 4 and not summary.ok
    # Issue 10, defect 3: a refused job withdraws its earlier PDF, so nothing stale or half-English stays printable.
    assert set(summary.removed) == paths(langs=["ar"])
    assert set(assert_manifest_matches_disk(out)) == paths(langs=["en"])
    assert not any((out / rel).exists() for rel in paths(langs=["ar"]))


def test_withdrawn_leaflet_and_language_leave_nothing_printable(built_copy, capsys):
    """A leaflet or language taken out of the project takes its PDFs with it, even from a build filtered to other
    languages and kinds (those PDFs can never be rebuilt): nothing stale stays printable or in the manifest."""
    root, out = built_copy
    (root / "leaflets" / f"{SECOND}.yaml").unlink()
    shutil.rmtree(root / "translations" / "ar")
    gone = paths() - paths(leaflets=[LEAFLET], langs=["en"])
    code = main(["build", "--project", str(root), "--out", str(out), "--lang", "en", "--kind", "handout"])
    stdout, err = capsys.readouterr()
    assert code == 0 and "1 skipped" in stdout and f"{len(gone)} removed" in stdout
    assert "no longer in the project" in err and all(str(out / rel) in err for rel in gone)
    assert set(assert_manifest_matches_disk(out)) == paths(leaflets=[LEAFLET], langs=["en"])
    assert not any((out / rel).exists() for rel in gone)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.pdf")) == sorted(paths([LEAFLET], ["en"]))


# --- parallel, shards, merge -------------------------------------------------------------------------------------


def test_two_workers_write_the_same_bytes_as_one(tmp_path):
    root = tmp_path / "project"
    two_leaflet_project(root)
    one = run_build(root, tmp_path / "one", workers=1, papers=("a4", "letter"))
    two = run_build(root, tmp_path / "two", workers=2, papers=("a4", "letter"))
    assert one.count("built") == two.count("built") == 16
    m1, m2 = read_manifest(tmp_path / "one"), read_manifest(tmp_path / "two")
    assert m1 == m2
    for rel in m1:
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes()
    assert (tmp_path / "one" / MANIFEST).read_bytes() == (tmp_path / "two" / MANIFEST).read_bytes()


def test_shards_are_disjoint_and_cover_the_plan(project):
    jobs = plan(project, [LEAFLET], project.languages(), KINDS, ["a4", "letter"])
    for n in (1, 2, 3, 7, len(jobs) + 2):
        slices = [[relative_path(j) for j in shard(jobs, f"{k}/{n}")] for k in range(1, n + 1)]
        flat = [rel for s in slices for rel in s]
        assert len(flat) == len(set(flat)) == len(jobs)
        assert set(flat) == {relative_path(j) for j in jobs}
        assert max(map(len, slices)) - min(map(len, slices)) <= 1  # balanced


@pytest.mark.parametrize("spec", ["0/2", "3/2", "2", "a/b", "1/0", ""])
def test_bad_shard_spec_is_a_user_error(spec):
    with pytest.raises(LeafgenError, match="--shard takes K/N"):
        shard([], spec)


def test_shard_builds_merge_into_the_full_manifest(tmp_path, capsys):
    root = tmp_path / "project"
    two_leaflet_project(root)
    full = tmp_path / "full"
    run_build(root, full)
    outs = []
    for k in (1, 2, 3):
        out = tmp_path / f"out-{k}"
        code = main(
            ["build", LEAFLET, SECOND, "--project", str(root), "--out", str(out), "--lang", "en,ar",
             "--paper", "a4", "--allow-fallback", "--jobs", "1", "--shard", f"{k}/3"]
        )  # fmt: skip
        assert code == 0, capsys.readouterr().err
        outs.append(out)
    capsys.readouterr()
    assert sum(len(read_manifest(o)) for o in outs) == 8
    merged = tmp_path / "merged" / "manifest.json"
    assert main(["manifest", "merge", str(merged), *map(str, outs)]) == 0
    assert "merged 3 manifest(s), 8 PDF(s)" in capsys.readouterr().out
    assert read_manifest(merged) == read_manifest(full)
    # Merging a shard with itself, or with the full build, is harmless: same paths, same bytes.
    assert merge_manifests([outs[0], outs[0], full]) == read_manifest(full)


def test_merge_refuses_conflicting_entries_and_writes_nothing(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    entry = {"path": "x/en/x-handout-a4.pdf", "sha256": "1" * 64, "fingerprint": "f"}
    a.write_text(json.dumps({"pdfs": [entry, {"path": "y.pdf", "sha256": "2" * 64}]}))
    b.write_text(json.dumps({"pdfs": [{**entry, "sha256": "3" * 64}]}))
    merged = tmp_path / "merged.json"
    assert main(["manifest", "merge", str(merged), str(a), str(b)]) == 1
    err = capsys.readouterr().err
    assert "b.json: conflicting entries for x/en/x-handout-a4.pdf: sha256 333333333333 here, 111111111111" in err
    assert not merged.exists()
    assert main(["manifest", "merge", str(merged), str(a), str(tmp_path / "missing")]) == 1
    assert "missing/manifest.json: no manifest here" in capsys.readouterr().err
    (tmp_path / "junk.json").write_text("[1, 2]")
    assert main(["manifest", "merge", str(merged), str(tmp_path / "junk.json")]) == 1
    assert "not a leafgen manifest" in capsys.readouterr().err and not merged.exists()


# --- failures ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_failing_leaflet_leaves_the_others_and_the_manifest_right(built_copy, workers):
    root, out = built_copy
    before = read_manifest(out)
    append(root / "leaflets" / f"{SECOND}.yaml", "sections: [\n")  # broken YAML
    append(root / "leaflets" / f"{LEAFLET}.yaml", "# edited\n")  # so the good one is rebuilt alongside
    summary = run_build(root, out, workers=workers)
    assert summary.count("failed") == 4 and summary.count("built") == 4 and not summary.ok
    assert all(f"{SECOND}.yaml" in o.error for o in summary.outcomes if o.status == "failed")
    assert built(summary) == paths(leaflets=[LEAFLET])
    after = assert_manifest_matches_disk(out)
    # Issue 10, defect 3: the broken leaflet's earlier PDFs are withdrawn (folder and manifest), and said so.
    assert set(summary.removed) == paths(leaflets=[SECOND])
    assert set(after) == paths(leaflets=[LEAFLET]) and after != before
    assert not any((out / rel).exists() for rel in paths(leaflets=[SECOND]))
    # Still out of date: the next build tries again rather than skipping the broken leaflet.
    assert run_build(root, out, workers=workers).count("failed") == 4


def test_failing_language_and_unexpected_errors_do_not_stop_the_rest(tmp_path, monkeypatch, capsys):
    """A user error is one line; a bug (issue 9, defect 3) says it is one, and --debug shows its traceback."""
    root = tmp_path / "project"
    project = two_leaflet_project(root)
    po = project.translations_dir / "ar" / "LC_MESSAGES" / "messages.po"
    po.write_text(po.read_text(encoding="utf-8").replace('msgid "Symptoms"', 'msgid_typo "Symptoms"', 1))
    real = leafgen.render.pipeline.render_job

    def flaky(project, job, **kw):
        if job.leaflet == SECOND and job.lang == "en" and job.kind == "checklist":
            raise RuntimeError("simulated crash")
        return real(project, job, **kw)

    monkeypatch.setattr(build_mod, "render_job", flaky)  # in this process: --jobs 1
    out = tmp_path / "out"
    argv = ["build", "--project", str(root), "--out", str(out), "--lang", "en,ar", "--paper", "a4", "--jobs", "1"]
    code = main(argv)
    stdout, err = capsys.readouterr()
    assert code == 1
    assert "3 built, 0 skipped, 0 refused, 5 failed" in stdout
    assert err.count("messages.po") == 1 and "broken catalog" in err  # one broken catalog, said once, not 4 times
    assert f"internal error: {SECOND}/en/{SECOND}-checklist-a4.pdf: RuntimeError: simulated crash" in err
    assert "bug in leafgen; run with --debug" in err and "Traceback" not in err
    manifest = assert_manifest_matches_disk(out)
    assert set(manifest) == paths(langs=["en"]) - {f"{SECOND}/en/{SECOND}-checklist-a4.pdf"}
    assert not list(out.rglob("*.tmp"))
    for debug in (["--debug"], []):
        monkeypatch.setenv("LEAFGEN_DEBUG", "0" if debug else "1")
        assert main([*debug, *argv]) == 1
        err = capsys.readouterr().err
        assert "Traceback (most recent call last)" in err and 'raise RuntimeError("simulated crash")' in err


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_parallel_build_works_under_every_start_method(tmp_path, method):
    """Issue 9, defect 6: forkserver is Python 3.14's default on Linux; spawn is macOS's and Windows'."""
    root = tmp_path / "project"
    two_leaflet_project(root)
    serial = run_build(root, tmp_path / "serial", workers=1)
    project = Project(root)
    parallel = build(project, jobs_for(project), tmp_path / method, workers=2, allow_fallback=True, start_method=method)
    assert parallel.ok and parallel.count("built") == 8, [o.error for o in parallel.outcomes]
    assert read_manifest(tmp_path / method) == read_manifest(tmp_path / "serial") and serial.ok
    for rel in paths():
        assert (tmp_path / method / rel).read_bytes() == (tmp_path / "serial" / rel).read_bytes()


def test_jobs_are_capped_at_the_work_and_validated(built_copy, monkeypatch):
    """Issue 10, defect 10: `-j 300` started 300 processes for 2 PDFs."""
    root, out = built_copy
    started = []
    real = concurrent.futures.ProcessPoolExecutor  # the executor imports it when it starts a pool

    def counting(workers, **kw):
        started.append(workers)
        return real(workers, **kw)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", counting)
    project = Project(root)
    summary = build(project, plan(project, [LEAFLET], ["en"], KINDS, ["a4"]), out, workers=300, force=True)
    assert summary.count("built") == 2 and started == [2]
    for bad in (0, -1):
        with pytest.raises(LeafgenError, match="--jobs must be at least 1"):
            build(project, [], out, workers=bad)


def test_outputs_respect_the_umask(tmp_path):
    """Issue 10, defect 12: PDFs and the manifest were 0600 whatever the umask: a shared print folder could not
    read them."""
    root = tmp_path / "project"
    copy_project(root)
    old = os.umask(0o022)
    try:
        project = Project(root)
        build(project, plan(project, [LEAFLET], ["en"], ["handout"], ["a4"]), tmp_path / "out")
    finally:
        os.umask(old)
    for path in (tmp_path / "out" / MANIFEST, tmp_path / "out" / f"{LEAFLET}/en/{LEAFLET}-handout-a4.pdf"):
        assert path.stat().st_mode & 0o777 == 0o644, path


def test_summary_line_is_quiet_off_a_terminal(built_copy, capsys):
    root, out = built_copy
    code = main(["build", LEAFLET, "--project", str(root), "--out", str(out), "--lang", "en", "--paper", "a4"])
    stdout, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert stdout.startswith("leafgen: 0 built, 2 skipped, 0 refused, 0 failed in ") and stdout.count("\n") == 1


@pytest.mark.parametrize("dependency", ["uharfbuzz", "python-bidi", "arabic-reshaper", "rl-accel"])
def test_any_runtime_dependency_upgrade_rebuilds_everything(dependency, monkeypatch):
    """Only reportlab, jinja2, babel and yaml were in the fingerprint: a new uharfbuzz (shaping) or python-bidi
    (line order) changed PDFs and rebuilt nothing."""
    import importlib.metadata

    from leafgen.build.fingerprint import code_digest

    code_digest.cache_clear()
    before = code_digest()
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "99.0" if name == dependency else real(name))
    code_digest.cache_clear()
    try:
        assert code_digest() != before
    finally:
        code_digest.cache_clear()

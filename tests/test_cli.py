"""The leafgen command: help, exit codes, manifest, and one-line errors that leave nothing half-written."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import LEAFLET, ROOT, edit_catalog
from leafgen.cli import main
from leafgen.project import Project, write_atomic


def run(*argv: str, capsys) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def build_in(project, out: Path, *argv: str, capsys) -> tuple[int, str, str]:
    return run("build", "--project", str(project.root), "--out", str(out), "--jobs", "1", *argv, capsys=capsys)


@pytest.mark.parametrize("command", [[], ["build"], ["list"], ["check"], ["i18n"]])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert "usage: leafgen" in capsys.readouterr().out


def test_python_dash_m_works():
    result = subprocess.run([sys.executable, "-m", "leafgen", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("leafgen ")


def test_build_writes_pdfs_and_manifest(project, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, err = build_in(
        project,
        out,
        "--lang",
        "en",
        "--paper",
        "a4,letter",
        "--jobs",
        "1",
        capsys=capsys,
    )
    assert code == 0, err
    assert "4 built, 0 skipped, 0 refused, 0 failed" in stdout
    manifest = json.loads((out / "manifest.json").read_text())["pdfs"]
    assert {(e["kind"], e["paper"]) for e in manifest} == {
        (k, p) for k in ("handout", "checklist") for p in ("a4", "letter")
    }
    for entry in manifest:
        pdf = (out / entry["path"]).read_bytes()
        assert pdf.startswith(b"%PDF-")
        assert entry["sha256"] == hashlib.sha256(pdf).hexdigest()
        assert entry["leaflet"] == LEAFLET and entry["lang"] == "en" and entry["pages"] >= 1
        assert entry["large_print"] is False and entry["fillable"] is False and entry["fallback"] is False


def test_default_paper_comes_from_clinic_profile(project, tmp_path, capsys):
    project.clinic_path.write_text("name: Riverside Clinic\nphone: 01234 567890\ndefault_paper: letter\n")
    out = tmp_path / "out"
    code, _, err = build_in(project, out, "--lang", "en", "--kind", "handout", capsys=capsys)
    assert code == 0, err
    [entry] = json.loads((out / "manifest.json").read_text())["pdfs"]
    assert entry["paper"] == "letter"


def test_a_repeated_option_adds_to_the_list(project, tmp_path, capsys):
    # `--lang ko --lang hi` built Hindi only: argparse kept the last value and said nothing.
    out = tmp_path / "out"
    code, _, err = build_in(project, out, "--lang", "en", "--lang", "fr,es", "--kind", "handout", capsys=capsys)
    assert code == 0, err
    built = {e["lang"] for e in json.loads((out / "manifest.json").read_text())["pdfs"]}
    assert built == {"en", "fr", "es"}


def assert_failed_cleanly(code: int, err: str, out: Path, *needles: str) -> None:
    assert code == 1
    assert "Traceback" not in err
    first = err.splitlines()[0]
    assert first.startswith("leafgen: "), err
    for needle in needles:
        assert needle in err, err
    assert not list(out.rglob("*.pdf")) and not list(out.rglob("*.tmp"))


def test_unknown_language(project, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = build_in(project, out, "--lang", "xx", capsys=capsys)
    assert_failed_cleanly(code, err, out, "unknown language 'xx'", "translations")
    assert len(err.splitlines()) == 1


def test_unknown_leaflet(project, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run("build", "nope", "--project", str(project.root), "--out", str(out), capsys=capsys)
    assert_failed_cleanly(code, err, out, "unknown leaflet 'nope'")


def test_broken_template_names_file_and_line(project, tmp_path, capsys):
    path = project.templates_dir / "handout.xml.j2"
    lines = path.read_text().splitlines()
    lines[5] = "{% for x in %}"
    path.write_text("\n".join(lines))
    out = tmp_path / "out"
    code, _, err = build_in(project, out, "--lang", "en", "--kind", "handout", capsys=capsys)
    assert_failed_cleanly(code, err, out, "handout.xml.j2:6: template syntax error")


def test_template_emitting_unknown_layout_is_refused(project, tmp_path, capsys):
    path = project.templates_dir / "checklist.xml.j2"
    path.write_text(path.read_text().replace("<fields>", "<blink/><fields>"))
    out = tmp_path / "out"
    code, _, err = build_in(project, out, "--lang", "en", "--kind", "checklist", capsys=capsys)
    assert_failed_cleanly(code, err, out, "checklist.xml.j2:8: unknown layout element <blink>")


def test_broken_catalog_names_file_and_line(project, tmp_path, capsys):
    po = project.translations_dir / "fr" / "LC_MESSAGES" / "messages.po"
    text = po.read_text().splitlines()
    n = next(i for i, ln in enumerate(text) if ln.startswith("msgid") and i > 20)
    text[n] = "msgid_typo " + text[n][len("msgid ") :]
    po.write_text("\n".join(text) + "\n")
    out = tmp_path / "out"
    code, _, err = build_in(project, out, "--lang", "fr", capsys=capsys)
    assert_failed_cleanly(code, err, out, f"messages.po:{n + 1}: broken catalog")


def test_missing_glyph_names_character_unit_and_language(project, tmp_path, capsys):
    """A Chinese character in the Polish catalog has no glyph in Noto Sans: refuse, never an empty box."""

    def edit(catalog) -> None:
        catalog["Important"].string = "Ważne 重要"

    edit_catalog(project, "pl", edit)
    out = tmp_path / "out"
    code, _, err = build_in(
        project,
        out,
        "--lang",
        "pl",
        "--kind",
        "handout",
        "--allow-fallback",
        capsys=capsys,
    )
    assert_failed_cleanly(code, err, out, "no glyph for '重' (U+91CD)", "'pl'", "pl/LC_MESSAGES/messages.po")


def test_missing_font_file_is_an_error(project, tmp_path):
    """A fresh process (fonts register once per process) whose font folder lacks the Arabic face."""
    out = tmp_path / "out"
    script = (
        "import sys; from pathlib import Path; import leafgen.text.scripts as s; s.FONT_DIR = Path(sys.argv[1]);"
        "from leafgen.cli import main;"
        "sys.exit(main(['build', '--project', sys.argv[2], '--out', sys.argv[3], '--lang', 'ar', '--jobs', '1']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "no-fonts"), str(project.root), str(out)],
        capture_output=True,
        text=True,
    )
    assert_failed_cleanly(result.returncode, result.stderr, out, "no-fonts/NotoSans", ".ttf: font file for")


def test_list_shows_leaflets_and_languages_in_their_own_names(capsys):
    code, out, _ = run("list", "--project", str(ROOT), capsys=capsys)
    assert code == 0
    assert LEAFLET in out
    for name in ("English", "español", "français", "polski", "Tiếng Việt", "українська", "العربية", "中文"):
        assert name in out, name
    assert "not yet reviewed by a qualified medical translator" in out


def test_check_reports_reading_level_and_passes_on_shipped(capsys):
    code, out, err = run("check", "--project", str(ROOT), capsys=capsys)
    assert code == 0, err
    assert "reading grade" in out and "0 error(s)" in out


def one_language_per_script(project: Project) -> None:
    """`check` renders every language ten times over: tests of what it finds need one language of each kind."""
    for po_dir in project.translations_dir.iterdir():
        if po_dir.is_dir() and po_dir.name not in ("es", "ar", "zh_Hans", "hi"):
            shutil.rmtree(po_dir)


def test_check_fails_on_broken_leaflet(project, capsys):
    one_language_per_script(project)
    (project.leaflets_dir / "broken.yaml").write_text("id: broken\ntitle: [\n")
    code, _, err = run("check", "--project", str(project.root), capsys=capsys)
    assert code == 1 and "broken.yaml:3: invalid YAML" in err


def test_atomic_write_leaves_nothing_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "a" / "x.pdf"

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_atomic(target, b"%PDF-1.4 ...")
    assert list(target.parent.iterdir()) == []


def test_macro_imported_without_context_is_refused(project, tmp_path, capsys):
    """Its strings would skip translation and the gate: refuse rather than print English silently."""
    path = project.templates_dir / "handout.xml.j2"
    path.write_text(path.read_text().replace(" with context %}", " %}"))
    out = tmp_path / "out"
    code, _, err = build_in(project, out, "--lang", "en", "--kind", "handout", capsys=capsys)
    assert_failed_cleanly(code, err, out, "outside the render context")


# --- arguments a user can get wrong (issue 10, defects 9 and 13) ----------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lang", ""], "--lang: expected a comma-separated list, not ''"),
        (["--paper", ","], "--paper: expected a comma-separated list, not ','"),
        (["--kind", " , "], "--kind: expected a comma-separated list"),
        (["--jobs", "0"], "--jobs/-j: must be at least 1, not 0"),
        (["--jobs", "-1"], "--jobs/-j: must be at least 1, not -1"),
        (["--jobs", "many"], "--jobs/-j: expected a whole number, not 'many'"),
    ],
)
def test_empty_or_impossible_arguments_are_refused(project, tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        main(["build", "--project", str(project.root), "--out", str(out), *argv])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and "Traceback" not in err
    assert not out.exists()


def test_fillable_handout_is_refused(project, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = build_in(project, out, "--lang", "en", "--kind", "handout", "--fillable", capsys=capsys)
    assert_failed_cleanly(code, err, out, "only the checklist has a fillable variant")


def test_out_naming_a_file_is_one_line(project, tmp_path, capsys):
    out = tmp_path / "out.txt"
    out.write_text("not a folder")
    code, _, err = build_in(project, out, "--lang", "en", capsys=capsys)
    assert code == 1 and err == f"leafgen: error: {out}: the output folder is a file, not a folder\n"
    assert out.read_text() == "not a folder"


def test_out_that_cannot_be_created_is_one_line(project, capsys):
    out = Path("/proc/leafgen-out")  # a folder nobody may create, whoever runs the tests (root included)
    code, _, err = build_in(project, out, "--lang", "en", capsys=capsys)
    assert code == 1 and err.startswith(f"leafgen: error: {out}: cannot create the output folder: ")
    assert len(err.splitlines()) == 1


def test_read_only_out_folder_is_one_line(project, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    if os.access(out, os.W_OK):  # root may write anywhere: ask as a normal user would be answered
        monkeypatch.setattr(os, "access", lambda path, mode: False)
    code, _, err = build_in(project, out, "--lang", "en", capsys=capsys)
    assert code == 1 and err == f"leafgen: error: {out}: the output folder is not writable\n"


@pytest.mark.parametrize("locale", ["de de", "../../x", "de/../../x", "x", "zz_QQQQQQQQQ", ""])
def test_i18n_init_refuses_what_is_not_a_locale(project, capsys, locale):
    before = sorted(p.name for p in project.translations_dir.iterdir())
    code, _, err = run("i18n", "init", "--project", str(project.root), "-l", locale, capsys=capsys)
    assert code == 1 and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "locale" in err.lower()
    assert sorted(p.name for p in project.translations_dir.iterdir()) == before
    assert not (project.root.parent / "x").exists()


def test_each_leaflet_error_is_reported_once(project, tmp_path, capsys):
    """One typo gave 72 identical lines in an a4,letter build (once per job)."""
    path = project.leaflet_path(LEAFLET)
    path.write_text(path.read_text().replace("status: draft", "status: final"))
    out = tmp_path / "out"
    code, stdout, err = build_in(project, out, "--paper", "a4,letter", capsys=capsys)
    assert code == 1 and "status must be one of draft, approved, not 'final'" in err
    assert len(err.splitlines()) == 1, err
    jobs = 2 * 2 * len(project.languages())
    assert f"0 built, 0 skipped, 0 refused, {jobs} failed" in stdout


# --- validate once (issue 9, defect 4) ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["list"], ["check"], ["i18n", "status"]])
def test_each_leaflet_is_validated_once_not_once_per_language(project, capsys, monkeypatch, command):
    import leafgen.content.schema as schema

    one_language_per_script(project)
    parsed = []
    real = schema.load_yaml

    def counting(path, *a):
        if Path(path).name == f"{LEAFLET}.yaml":
            parsed.append(path)
        return real(path, *a)

    monkeypatch.setattr(schema, "load_yaml", counting)
    # A fresh copy of the file (content the process has not seen), so no earlier test's parse is reused.
    path = project.leaflet_path(LEAFLET)
    path.write_text(path.read_text() + f"# {command}\n")
    run(*command, "--project", str(project.root), capsys=capsys)
    assert len(parsed) == 1, f"{len(parsed)} parses for {len(project.languages())} languages"


# --- bugs are not user errors (issue 9, defect 3) -------------------------------------------------------------------


def test_a_bug_says_it_is_one_and_debug_shows_the_traceback(capsys, monkeypatch):
    import leafgen.api

    def broken(project):
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(leafgen.api, "catalogue", broken)
    monkeypatch.delenv("LEAFGEN_DEBUG", raising=False)
    code, _, err = run("list", "--project", str(ROOT), capsys=capsys)
    assert code == 1 and "Traceback" not in err
    assert err.splitlines() == [
        "leafgen: internal error: ZeroDivisionError: simulated bug",
        "leafgen: this is a bug in leafgen; run with --debug (or LEAFGEN_DEBUG=1) to see the traceback",
    ]
    code, _, err = run("--debug", "list", "--project", str(ROOT), capsys=capsys)
    assert code == 1 and "Traceback (most recent call last)" in err and "simulated bug" in err
    monkeypatch.setenv("LEAFGEN_DEBUG", "1")
    code, _, err = run("list", "--project", str(ROOT), capsys=capsys)
    assert "Traceback (most recent call last)" in err


# --- check finds what build would hit (issue 10, defect 7) ---------------------------------------------------------


def _unknown_layout_tag(project) -> str:
    path = project.templates_dir / "checklist.xml.j2"
    path.write_text(path.read_text().replace("<fields>", "<blink/><fields>"))
    return "unknown layout element <blink>"


def _glyph_no_font_has(project) -> str:
    project.clinic_path.write_text("name: Riverside 𐌰 Clinic\nphone: 01234 567890\n", encoding="utf-8")
    return "𐌰"


def _stale_translation(project) -> str:
    edit_catalog(project, "es", lambda c: setattr(c["Symptoms"], "string", ""))
    return "untranslated: 'Symptoms'"


@pytest.mark.parametrize("breakage", [_unknown_layout_tag, _glyph_no_font_has, _stale_translation])
def test_check_fails_wherever_build_would(project, tmp_path, capsys, breakage):
    one_language_per_script(project)
    needle = breakage(project)
    code, _, err = build_in(project, tmp_path / "out", "--paper", "a4,letter", capsys=capsys)
    assert code == 1 and needle in err, err  # build hits it...
    code, out, err = run("check", "--project", str(project.root), "--jobs", "1", capsys=capsys)
    assert code == 1 and needle in err, err  # ...and so does check, without writing a PDF
    lines = err.splitlines()
    assert len(lines) == len(set(lines))  # each problem once, not once per paper and print size
    assert not (project.root / "out").exists()


def test_a_bug_in_check_is_one_line_and_the_rest_is_still_checked(project, capsys, monkeypatch):
    """`leafgen check` raised the first bug with its traceback in the message, so it was printed without --debug
    and nothing after it was checked; it now reports it as `build` does."""
    import leafgen.build.executor as build_mod

    for folder in project.translations_dir.iterdir():
        if folder.name != "es":
            shutil.rmtree(folder)
    real = build_mod.render_job

    def flaky(project, job, **kw):
        if job.lang == "es" and job.kind == "checklist" and job.paper == "a4" and not job.large_print:
            raise RuntimeError("simulated crash")
        return real(project, job, **kw)

    monkeypatch.setattr(build_mod, "render_job", flaky)
    monkeypatch.delenv("LEAFGEN_DEBUG", raising=False)
    code, out, err = run("check", "--project", str(project.root), "--jobs", "1", capsys=capsys)
    bad = f"{LEAFLET}/es/{LEAFLET}-checklist-a4"
    assert code == 1 and "Traceback" not in err, err
    assert err.splitlines() == [
        f"leafgen: internal error: {bad}.pdf: RuntimeError: simulated crash",
        f"leafgen: internal error: {bad}-fillable.pdf: RuntimeError: simulated crash",
        "leafgen: this is a bug in leafgen; run with --debug (or LEAFGEN_DEBUG=1) to see the traceback",
    ]
    assert "20 PDF(s) rendered in memory: 2 error(s)" in out
    code, out, err = run("--debug", "check", "--project", str(project.root), "--jobs", "1", capsys=capsys)
    assert code == 1 and err.count("Traceback (most recent call last)") == 2 and "please report it" in err


def test_a_bug_in_email_does_not_print_the_patients_address(project, capsys, monkeypatch):
    """An exception's text may hold what it was working on: for `leafgen email`, a patient's address."""
    import leafgen.cli.email

    def broken(*args, **kwargs):
        raise ValueError("could not handle ann.lee@example.org")

    monkeypatch.setattr(leafgen.cli.email, "run", broken)
    monkeypatch.delenv("LEAFGEN_DEBUG", raising=False)
    argv = ["email", "--to", "ann.lee@example.org", "--leaflet", LEAFLET, "--lang", "es"]
    code, _, err = run(*argv, "--project", str(project.root), capsys=capsys)
    assert code == 1 and "example.org" not in err and "Traceback" not in err, err
    assert err.splitlines() == [
        "leafgen: internal error: ValueError",
        "leafgen: this is a bug in leafgen; run with --debug (or LEAFGEN_DEBUG=1) to see the traceback",
    ]


def test_render_is_render_documents_pdf_for_a_folder_or_a_project(project):
    from leafgen import api

    doc = api.render_document(LEAFLET, "es", "checklist", "letter", project=project)
    assert doc.pdf == api.render(LEAFLET, "es", "checklist", "letter", project=project.root) and doc.pages >= 1

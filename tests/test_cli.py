"""The leafgen command: help, exit codes, manifest, and one-line errors that leave nothing half-written."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import LEAFLET, ROOT, edit_catalog
from leafgen.cli import main
from leafgen.project import write_atomic


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

    def edit(catalog) -> None:  # noqa: ANN001
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


def test_check_fails_on_broken_leaflet(project, capsys):
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

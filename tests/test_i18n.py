"""Translations: every shipped language complete on the page; the gate never passes English off as another language."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import NamedTuple

import pytest
from babel.messages.pofile import read_po

from conftest import LEAFLET, ROOT, SHIPPED, edit_catalog, normalise, pdf_reader, pdf_text, rendered, require, squash
from leafgen.cli import main
from leafgen.content.schema import load_disclaimer, load_leaflet
from leafgen.i18n import catalogs as i18n
from leafgen.i18n.extract import expected_units
from leafgen.i18n.locales import bcp47
from leafgen.i18n.status import check_catalog, status
from leafgen.render.job import Job
from leafgen.text.rtl import visual_order
from leafgen.text.scripts import script_for
from textlayer import text_layer

LANGS = SHIPPED.languages()[1:]
LEAF = load_leaflet(SHIPPED.leaflet_path(LEAFLET))[0]
DISCLAIMER = load_disclaimer(SHIPPED.disclaimer_path)


def test_twenty_two_languages_in_nine_scripts_are_shipped():
    shipped = "es fr pt pl vi uk ar zh_Hans ru ro tr tl ht so ko zh_Hant fa ur hi bn pa"
    assert set(LANGS) == set(shipped.split())
    # Latin and Cyrillic share one face; Han covers Simplified and Traditional.
    scripts = {"latin", "arabic", "han", "hangul", "devanagari", "bengali", "gurmukhi"}
    assert {script_for(lang).name for lang in LANGS} == scripts


def translated(lang: str, msgid: str) -> str:
    catalog = i18n.load_catalog(SHIPPED, lang)
    message = catalog.get(msgid)
    assert message is not None and message.string and not message.fuzzy, (lang, msgid)
    return message.string


def extracted(pdf: bytes, lang: str) -> str:
    """Text as a reader gets it: poppler, except for right-to-left lines, whose logical-order ActualText
    poppler 22.12 reverses (tests/textlayer.py reads the spans themselves)."""
    if script_for(lang).rtl:
        return "\n".join(line.text for page in text_layer(pdf) for line in page)
    return _pdftotext(pdf)


def _pdftotext(pdf: bytes, *args: str) -> str:
    require("pdftotext")
    return subprocess.run(["pdftotext", *args, "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


def contains(text: str, part: str, lang: str) -> bool:
    if script_for(lang).cjk:  # no spaces to trust
        return squash(part) in squash(text)
    return normalise(part) in normalise(text)


@pytest.mark.parametrize("kind", ["handout", "checklist"])
@pytest.mark.parametrize("lang", LANGS)
def test_translated_title_headings_and_disclaimer_on_the_page(lang, kind):
    r = rendered(Job(LEAFLET, lang, kind))
    text = extracted(r.pdf, lang)
    wanted = [LEAF.title, DISCLAIMER.heading, DISCLAIMER.text]
    if kind == "handout":
        wanted += [s.heading for s in LEAF.sections]
    else:
        wanted += [LEAF.checklist.title] + [i.instruction for i in LEAF.checklist.items]
    missing = [w for w in wanted if not contains(text, translated(lang, w), lang)]
    assert not missing
    assert not r.fallback
    reader = pdf_reader(r.pdf)
    assert reader.trailer["/Root"]["/Lang"] == bcp47(lang)
    title = translated(lang, LEAF.checklist.title if kind == "checklist" else LEAF.title)
    assert normalise(reader.metadata.title).startswith(normalise(title))


@pytest.mark.parametrize("lang", LANGS)
def test_every_font_embedded_in_every_language(lang, tmp_path):
    require("pdffonts")
    path = tmp_path / "x.pdf"
    path.write_bytes(rendered(Job(LEAFLET, lang, "checklist")).pdf)
    rows = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout.splitlines()[2:]
    assert rows and all(r.split()[-5] == "yes" and "Helvetica" not in r for r in rows), rows


def test_dates_and_template_strings_follow_the_locale():
    text = normalise(pdf_text(rendered(Job(LEAFLET, "es", "handout")).pdf))
    assert "23 de noviembre de 2027" in text
    assert normalise(translated("es", "Review due %(date)s") % {"date": "23 de noviembre de 2027"}) in text
    fr = normalise(pdf_text(rendered(Job(LEAFLET, "fr", "handout")).pdf))
    pages = rendered(Job(LEAFLET, "fr", "handout")).pages
    assert normalise(translated("fr", "Page %(page)s of %(pages)s") % {"page": 1, "pages": pages}) in fr


def test_chinese_wraps_without_spaces_and_embeds_a_cjk_font(tmp_path):
    pdf = rendered(Job(LEAFLET, "zh_Hans", "handout")).pdf
    text = pdf_text(pdf)
    summary = translated("zh_Hans", LEAF.summary)
    assert squash(summary) in squash(text)
    path = tmp_path / "zh.pdf"
    path.write_bytes(pdf)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    assert "DroidSansFallback" in fonts


class Line(NamedTuple):
    x0: float
    x1: float
    y: float  # top, measured down from the top of the page
    text: str


def _lines(pdf: bytes) -> list[Line]:
    """Every line on page 1, from poppler's layout analysis."""
    xml = _pdftotext(pdf, "-bbox-layout", "-f", "1", "-l", "1")
    out = []
    line_re = r'<line xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="[\d.]+">(.*?)</line>'
    for m in re.finditer(line_re, xml, re.S):
        words = re.findall(r">([^<]*)</word>", m.group(4))
        out.append(Line(float(m.group(1)), float(m.group(3)), float(m.group(2)), " ".join(words)))
    return out


def test_arabic_is_right_aligned_mirroring_the_english_column():
    en = _lines(rendered(Job(LEAFLET, "en", "handout")).pdf)
    ar = _lines(rendered(Job(LEAFLET, "ar", "handout")).pdf)
    width = 595.276
    left_edge, _ = Counter(round(line.x0) for line in en).most_common(1)[0]
    right_edge, n = Counter(round(line.x1) for line in ar).most_common(1)[0]
    assert abs((width - right_edge) - left_edge) <= 2, (left_edge, right_edge)
    assert n >= 8, "most Arabic body lines should end on the right margin"
    ragged_left = [line.x0 for line in ar if abs(line.x1 - right_edge) <= 1]
    assert min(ragged_left) >= left_edge - 2 and len({round(x) for x in ragged_left}) > 3  # ragged left edge


def test_arabic_checklist_grid_is_mirrored():
    """Items on the right, day 1 nearest to them, day 7 at the far left."""
    lines = _lines(rendered(Job(LEAFLET, "ar", "checklist")).pdf)
    numbers = {line.text: line for line in lines if line.text in {str(d) for d in range(1, 8)}}
    assert set(numbers) == {str(d) for d in range(1, 8)}
    assert numbers["1"].x0 > numbers["2"].x0 > numbers["7"].x0
    below_header = [line for line in lines if line.y > numbers["1"].y + 5 and not line.text.isascii()]
    instructions = [line for line in below_header if line.x0 > numbers["1"].x0]
    assert len(instructions) >= len(LEAF.checklist.items), "instructions sit to the right of the tick boxes"
    assert not [line for line in below_header if line.x1 < numbers["7"].x0], "nothing left of day 7"


# --- the gate ---------------------------------------------------------------------------------------------------


def build(project, tmp_path, *extra: str, capsys) -> tuple[int, str, list[dict]]:
    out = tmp_path / "out"
    code = main(
        ["build", "--project", str(project.root), "--out", str(out), "--jobs", "1", "--kind", "handout", *extra]
    )
    err = capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())["pdfs"] if (out / "manifest.json").exists() else []
    return code, err, manifest


def test_untranslated_unit_is_refused_naming_leaflet_section_and_language(project, tmp_path, capsys):
    heading = next(s for s in LEAF.sections if s.id == "causes").heading
    edit_catalog(project, "fr", lambda c: setattr(c[heading], "string", ""))
    code, err, manifest = build(project, tmp_path, "--lang", "en,fr,es", capsys=capsys)
    assert code == 1
    assert f"[{LEAFLET}, fr] {LEAFLET}/causes: untranslated: {heading!r}" in err
    assert {e["lang"] for e in manifest} == {"en", "es"}, "the rest of the batch still builds"
    assert not (tmp_path / "out" / LEAFLET / "fr").exists()


def test_fuzzy_unit_is_refused(project, tmp_path, capsys):
    edit_catalog(project, "pl", lambda c: c[DISCLAIMER.text].flags.add("fuzzy"))
    code, err, _ = build(project, tmp_path, "--lang", "pl", capsys=capsys)
    assert code == 1 and "disclaimer: fuzzy (stale, needs review)" in err and "[pins-and-needles-in-back, pl]" in err


def test_allow_fallback_marks_every_page_and_the_manifest(project, tmp_path, capsys):
    edit_catalog(project, "es", lambda c: setattr(c[LEAF.summary], "string", ""))
    code, err, manifest = build(project, tmp_path, "--lang", "es", "--allow-fallback", capsys=capsys)
    assert code == 0, err
    [entry] = manifest
    assert entry["fallback"] is True
    pdf = (tmp_path / "out" / entry["path"]).read_bytes()
    banner = translated(
        "es", "Parts of this leaflet are in English because their translation is missing or out of date."
    )
    pages = [normalise(p.extract_text()) for p in pdf_reader(pdf).pages]
    assert all(normalise(banner) in p for p in pages), "banner on every page"
    assert normalise(LEAF.summary) in normalise(pdf_text(pdf))  # the English text, openly marked


def test_placeholder_mismatch_is_refused_even_with_fallback(project, tmp_path, capsys):
    msgid = "Page %(page)s of %(pages)s"
    edit_catalog(project, "uk", lambda c: setattr(c[msgid], "string", "Сторінка %(page)s"))
    code, err, _ = build(project, tmp_path, "--lang", "uk", "--allow-fallback", capsys=capsys)
    assert code == 1 and "placeholders differ" in err and msgid[:20] in err


def test_changed_english_becomes_fuzzy_on_update_and_is_refused(project, tmp_path, capsys):
    """An edited sentence keeps its old translation only as a fuzzy suggestion, which the gate refuses."""
    old = "Sleeping on a poor mattress"
    new = "Sleeping on a poor or old mattress"
    source = project.leaflet_path(LEAFLET)
    text = source.read_text(encoding="utf-8")
    assert f"- {old}\n" in text
    source.write_text(text.replace(f"- {old}\n", f"- {new}\n"), encoding="utf-8")
    assert main(["i18n", "extract", "--project", str(project.root)]) == 0
    assert main(["i18n", "update", "--project", str(project.root)]) == 0
    message = i18n.load_catalog(project, "vi")[new]
    assert message.fuzzy and message.string == translated("vi", old)  # the stale translation, flagged
    capsys.readouterr()
    code, err, _ = build(project, tmp_path, "--lang", "vi", capsys=capsys)
    assert code == 1 and f"{LEAFLET}/causes: fuzzy (stale, needs review): '{new}'" in err


def test_status_reports_counts_and_review_and_fails_when_incomplete(project, capsys):
    assert main(["i18n", "status", "--project", str(ROOT)]) == 0
    out = capsys.readouterr().out
    assert out.count("complete: ") == len(LANGS) and "INCOMPLETE" not in out
    assert out.count("not yet reviewed by a qualified medical translator") == len(LANGS)
    edit_catalog(project, "ar", lambda c: c[LEAF.title].flags.add("fuzzy"))
    assert main(["i18n", "status", "--project", str(project.root)]) == 1
    assert re.search(r"ar +INCOMPLETE: \d+/\d+ translated, 1 fuzzy, 0 untranslated", capsys.readouterr().out)


@pytest.mark.parametrize("lang", LANGS)
def test_catalog_passes_msgfmt_and_babel_checks(lang):
    require("msgfmt")
    po = i18n.catalog_path(SHIPPED, lang)
    result = subprocess.run(["msgfmt", "--check", "-o", "/dev/null", str(po)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    check_catalog(SHIPPED, lang)  # Babel's checks and the placeholder rule raise on any problem


def pybabel_extract(pot: Path) -> None:
    """What a translator types (`pybabel extract -F pyproject.toml`), run with this Python's Babel so the test
    does not depend on the virtual environment's bin folder being on PATH."""
    argv = [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "pyproject.toml", "-o", str(pot), "."]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_pybabel_extract_round_trip_covers_every_unit(tmp_path):
    pot = tmp_path / "messages.pot"
    pybabel_extract(pot)
    with pot.open("rb") as f:
        ids = {m.id for m in read_po(f) if m.id}
    expected = expected_units(SHIPPED)
    assert set(expected) <= ids, set(expected) - ids
    with pot.open("rb") as f:
        comments = {m.id: m.auto_comments for m in read_po(f) if m.id}
    assert comments[LEAF.title] == [f"leaflet {LEAFLET}/title"]  # translators see leaflet and section


def test_shipped_template_is_what_extraction_gives(tmp_path):
    """translations/messages.pot is what translators start from: a string extraction finds but the template
    lacks would never reach a new catalog (three template strings were missing after the desk and the
    approved-by line landed)."""
    pot = tmp_path / "messages.pot"
    pybabel_extract(pot)
    with pot.open("rb") as fresh, (SHIPPED.translations_dir / "messages.pot").open("rb") as shipped:
        assert {m.id for m in read_po(fresh) if m.id} == {m.id for m in read_po(shipped) if m.id}


def test_arabic_brackets_are_mirrored_so_they_read_correctly():
    """Bidi rule L4: in right-to-left text '(' is drawn with the glyph of ')'; the text layer keeps them as typed."""
    text = extracted(rendered(Job(LEAFLET, "ar", "handout")).pdf, "ar")
    with_brackets = [u for u in (translated("ar", t) for t in _bullets()) if "(" in u]
    assert with_brackets
    for unit in with_brackets:
        assert normalise(unit) in normalise(text), unit
    assert visual_order("ألم (مزمن)") == "(نمزم) ملأ"  # drawn: the word reversed, its brackets mirrored


def _bullets() -> list[str]:
    return [b for s in LEAF.sections for blk in s.blocks for b in getattr(blk, "items", ())]


def test_new_catalog_starts_unreviewed_and_incomplete(project, capsys):
    assert main(["i18n", "extract", "--project", str(project.root)]) == 0
    assert main(["i18n", "init", "--lang", "de", "--project", str(project.root)]) == 0
    st = status(project, "de")
    assert st.review == i18n.UNREVIEWED and not st.complete and st.translated == 0
    assert len(st.gaps) == st.untranslated == len(expected_units(project))

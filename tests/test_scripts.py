"""Fonts per language and right-to-left layout, checked on real PDFs with poppler-utils."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.platypus import Flowable, SimpleDocTemplate, Spacer

from leafgen.errors import LeafgenError
from leafgen.text import scripts
from leafgen.text.lines import LineParagraph
from leafgen.text.paragraph import paragraph
from leafgen.text.rtl import shape_rtl
from leafgen.text.scripts import Script, missing_glyphs, script_for

VIETNAMESE = "Tiếng Việt: người bệnh được uống thuốc sau bữa ăn, mỗi ngày hai lần; ữ ỹ ặ đ Đ."
UKRAINIAN = "Українська: приймайте ліки з їжею; ґудзик, є, ї, Ї, Є, Ґ — «лікар»."
CHINESE = (
    "每天服用一片维生素B12片剂，每日两次，饭后服用。请勿超过推荐剂量，如果出现恶心、头痛或头晕等"
    "副作用，请立即咨询您的医生或药剂师。请将药品存放在儿童接触不到的阴凉干燥处，并在有效期内使用。"
)
ARABIC = (
    "تناول قرصا واحدا من فيتامين B12 مرتين يوميا بعد الطعام. لا تتجاوز الجرعة الموصى بها "
    "واستشر الطبيب إذا ظهرت أعراض جانبية مثل الغثيان أو الصداع أو الدوار. احفظ الدواء "
    "بعيدا عن متناول الأطفال في مكان بارد وجاف واستخدمه قبل تاريخ انتهاء الصلاحية."
)
ARABIC_LETTERS = re.compile(r"[\u0600-\u06ff]")
BIDI_CONTROLS = re.compile(r"[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def tool(name: str) -> str:
    """Poppler tools are required: CI installs poppler-utils, so a missing one is a failure."""
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} not found: install poppler-utils")
    return path


def run(*args: str | Path) -> str:
    return subprocess.run(
        [str(a) for a in args], check=True, capture_output=True, text=True
    ).stdout


def nfkc_flat(text: str) -> str:
    """Compare text as read, not as drawn: presentation forms folded, spaces and marks dropped."""
    text = BIDI_CONTROLS.sub("", unicodedata.normalize("NFKC", text))
    return re.sub(r"\s+", "", text)


def body_style(script: Script, **kw) -> ParagraphStyle:
    return ParagraphStyle("body", fontName=script.regular, fontSize=12, leading=16, **kw)


def build(path: Path, script: Script, flowables: list[Flowable]) -> tuple[Path, SimpleDocTemplate]:
    doc = SimpleDocTemplate(str(path), pagesize=A4, initialFontName=script.regular, invariant=1)
    doc.build(flowables)
    return path, doc


def content_right_edge(doc: SimpleDocTemplate) -> float:
    frame = doc.pageTemplates[0].frames[0]
    return frame._x2 - frame._rightPadding


def assert_fonts_embedded(pdf: Path) -> None:
    rows = run(tool("pdffonts"), pdf).splitlines()[2:]
    assert rows, "no fonts in PDF"
    for row in rows:
        assert "Helvetica" not in row, row
        # columns: name type encoding emb sub uni object ID; type may have 2 words
        assert re.search(r"\s(yes)\s+(yes|no)\s+(yes|no)\s+\d+\s+\d+\s*$", row), row


def bbox_lines(pdf: Path, page: int = 1) -> list[dict]:
    """Lines of one page from `pdftotext -bbox-layout`, with their words (y grows downwards)."""
    xml = run(tool("pdftotext"), "-bbox-layout", "-f", page, "-l", page, pdf, "-")
    xml = re.sub(r"<!DOCTYPE[^>]*>", "", xml)
    xml = xml.replace('xmlns="http://www.w3.org/1999/xhtml"', "")
    root = ET.fromstring(xml)
    lines = []
    for line in root.iter("line"):
        words = [
            {"text": w.text or "", "xMin": float(w.get("xMin")), "xMax": float(w.get("xMax"))}
            for w in line.iter("word")
        ]
        lines.append(
            {"xMin": float(line.get("xMin")), "xMax": float(line.get("xMax")),
             "yMin": float(line.get("yMin")), "words": words}
        )
    return lines


# ----------------------------------------------------------------------------- choosing


@pytest.mark.parametrize("lang", ["en", "es", "pt", "pt_BR", "uk", "vi", "fr", "pl", ""])
def test_latin_languages_use_noto_sans(lang):
    script = script_for(lang)
    assert (script.name, script.regular, script.bold) == ("latin", "NotoSans", "NotoSans-Bold")
    assert not script.rtl and not script.cjk


@pytest.mark.parametrize("lang", ["ar", "ar_EG", "ar-SA", "fa", "ur"])
def test_arabic_languages_are_rtl(lang):
    script = script_for(lang)
    assert script.name == "arabic" and script.rtl and not script.cjk
    assert script.regular == "NotoSansArabic" and script.bold == "NotoSansArabic-Bold"


@pytest.mark.parametrize("lang", ["zh", "zh_Hans", "zh_CN", "zh-Hant", "zh_TW"])
def test_chinese_is_cjk_with_droid(lang):
    script = script_for(lang)
    assert script.name == "han" and script.cjk and not script.rtl
    assert script.regular == script.bold == "DroidSansFallback"


def test_fonts_registered_with_bold_family_and_files_vendored():
    for lang in ("en", "ar", "zh"):
        script = script_for(lang)
        for name in {script.regular, script.bold}:
            assert pdfmetrics.getFont(name).face.charToGlyph
        assert script.font_files and all(p.is_file() for p in script.font_files)
        assert all(p.parent == scripts.FONT_DIR for p in script.font_files)
    from reportlab.lib.fonts import tt2ps

    assert tt2ps("NotoSans", 1, 0) == "NotoSans-Bold"
    assert tt2ps("NotoSansArabic", 1, 0) == "NotoSansArabic-Bold"
    for licence in ("OFL.txt", "LICENSE-Apache-2.0.txt", "README.md"):
        assert (scripts.FONT_DIR / licence).is_file()


def test_script_for_is_cheap_when_repeated():
    script_for("zh")
    start = time.perf_counter()
    for _ in range(1000):
        script_for("zh_Hans")
        script_for("ar")
    assert time.perf_counter() - start < 0.5


def test_missing_font_file_is_a_leafgen_error(tmp_path, monkeypatch):
    monkeypatch.setattr(scripts, "FONT_DIR", tmp_path)
    with pytest.raises(LeafgenError) as info:
        scripts._register_font("NotoSans")
    assert str(tmp_path / "NotoSans-Regular.ttf") in str(info.value)


# ----------------------------------------------------------------------------- glyph checks


def test_noto_sans_covers_vietnamese_and_ukrainian():
    assert missing_glyphs(VIETNAMESE + " " + UKRAINIAN, "NotoSans") == []


def test_cjk_reported_missing_from_noto_sans_once_in_order():
    assert missing_glyphs("Take 中文 daily 中", "NotoSans") == ["中", "文"]


def test_whitespace_controls_and_soft_hyphen_ignored():
    text = "a\u00ad\u200b\u200d\u00a0\u2028\u2029\t\n\r\x07b\u3000"
    assert missing_glyphs(text, "NotoSans") == []


def test_fallback_counts_digits_in_chinese_and_latin_in_arabic():
    assert missing_glyphs("每日2次，B12“片”", "DroidSansFallback") == []
    assert missing_glyphs("每日2次", "DroidSansFallback", fallback=False) == ["2"]
    drawn = shape_rtl(ARABIC)
    assert drawn != ARABIC  # letters joined into presentation forms
    assert missing_glyphs(drawn, "NotoSansArabic") == []
    assert missing_glyphs(ARABIC, "NotoSansArabic") == []
    assert "B" in missing_glyphs(drawn, "NotoSansArabic", fallback=False)


def test_missing_glyphs_is_fast():
    text = (VIETNAMESE + UKRAINIAN) * 2000
    missing_glyphs(text, "NotoSans")
    start = time.perf_counter()
    assert missing_glyphs(text, "NotoSans") == []
    assert time.perf_counter() - start < 0.5


def test_unknown_font_is_a_leafgen_error():
    with pytest.raises(LeafgenError):
        missing_glyphs("x", "NoSuchFont-Anywhere")


# ----------------------------------------------------------------------------- PDFs


def test_latin_pdf_embeds_noto_only(tmp_path):
    script = script_for("vi")
    # A style naming Helvetica is moved onto the script's font.
    style = ParagraphStyle("plain", fontName="Helvetica", fontSize=11, leading=14)
    pdf, _ = build(tmp_path / "vi.pdf", script, [
        paragraph(VIETNAMESE, style, script),
        paragraph("<b>" + UKRAINIAN + "</b> &amp; &lt;ok&gt;", style, script),
    ])
    assert_fonts_embedded(pdf)
    fonts = run(tool("pdffonts"), pdf)
    assert "NotoSans-Regular" in fonts and "NotoSans-Bold" in fonts
    text = run(tool("pdftotext"), pdf, "-")
    assert nfkc_flat(VIETNAMESE) in nfkc_flat(text)
    assert nfkc_flat(UKRAINIAN + " & <ok>") in nfkc_flat(text)


def test_chinese_wraps_and_extracts_exactly(tmp_path):
    script = script_for("zh_Hans")
    pdf, _ = build(tmp_path / "zh.pdf", script, [paragraph(CHINESE, body_style(script), script)])
    lines = [ln for ln in bbox_lines(pdf) if ln["words"]]
    assert len(lines) >= 3, "a long paragraph without spaces must wrap"
    assert [ln["yMin"] for ln in lines] == sorted(ln["yMin"] for ln in lines)
    assert nfkc_flat(run(tool("pdftotext"), pdf, "-")) == nfkc_flat(CHINESE)
    assert_fonts_embedded(pdf)
    # B12 has no glyphs in Droid Sans Fallback: it is drawn with Noto Sans.
    assert "NotoSans-Regular" in run(tool("pdffonts"), pdf)


def test_chinese_style_from_latin_sheet_gets_cjk_font(tmp_path):
    script = script_for("zh")
    latin = body_style(script_for("en"))
    flow = paragraph("<b>注意</b>：每日2次 &amp; 饭后", latin, script)
    assert flow.style.fontName == "DroidSansFallback" and flow.style.wordWrap == "CJK"
    assert paragraph("再次", latin, script).style is flow.style  # clones are cached
    pdf, _ = build(tmp_path / "zh-b.pdf", script, [flow])
    assert nfkc_flat(run(tool("pdftotext"), pdf, "-")) == nfkc_flat("注意：每日2次&饭后")
    assert_fonts_embedded(pdf)


def arabic_words(text: str) -> list[str]:
    return [w for w in text.replace(".", " ").split() if ARABIC_LETTERS.search(w)]


def test_arabic_paragraph_is_joined_right_aligned_and_right_to_left(tmp_path):
    script = script_for("ar")
    flow = paragraph(ARABIC, body_style(script), script)
    assert isinstance(flow, LineParagraph)
    pdf, doc = build(tmp_path / "ar.pdf", script, [flow])
    assert_fonts_embedded(pdf)

    text = nfkc_flat(run(tool("pdftotext"), pdf, "-"))
    for word in arabic_words(ARABIC):
        assert unicodedata.normalize("NFKC", word) in text, word
    assert "B12" in text

    lines = [ln for ln in bbox_lines(pdf) if ln["words"]]
    assert len(lines) >= 3
    right = content_right_edge(doc)
    for ln in lines:
        assert abs(ln["xMax"] - lines[0]["xMax"]) <= 1, ln
        assert abs(ln["xMax"] - right) <= 2, (ln["xMax"], right)
    assert lines[0]["yMin"] < lines[1]["yMin"] < lines[2]["yMin"]  # line order top to bottom

    # The first logical word is the right-most word of the first line. pdftotext's word
    # boxes spell right-to-left words in visual order, so accept either spelling.
    first = unicodedata.normalize("NFKC", ARABIC.split()[0])
    words = lines[0]["words"]

    def is_first(w: dict) -> bool:
        t = unicodedata.normalize("NFKC", w["text"])
        return first in (t, t[::-1])

    matches = [w for w in words if is_first(w)]
    assert matches, [w["text"] for w in words]
    assert matches[0]["xMax"] == max(w["xMax"] for w in words)
    # "B12" reads left to right, sitting left of the word before it ("فيتامين").
    b12 = next(w for ln in lines for w in ln["words"] if w["text"] == "B12")
    vitamin = unicodedata.normalize("NFKC", "فيتامين")
    before = next(
        w for ln in lines for w in ln["words"]
        if vitamin in (unicodedata.normalize("NFKC", w["text"]),
                       unicodedata.normalize("NFKC", w["text"])[::-1])
    )
    assert b12["xMax"] < before["xMin"]


def test_arabic_markup_bold_breaks_and_entities(tmp_path):
    script = script_for("ar")
    style = body_style(script)
    whole_bold = paragraph("<b>تحذير هام</b>", style, script)
    assert whole_bold.style.fontName == "NotoSansArabic-Bold"
    mixed = paragraph("خذ <b>قرصا</b> واحدا &amp; اشرب الماء<br/>السطر الثاني", style, script)
    assert mixed.style.fontName == "NotoSansArabic"
    pdf, _ = build(tmp_path / "ar-markup.pdf", script, [whole_bold, mixed])
    text = nfkc_flat(run(tool("pdftotext"), pdf, "-"))
    for word in ("تحذير", "هام", "قرصا", "واحدا", "اشرب", "السطر", "الثاني", "&"):
        assert unicodedata.normalize("NFKC", word) in text, word
    assert "<b>" not in text
    assert "NotoSansArabic-Bold" in run(tool("pdffonts"), pdf)
    lines = [ln for ln in bbox_lines(pdf) if ln["words"]]
    assert len(lines) == 3  # bold title, then <br/> splits the second paragraph in two


def test_arabic_style_is_right_aligned_with_mirrored_indents():
    script = script_for("ar")
    style = ParagraphStyle("li", fontName="NotoSans", leftIndent=18, rightIndent=3,
                           alignment=TA_LEFT)
    flow = paragraph("نص", style, script)
    assert flow.style.alignment == 2  # TA_RIGHT
    assert (flow.style.leftIndent, flow.style.rightIndent) == (3, 18)
    assert flow.style.fontName == "NotoSansArabic"


def test_long_arabic_paragraph_splits_across_pages(tmp_path):
    script = script_for("ar")
    long_text = " ".join([ARABIC.replace("B12 ", "")] * 14)
    flow = paragraph(long_text, body_style(script), script)
    pdf, doc = build(tmp_path / "ar-long.pdf", script, [Spacer(1, 300), flow])
    pages = int(re.search(r"Pages:\s+(\d+)", run(tool("pdfinfo"), pdf)).group(1))
    assert pages >= 2
    # Whole text comes back in logical order: the split kept words and lines in order.
    assert nfkc_flat(run(tool("pdftotext"), pdf, "-")) == nfkc_flat(long_text)
    right = content_right_edge(doc)
    for page in (1, 2):
        lines = [ln for ln in bbox_lines(pdf, page) if ln["words"]]
        assert len(lines) >= 3
        assert all(abs(ln["xMax"] - right) <= 2 for ln in lines), page
    parts = flow.split(doc.width, 80)
    assert len(parts) == 2 and all(isinstance(p, LineParagraph) for p in parts)

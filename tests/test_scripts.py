"""Scripts: fonts, shaping, right-to-left order, line and page breaks and a true text layer, on real PDFs."""

from __future__ import annotations

import datetime
import io
import re
import shutil
import subprocess
import sys
import time
import unicodedata
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pikepdf
import pytest
import uharfbuzz
from fontTools.ttLib import TTFont
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.platypus import Flowable, SimpleDocTemplate, Spacer

from conftest import LEAFLET, SHIPPED, edit_catalog, rendered
from leafgen.content.model import Bullets
from leafgen.content.profile import theme
from leafgen.content.schema import load_disclaimer, load_leaflet
from leafgen.errors import FontError, LeafgenError
from leafgen.i18n.catalogs import load_catalog
from leafgen.i18n.extract import expected_units
from leafgen.i18n.locales import format_date
from leafgen.render.job import Job
from leafgen.render.pipeline import render_job
from leafgen.text import scripts
from leafgen.text.cjk import break_allowed
from leafgen.text.lines import LineParagraph
from leafgen.text.paragraph import paragraph
from leafgen.text.rtl import shape_rtl, visual_order
from leafgen.text.scripts import Script, missing_glyphs, script_for
from textlayer import story_lines, text_layer

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
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True).stdout


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
            {
                "xMin": float(line.get("xMin")),
                "xMax": float(line.get("xMax")),
                "yMin": float(line.get("yMin")),
                "words": words,
            }
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
    pdf, _ = build(
        tmp_path / "vi.pdf",
        script,
        [
            paragraph(VIETNAMESE, style, script),
            paragraph("<b>" + UKRAINIAN + "</b> &amp; &lt;ok&gt;", style, script),
        ],
    )
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


def test_arabic_paragraph_is_joined_right_aligned_and_right_to_left(tmp_path):
    script = script_for("ar")
    flow = paragraph(ARABIC, body_style(script), script)
    assert isinstance(flow, LineParagraph)
    pdf, doc = build(tmp_path / "ar.pdf", script, [flow])
    assert_fonts_embedded(pdf)

    # The text layer is the paragraph exactly, in logical order (poppler would reverse it: textlayer.py).
    assert " ".join(line.text for line in text_layer(pdf.read_bytes())[0]) == ARABIC

    lines = [ln for ln in bbox_lines(pdf) if ln["words"]]
    assert len(lines) >= 3
    right = content_right_edge(doc)
    for ln in lines:
        assert abs(ln["xMax"] - lines[0]["xMax"]) <= 1, ln
        assert abs(ln["xMax"] - right) <= 2, (ln["xMax"], right)
    assert lines[0]["yMin"] < lines[1]["yMin"] < lines[2]["yMin"]  # line order top to bottom

    # Each line is drawn in visual order: right-to-left words reversed, "B12" kept left to right.
    assert visual_order("من فيتامين B12 مرتين") == "نيترم B12 نيماتيف نم"


def test_arabic_markup_bold_breaks_and_entities(tmp_path):
    script = script_for("ar")
    style = body_style(script)
    whole_bold = paragraph("<b>تحذير هام</b>", style, script)
    assert whole_bold.style.fontName == "NotoSansArabic-Bold"
    mixed = paragraph("خذ <b>قرصا</b> واحدا &amp; اشرب الماء<br/>السطر الثاني", style, script)
    assert mixed.style.fontName == "NotoSansArabic"
    pdf, _ = build(tmp_path / "ar-markup.pdf", script, [whole_bold, mixed])
    layer = [line.text for line in text_layer(pdf.read_bytes())[0]]
    assert layer == ["تحذير هام", "خذ قرصا واحدا & اشرب الماء", "السطر الثاني"]
    assert "NotoSansArabic-Bold" in run(tool("pdffonts"), pdf)
    lines = [ln for ln in bbox_lines(pdf) if ln["words"]]
    assert len(lines) == 3  # bold title, then <br/> splits the second paragraph in two


def test_arabic_style_is_right_aligned_with_mirrored_indents():
    script = script_for("ar")
    style = ParagraphStyle("li", fontName="NotoSans", leftIndent=18, rightIndent=3, alignment=TA_LEFT)
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
    layer = text_layer(pdf.read_bytes())
    assert " ".join(line.text for page in layer for line in page) == long_text
    right = content_right_edge(doc)
    for page in (1, 2):
        lines = [ln for ln in bbox_lines(pdf, page) if ln["words"]]
        assert len(lines) >= 3
        assert all(abs(ln["xMax"] - right) <= 2 for ln in lines), page
    parts = flow.split(doc.width, 80)
    assert len(parts) == 2 and all(isinstance(p, LineParagraph) for p in parts)


# ----------------------------------------------------------------------------- every language, real leaflets
# The shipped leaflet in every shipped language: what a reader, a search or a screen reader gets
# (the text layer) and what the page shows (alignment, glyphs, line and page breaks).

SHIPPED_LANGS = SHIPPED.languages()
LEAF = load_leaflet(SHIPPED.leaflet_path(LEAFLET))[0]
DISCLAIMER = load_disclaimer(SHIPPED.disclaimer_path)
RTL_LANGS = [lang for lang in SHIPPED_LANGS if script_for(lang).rtl]
CJK_LANGS = [lang for lang in SHIPPED_LANGS if script_for(lang).cjk]


def leaflet_units(kind: str) -> list[str]:
    """The English units a kind of leaflet prints (the disclaimer included)."""
    if kind == "handout":
        out = [LEAF.title, LEAF.summary]
        for s in LEAF.sections:
            out.append(s.heading)
            for b in s.blocks:
                out.extend(b.items if isinstance(b, Bullets) else [b.text])
    else:
        c = LEAF.checklist
        out = [c.title, c.intro, LEAF.title]
        for i in c.items:
            out += [i.instruction, i.frequency] + ([i.safety] if i.safety else [])
    return out + [DISCLAIMER.heading, DISCLAIMER.text]


def template_units(kind: str) -> list[str]:
    """Template strings without placeholders that the English leaflet of this kind prints (running lines too)."""
    english = fold(layer_text(rendered(Job(LEAFLET, "en", kind)).pdf, "en"), cjk=False)
    msgids = [m for m, where in expected_units(SHIPPED).items() if where.startswith("template") and "%(" not in m]
    return [m for m in msgids if m not in leaflet_units(kind) and f" {fold(m, cjk=False)} " in f" {english} "]


def layer_text(pdf: bytes, lang: str) -> str:
    """The story (a paragraph broken across pages reads as one), then every line again with the running ones.

    Left to right: `pdftotext` itself. Right to left: each line's ActualText (see textlayer.py: poppler
    22.12 reverses a logical-order ActualText on a right-to-left line).
    """
    if script_for(lang).rtl:
        story = "\n".join(ln.text for page in story_lines(pdf) for ln in page)
        full = "\n".join(ln.text for page in text_layer(pdf) for ln in page)
    else:
        story = pdftotext_story(pdf)
        # -raw too: in a narrow table cell poppler's layout mode drops the space of Korean "할 일"
        full = "\n".join(ln for mode in ((), ("-raw",)) for page in pdftotext_pages(pdf, *mode) for ln in page)
    return story + "\n\n" + full


def fold(text: str, *, cjk: bool) -> str:
    """Compare as the issue asks: whitespace folded (no NFKC); with no spaces between words, none at all."""
    text = text.replace("\u2060", "")
    return "".join(text.split()) if cjk else " ".join(text.split())


def pdftotext_pages(pdf: bytes, *args: str) -> list[list[str]]:
    argv = [tool("pdftotext"), *args, "-", "-"]
    out = subprocess.run(argv, input=pdf, capture_output=True, check=True).stdout.decode()
    return [page.splitlines() for page in out.split("\f") if page.strip()]


def pdftotext_story(pdf: bytes) -> str:
    """poppler's text without the running lines, so a paragraph broken across pages reads as one."""
    pages = pdftotext_pages(pdf)

    def key(line: str) -> str:
        return re.sub(r"\d+", "#", " ".join(line.split()))

    running = set.intersection(*({key(ln) for ln in p} for p in pages)) if len(pages) > 1 else set()
    return "\n".join(ln for p in pages for ln in p if key(ln) not in running)


def catalog_text(lang: str, msgid: str) -> str:
    if lang == "en":
        return msgid
    message = load_catalog(SHIPPED, lang).get(msgid)
    assert message is not None and message.string and not message.fuzzy, (lang, msgid)
    return message.string


@pytest.mark.parametrize("kind", ["handout", "checklist"])
@pytest.mark.parametrize("lang", SHIPPED_LANGS)
def test_every_unit_is_in_the_text_layer_exactly_as_in_the_catalog(lang, kind):
    pdf = rendered(Job(LEAFLET, lang, kind)).pdf
    script = script_for(lang)
    text = fold(layer_text(pdf, lang), cjk=script.cjk)
    wanted = leaflet_units(kind) + template_units(kind)
    assert len(template_units(kind)) >= 3
    missing = [u for u in wanted if fold(catalog_text(lang, u), cjk=script.cjk) not in text]
    assert not missing, missing
    # nothing a reader gets is a glyph stand-in: no Private Use code points, no Arabic presentation forms
    stand_ins = {ch for ch in text if "\ue000" <= ch <= "\uf8ff" or "\ufb50" <= ch <= "\ufeff"}
    assert not stand_ins, sorted(stand_ins)[:5]


@pytest.mark.parametrize("lang", RTL_LANGS)
def test_right_to_left_lines_carry_their_logical_text(lang):
    """Every glyph of a right-to-left font is inside an ActualText span, and each span is a whole
    line in logical order: the reading order that poppler cannot show."""
    pdf = rendered(Job(LEAFLET, lang, "handout")).pdf
    pages = text_layer(pdf)
    assert sum(line.actual for page in pages for line in page) >= 20
    for page in pages:
        for line in page:
            bare_rtl = [ch for ch in line.bare_text if unicodedata.bidirectional(ch) in ("R", "AL")]
            assert not bare_rtl, line.text
    title = catalog_text(lang, LEAF.title)
    assert pages[0][0].text.startswith(title.split()[0]), "first word of the title opens the first line"


MIRROR = str.maketrans("()[]{}«»", ")(][}{»«")


def _visible(text: str) -> str:
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


@pytest.mark.parametrize("lang", RTL_LANGS)
def test_right_to_left_lines_are_drawn_in_visual_order(lang):
    """From the glyphs as placed (ToUnicode of each run, left to right), independent of the bidi code:
    the line's first word is drawn right-most, and numbers ("1.0", "2026") read left to right."""
    pdf = rendered(Job(LEAFLET, lang, "handout")).pdf
    checked = numbers = 0
    for page in text_layer(pdf):
        for line in page:
            if not line.actual:
                continue
            visual = "".join(text for _, text in sorted(line.drawn, key=lambda d: d[0]))
            first = line.text.split()[0]
            if ARABIC_LETTERS.search(first):
                # brackets are drawn mirrored (rule L4); joiners (ZWNJ in Persian) are invisible
                rightmost = visual.split()[-1][::-1].translate(MIRROR)
                assert _visible(unicodedata.normalize("NFKC", rightmost)) == _visible(first), (line.text, visual)
                checked += 1
            for number in re.findall(r"\d+(?:\.\d+)*", line.text):
                assert number in unicodedata.normalize("NFKC", visual), (number, line.text)
                numbers += 1
    assert checked >= 20 and numbers >= 3


@pytest.mark.parametrize("lang", RTL_LANGS)
def test_right_to_left_lines_are_right_aligned(lang, tmp_path):
    """Most lines end on the right edge of a column that mirrors the English one; the left edge is ragged."""
    en, rtl = tmp_path / "en.pdf", tmp_path / f"{lang}.pdf"
    en.write_bytes(rendered(Job(LEAFLET, "en", "handout")).pdf)
    rtl.write_bytes(rendered(Job(LEAFLET, lang, "handout")).pdf)
    left, _ = Counter(round(ln["xMin"]) for ln in bbox_lines(en) if ln["words"]).most_common(1)[0]
    lines = [ln for ln in bbox_lines(rtl) if ln["words"]]
    right, n = Counter(round(ln["xMax"]) for ln in lines).most_common(1)[0]
    assert n >= 8, "most lines end on the right margin"
    assert abs((A4[0] - right) - left) <= 2, (left, right)
    ragged = {round(ln["xMin"]) for ln in lines if abs(ln["xMax"] - right) <= 1}
    assert len(ragged) > 3, "ragged left edge, like a right-to-left page"


def _outline(font: TTFont, glyph: str) -> tuple:
    glyf = font["glyf"]
    coords, ends, _ = glyf[glyph].getCoordinates(glyf)
    return font["hmtx"][glyph][0], tuple(ends), tuple((round(x), round(y)) for x, y in coords)


@pytest.mark.parametrize("lang", ["hi", "bn", "pa"])
def test_shaped_glyphs_are_harfbuzz_own_choice(lang):
    """The glyphs the PDF draws for each shaped line are the ones HarfBuzz picks for its text.

    Independent of leafgen and ReportLab: HarfBuzz shapes the line's ActualText with the vendored
    font file, and each glyph placed in the PDF is identified by its outline in the embedded subset.
    """
    pdf = rendered(Job(LEAFLET, lang, "handout")).pdf
    script = script_for(lang)
    path = scripts.FONT_DIR / scripts.FONT_FILES[script.regular]
    blob = path.read_bytes()
    hb_font = uharfbuzz.Font(uharfbuzz.Face(blob))
    original = TTFont(io.BytesIO(blob))
    order = original.getGlyphOrder()
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        fonts = doc.pages[0].Resources.Font
        subsets = {
            str(k): TTFont(io.BytesIO(v.FontDescriptor.FontFile2.read_bytes()))
            for k, v in fonts.items()
            if str(v.BaseFont).split("+", 1)[-1] == original["name"].getDebugName(6)
        }
    assert subsets
    checked = 0
    for line in text_layer(pdf)[0]:
        drawn = [(f, c) for f, c in line.glyphs if f in subsets]
        if not line.actual or not drawn or drawn != line.glyphs or len(line.sizes) != 1:
            continue  # only lines wholly in the script's regular face
        buf = uharfbuzz.Buffer()
        buf.add_str(line.text)
        buf.guess_segment_properties()
        uharfbuzz.shape(hb_font, buf, None)
        expected = [_outline(original, order[g.codepoint]) for g in buf.glyph_infos]
        placed = []
        for f, code in drawn:
            sub = subsets[f]
            placed.append(_outline(sub, sub["cmap"].getcmap(1, 0).cmap[code]))  # ReportLab subsets: Mac cmap
        assert placed == expected, line.text
        checked += 1
    assert checked >= 5
    # and shaping did something here: HarfBuzz's glyphs differ from one glyph per character, in order
    summary = catalog_text(lang, LEAF.summary)
    cmap = original.getBestCmap()
    naive = [original.getGlyphID(cmap[ord(ch)]) for ch in summary if ord(ch) in cmap]
    assert _hb_gids(hb_font, summary) != naive


def _hb_gids(hb_font, text: str) -> list[int]:
    buf = uharfbuzz.Buffer()
    buf.add_str(text)
    buf.guess_segment_properties()
    uharfbuzz.shape(hb_font, buf, None)
    return [g.codepoint for g in buf.glyph_infos]


# ----------------------------------------------------------------------------- line and page breaks


def _heading_sizes(large: bool) -> set[float]:
    variant = theme(SHIPPED)["large" if large else "standard"]
    return {float(variant["h1_size"]), float(variant["h2_size"])}


@pytest.mark.parametrize(("paper", "large"), [("a4", False), ("letter", True)])
@pytest.mark.parametrize("lang", SHIPPED_LANGS)
def test_no_heading_is_the_last_line_of_a_page(lang, paper, large):
    pdf = rendered(Job(LEAFLET, lang, "handout", paper, large)).pdf
    pages = story_lines(pdf)
    assert len(pages) >= 2
    headings = _heading_sizes(large)
    for number, page in enumerate(pages[:-1], start=1):
        last = page[-1]
        assert not (last.sizes & headings), f"page {number} ends with the heading {last.text!r}"


@pytest.mark.parametrize("lang", SHIPPED_LANGS)
def test_no_date_is_split_over_two_lines(lang):
    leaf = LEAF.document
    dates = [fold(format_date(d, lang), cjk=False) for d in (leaf.published, leaf.review)]
    for kind in ("handout", "checklist"):
        lines = [fold(line.text, cjk=False) for line in text_layer(rendered(Job(LEAFLET, lang, kind)).pdf)[0]]
        for date in dates:
            assert any(date in line for line in lines), (kind, date, lines[-4:])


@pytest.mark.parametrize("lang", CJK_LANGS)
def test_chinese_lines_follow_kinsoku(lang):
    """No line ends with an opening bracket or quote; none starts with closing punctuation."""
    for kind in ("handout", "checklist"):
        for page in text_layer(rendered(Job(LEAFLET, lang, kind)).pdf):
            for line in page:
                text = line.text.strip()
                assert text[-1] not in scripts.TABLE.cannot_end, text
                assert text[0] not in scripts.TABLE.cannot_start, text


def test_kinsoku_rules_in_the_breaker():
    assert not break_allowed("（", "注")
    assert not break_allowed("意", "）")
    assert not break_allowed("意", "。")
    assert not break_allowed("B", "1")
    assert break_allowed("意", "注") and break_allowed("。", "注")


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("vi", "23 tháng 11 năm 2026"),
        ("ht", "23 novanm 2026"),
        ("es", "23 de noviembre de 2026"),
        ("ko", "2026년 11월 23일"),
    ],
)
def test_dates_read_naturally_and_never_break(lang, expected):
    date = format_date(datetime.date(2026, 11, 23), lang)
    assert date.replace("\u00a0", " ") == expected
    assert " " not in date  # no breaking space left


def test_chinese_date_is_glued_with_word_joiners():
    assert format_date(datetime.date(2026, 11, 23), "zh_Hant").replace("\u2060", "") == "2026年11月23日"
    assert "\u2060" in format_date(datetime.date(2026, 11, 23), "zh_Hant")


# ----------------------------------------------------------------------------- catalogs and the table


def test_every_shipped_language_has_a_table_row_and_its_fonts():
    for lang in SHIPPED_LANGS:
        primary = lang.split("_")[0]
        assert lang.lower() in scripts.TABLE.languages or primary in scripts.TABLE.languages, lang
        assert all(p.is_file() for p in script_for(lang).font_files)
    assert {script_for(lang).name for lang in SHIPPED_LANGS} >= {
        "latin",
        "arabic",
        "han",
        "hangul",
        "devanagari",
        "bengali",
        "gurmukhi",
    }


def test_a_broken_table_row_is_a_clear_error(tmp_path):
    bad = tmp_path / "scripts.toml"
    bad.write_text(
        scripts.TABLE_PATH.read_text(encoding="utf-8").replace('shaping = "harfbuzz"', 'shaping = "magic"', 1)
    )
    with pytest.raises(LeafgenError, match=r"scripts.toml: script 'devanagari': shaping must be one of"):
        scripts.load_table(bad)


def test_hebrew_needs_only_a_table_row(tmp_path):
    """The bidi path is the same for every right-to-left script: Hebrew, with a comma and digits
    its face lacks (drawn from the fallback), comes out right-aligned with its text in logical order."""
    script = script_for("he")
    assert script.rtl and script.fallback == "NotoSans"
    text = "קחו כדור אחד, פעמיים ביום (B12) אחרי האוכל. אם יש סחרחורת, פנו לרופא."
    flow = paragraph(text, body_style(script), script)
    assert isinstance(flow, LineParagraph)
    pdf, doc = build(tmp_path / "he.pdf", script, [flow])
    assert_fonts_embedded(pdf)
    layer = text_layer(pdf.read_bytes())[0]
    assert " ".join(line.text for line in layer) == text
    lines = [ln for ln in bbox_lines(pdf) if ln["words"]]
    assert all(abs(ln["xMax"] - content_right_edge(doc)) <= 2 for ln in lines)


def test_a_character_no_face_has_is_a_font_error(project):
    def edit(catalog) -> None:
        catalog[LEAF.title].string = "पीठ में झुनझुनी \U0001f9ea"  # a test tube: in none of the faces

    edit_catalog(project, "hi", edit)
    with pytest.raises(FontError, match=r"U\+1F9EA"):
        render_job(project, Job(LEAFLET, "hi", "handout"))


def test_shaped_pdf_bytes_do_not_depend_on_what_the_process_drew_before():
    """HarfBuzz glyphs without a character get Private Use codes; numbered as met, a worker that drew
    the checklist first would write a different handout. Fresh processes must agree byte for byte."""
    code = (
        "import hashlib, sys; from conftest import SHIPPED, LEAFLET; from leafgen.render.job import Job;"
        "from leafgen.render.pipeline import render_job;"
        "pdfs = [render_job(SHIPPED, Job(LEAFLET, 'hi', k)).pdf for k in sys.argv[1:]];"
        "print(hashlib.sha256(pdfs[-1]).hexdigest())"
    )
    tests = Path(__file__).parent

    def digest(*kinds: str) -> str:
        out = subprocess.run([sys.executable, "-c", code, *kinds], cwd=tests, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert digest("handout") == digest("checklist", "handout")

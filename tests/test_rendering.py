"""The printed result: every word of the leaflet on the page, right paper, embedded fonts, metadata, reproducibility."""

from __future__ import annotations

import re
import struct
import subprocess
import sys

import pytest
from pypdf.generic import ContentStream

from conftest import LEAFLET, SHIPPED, normalise, pdf_reader, pdf_text, rendered, require
from leafgen.api import render
from leafgen.content.model import Bullets
from leafgen.content.profile import clinic, theme
from leafgen.content.schema import load_disclaimer, load_leaflet
from leafgen.render.job import Job
from leafgen.render.layout import layout
from leafgen.render.pdf import write_pdf

LEAF = load_leaflet(SHIPPED.leaflet_path(LEAFLET))[0]
DISCLAIMER = load_disclaimer(SHIPPED.disclaimer_path)
VARIANTS = [(paper, large) for paper in ("a4", "letter") for large in (False, True)]
POINTS = {"a4": (595.3, 841.9), "letter": (612.0, 792.0)}


def handout_texts() -> list[str]:
    out = [LEAF.title, LEAF.summary]
    for s in LEAF.sections:
        out.append(s.heading)
        for b in s.blocks:
            out.extend(b.items if isinstance(b, Bullets) else [b.text])
    return out + [DISCLAIMER.heading, DISCLAIMER.text, *LEAF.document.sources]


def checklist_texts() -> list[str]:
    c = LEAF.checklist
    out = [c.title, c.intro, LEAF.title, DISCLAIMER.heading, DISCLAIMER.text]
    for i in c.items:
        out += [i.instruction, i.frequency] + ([i.safety] if i.safety else [])
    return out


def body_text(pdf: bytes) -> str:
    """The story without running lines, so a paragraph broken across pages reads as one."""
    pages = [p.extract_text().splitlines() for p in pdf_reader(pdf).pages]
    running = set.intersection(*(set(lines) for lines in pages)) if len(pages) > 1 else set()
    page_number = re.compile(r"^Page \d+ of \d+$")
    return "\n".join(ln for lines in pages for ln in lines if ln not in running and not page_number.match(ln))


@pytest.mark.parametrize(("paper", "large"), VARIANTS)
@pytest.mark.parametrize("kind", ["handout", "checklist"])
def test_every_text_of_the_leaflet_is_in_the_pdf(kind, paper, large):
    text = normalise(body_text(rendered(Job(LEAFLET, "en", kind, paper, large)).pdf))
    expected = handout_texts() if kind == "handout" else checklist_texts()
    missing = [t for t in expected if normalise(t) not in text]
    assert not missing


@pytest.mark.parametrize(("paper", "large"), VARIANTS)
def test_page_size_and_footer(paper, large):
    r = rendered(Job(LEAFLET, "en", "handout", paper, large))
    reader = pdf_reader(r.pdf)
    for page in reader.pages:
        w, h = float(page.mediabox.width), float(page.mediabox.height)
        assert (round(w, 1), round(h, 1)) == POINTS[paper]
    assert r.pages == len(reader.pages) >= 2
    text = normalise(pdf_text(r.pdf))
    assert f"Page 1 of {r.pages}" in text and f"Page {r.pages} of {r.pages}" in text
    assert "Version 1.0" in text and "Review due November 23, 2027" in text


def font_sizes(pdf: bytes) -> set[float]:
    """Every size set with Tf in the page content: what a reader actually sees."""
    sizes = set()
    for page in pdf_reader(pdf).pages:
        content = ContentStream(page.get_contents(), page.pdf)
        for operands, op in content.operations:
            if op == b"Tf":
                sizes.add(float(operands[1]))
    return sizes


def test_body_text_sizes_standard_and_large_print():
    standard = font_sizes(rendered(Job(LEAFLET, "en", "handout", "a4", False)).pdf)
    large = font_sizes(rendered(Job(LEAFLET, "en", "handout", "a4", True)).pdf)
    assert 12 in standard and min(standard) >= 10  # body 12 pt, footer 10 pt
    assert 16 in large and min(large) >= 14  # UKAAF large print: body 16 pt, nothing under 14
    assert max(large) > 16  # headings larger than body


def test_line_length_suits_reading():
    """60-70 characters a line for standard print body text (the title and footer aside)."""
    text = pdf_text(rendered(Job(LEAFLET, "en", "handout", "a4", False)).pdf)
    full = sorted(len(ln) for ln in text.splitlines() if len(ln) > 40)  # last lines of paragraphs aside
    median = full[len(full) // 2]
    assert 60 <= median <= 70, full


@pytest.mark.parametrize(("kind", "fillable"), [("handout", False), ("checklist", False), ("checklist", True)])
def test_all_fonts_embedded_no_helvetica(kind, fillable):
    r = rendered(Job(LEAFLET, "en", kind, "a4", False, fillable))
    path = SHIPPED.root / "out" / f"test-fonts-{kind}-{fillable}.pdf"
    listing = _pdffonts(r.pdf, path)
    rows = listing.splitlines()[2:]
    assert rows, listing
    for row in rows:
        assert "Helvetica" not in row
        assert row.split()[-5] == "yes", row  # emb column


def _pdffonts(pdf: bytes, path) -> str:
    require("pdffonts")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pdf)
    try:
        return subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    finally:
        path.unlink()


def test_metadata_title_author_subject_language():
    reader = pdf_reader(rendered(Job(LEAFLET, "en", "handout")).pdf)
    meta = reader.metadata
    assert meta.title == LEAF.title
    assert meta.author == clinic(SHIPPED)["name"]
    assert meta.subject == "Patient information leaflet"
    assert reader.trailer["/Root"]["/Lang"] == "en"


def test_same_inputs_give_byte_identical_pdfs():
    a = render(LEAFLET, "en", "checklist", "letter", large_print=True)
    b = render(LEAFLET, "en", "checklist", "letter", large_print=True)
    assert a == b
    assert pdf_reader(a).trailer["/Info"]["/CreationDate"] == "D:20000101000000+00'00'"  # invariant, not today


def test_a_warm_process_renders_the_same_bytes_as_a_fresh_one(tmp_path):
    """What is kept across documents (parsed paragraphs, styles, leaflets) never changes a PDF: a build's
    workers and the desk render many documents per process."""
    langs = ("en", "zh_Hans")  # a plain and a CJK paragraph class
    probe = (
        "import sys; from pathlib import Path; from leafgen.api import render\n"
        f"for lang in {langs!r}: Path(sys.argv[1], lang).write_bytes(render({LEAFLET!r}, lang))"
    )
    subprocess.run([sys.executable, "-c", probe, str(tmp_path)], check=True)
    for lang in ("en", "es", "ar", "zh_Hans"):  # other documents first: every cache holds something,
        for kind in ("checklist", "handout"):  # the same words in other styles too (large print)
            render(LEAFLET, lang, kind, "letter", large_print=True)
    for lang in langs:
        assert render(LEAFLET, lang) == (tmp_path / lang).read_bytes(), lang


def test_fillable_checklist_has_a_check_box_per_item_and_day():
    reader = pdf_reader(rendered(Job(LEAFLET, "en", "checklist", "a4", False, True)).pdf)
    fields = reader.get_fields()
    assert len(fields) == len(LEAF.checklist.items) * 7
    assert {f["/FT"] for f in fields.values()} == {"/Btn"}
    assert "sitting_day1" in fields and "worse_day7" in fields


def test_printed_checklist_has_no_form_fields():
    reader = pdf_reader(rendered(Job(LEAFLET, "en", "checklist")).pdf)
    assert not reader.get_fields()


def test_content_cannot_inject_markup(project):
    """A leaflet author's '<b>' or '&' and a template-looking '{{ x }}' print as text."""
    path = project.leaflet_path(LEAFLET)
    hostile = "Take <font size=40>1</font> & see <b>bold</b> {{ clinic.name }} <para/> ]]>"
    path.write_text(path.read_text(encoding="utf-8").replace("heading: Symptoms", f"heading: '{hostile}'"))
    pdf = render(LEAFLET, "en", project=project.root)
    assert normalise(hostile) in normalise(pdf_text(pdf))


def test_draft_leaflet_says_so_on_every_page_and_approved_does_not(project):
    draft = "Draft: not yet approved for use with patients."
    assert LEAF.document.status == "draft"
    pages = pdf_reader(rendered(Job(LEAFLET, "en", "handout")).pdf).pages
    assert all(draft in normalise(p.extract_text()) for p in pages)
    path = project.leaflet_path(LEAFLET)
    path.write_text(path.read_text(encoding="utf-8").replace("status: draft", "status: approved"), encoding="utf-8")
    assert draft not in normalise(pdf_text(render(LEAFLET, "en", project=project.root)))


def _boxes_pdf(filler: int, box_paragraphs: int) -> list[str]:
    """Page texts of a story: `filler` paragraphs, then one box of `box_paragraphs` numbered paragraphs."""
    words = "Rest, keep moving gently, and see your doctor if the numbness spreads. " * 3
    body = "".join(f"<p>Filler {i}. {words}</p>" for i in range(filler))
    box = "".join(f"<p>Boxed {i}. {words}</p>" for i in range(box_paragraphs))
    xml = f'<document title="t">{body}<box style="urgent">{box}</box><p>After the box.</p></document>'
    laid = layout(xml, template=SHIPPED.templates_dir / "x", theme=theme(SHIPPED), lang="en", paper="a4",
                  large_print=False)  # fmt: skip
    pdf, _ = write_pdf(laid, "en")
    return [normalise(p.extract_text()) for p in pdf_reader(pdf).pages]


@pytest.mark.parametrize("filler", [6, 8, 10])
def test_a_box_that_fits_on_a_page_is_never_split(filler):
    pages = _boxes_pdf(filler, 4)
    holding = [i for i, text in enumerate(pages) if "Boxed" in text]
    assert len(holding) == 1, [p[:80] for p in pages]
    assert all(f"Boxed {i}." in pages[holding[0]] for i in range(4))


def test_a_box_longer_than_a_page_still_splits_and_keeps_every_paragraph():
    pages = _boxes_pdf(3, 14)
    text = " ".join(pages)
    assert all(f"Boxed {i}." in text for i in range(14)) and "After the box." in text
    assert sum("Boxed" in p for p in pages) >= 2


@pytest.mark.parametrize("lang", ["en", "ar", "ko"])  # (Droid Sans Fallback: 27 bytes of fpgm, prep, cvt)
def test_embedded_fonts_carry_no_hinting(lang):
    """Hinting was about a third of every PDF and print does not use it: vendored fonts are unhinted."""
    pdf = rendered(Job(LEAFLET, lang, "handout", "a4")).pdf
    tags = {}
    for page in pdf_reader(pdf).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            if font["/Subtype"] == "/Type0":  # subsets of one face sharing one program (text/embed.py)
                font = font["/DescendantFonts"][0].get_object()
            descriptor = font.get("/FontDescriptor")
            if descriptor is None or "/FontFile2" not in descriptor.get_object():
                continue
            data = descriptor.get_object()["/FontFile2"].get_object().get_data()
            count = struct.unpack(">H", data[4:6])[0]  # the sfnt table directory
            tags[str(font["/BaseFont"])] = {data[12 + 16 * i : 16 + 16 * i] for i in range(count)}
    assert tags and all(not ({b"fpgm", b"prep", b"cvt "} & found) for found in tags.values()), tags

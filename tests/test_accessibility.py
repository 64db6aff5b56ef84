"""Tagged PDF (PDF/UA-1): a screen reader gets every unit in reading order, under the right element type.

What poppler shows (`pdfinfo -struct-text`) is checked against the translated leaflet, unit by unit;
the rest (marked content, ParentTree, form fields, fonts, metadata) is checked with pikepdf.
"""

from __future__ import annotations

import io
import subprocess
from dataclasses import dataclass

import pdfua
import pikepdf
import pytest
from reportlab.pdfgen.canvas import Canvas

from conftest import LEAFLET, SHIPPED, edit_catalog, rendered, require, squash
from leafgen.api import render
from leafgen.content.model import Bullets
from leafgen.content.schema import load_disclaimer, load_leaflet
from leafgen.i18n.catalogs import translator
from leafgen.render.job import Job
from leafgen.render.pipeline import render_job, translate
from leafgen.text.scripts import script_for
from textlayer import mcid_texts

LANGS = SHIPPED.languages()
SOURCE, DISCLAIMER = load_leaflet(SHIPPED.leaflet_path(LEAFLET))[0], load_disclaimer(SHIPPED.disclaimer_path)
TEXT_OPS = {"Tj", "TJ", "'", '"'}


# --- what poppler shows ---------------------------------------------------------------------------------------------


@dataclass
class Leaf:
    path: tuple[str, ...]  # element types from the root down, e.g. ("Document", "Sect", "L", "LI", "LBody")
    text: str


def struct_text(pdf: bytes, tmp_path) -> list[Leaf]:
    """The structure tree as `pdfinfo -struct-text` prints it: each element's text with its ancestry."""
    f = tmp_path / "doc.pdf"
    f.write_bytes(pdf)
    out = subprocess.run([require("pdfinfo"), "-struct-text", str(f)], capture_output=True, text=True, check=True)
    leaves, stack = [], []
    for line in out.stdout.splitlines():
        body = line.lstrip(" ")
        depth = (len(line) - len(body)) // 2
        if body.startswith('"'):
            leaves.append(Leaf(tuple(role for _, role in stack), body[1:-1]))
        elif body and not body.startswith("/") and body.split()[0].rstrip(":").isalnum():
            stack = [(d, r) for d, r in stack if d < depth] + [(depth, body.split()[0].rstrip(":"))]
    return leaves


def kid_dicts(pdf: bytes) -> list[pikepdf.Dictionary]:
    """Every dictionary among the structure elements' kids (MCRs, OBJRs), read the way a viewer does."""
    doc = pikepdf.open(io.BytesIO(pdf))
    elems = [o for o in doc.objects if isinstance(o, pikepdf.Dictionary) and o.get("/Type") == "/StructElem"]
    return [k for e in elems for k in _kids(e) if isinstance(k, pikepdf.Dictionary) and "/Type" in k]


def _kids(elem: pikepdf.Object) -> list[pikepdf.Object]:
    k = elem.get("/K")
    if k is None:
        return []
    return list(k) if isinstance(k, pikepdf.Array) else [k]


def tree_text(pdf: bytes) -> list[Leaf]:
    """The structure tree read with pikepdf: each element's own text (in K order) with its ancestry."""
    doc = pikepdf.open(io.BytesIO(pdf))
    texts = mcid_texts(doc)
    index = {page.obj.objgen: i for i, page in enumerate(doc.pages)}
    leaves: list[Leaf] = []

    def walk(elem: pikepdf.Object, path: tuple[str, ...]) -> None:
        path = (*path, str(elem.S)[1:])
        own = []
        for k in _kids(elem):
            if isinstance(k, int):
                own.append(texts.get((index[elem.Pg.objgen], int(k)), ""))
            elif k.get("/Type") == "/MCR":
                own.append(texts.get((index[k.Pg.objgen], int(k.MCID)), ""))
            elif "/S" in k:
                walk(k, path)
        if own:
            leaves.append(Leaf(path, "".join(own)))

    walk(doc.Root.StructTreeRoot.K, ())
    return leaves


def expected_units(lang: str, kind: str) -> list[tuple[str, tuple[str, ...], bool]]:
    """(text, element types that must be in its ancestry, whole element?) in the leaflet's reading order."""
    leaflet, disclaimer = translate(SOURCE, DISCLAIMER, translator(SHIPPED, lang))
    box = [(disclaimer.heading, ("Sect", "H2"), True), (disclaimer.text, ("Sect", "P"), True)]
    if kind == "checklist":
        c = leaflet.checklist
        out = [(c.title, ("H1",), True), (leaflet.title, ("P",), True), (c.intro, ("P",), True)]
        for item in c.items:
            out.append((item.instruction, ("Table", "TR", "TH", "P"), True))
            # "How often: …" and "Safety: …" wrap the unit in a template string.
            out += [(t, ("Table", "TR", "TH", "P"), False) for t in (item.frequency, item.safety) if t]
        return out + box
    out = [(leaflet.title, ("H1",), True), (leaflet.summary, ("Sect", "P"), True)]
    for s in leaflet.sections:
        out.append((s.heading, ("Sect", "H2"), True))
        for b in s.blocks:
            if isinstance(b, Bullets):
                out += [(t, ("L", "LI", "LBody"), True) for t in b.items]
            else:
                out.append((b.text, ("P",), True))
    return out + box + [(t, ("L", "LI", "LBody"), True) for t in leaflet.document.sources]


def matches(leaf: Leaf, text: str, whole: bool) -> bool:
    """Whitespace aside (lines join without a space in poppler's output; Chinese has none)."""
    return squash(leaf.text) == squash(text) if whole else squash(text) in squash(leaf.text)


def assert_units_in_order(leaves: list[Leaf], lang: str, kind: str) -> None:
    at = 0
    for text, roles, whole in expected_units(lang, kind):
        found = next(
            (i for i in range(at, len(leaves)) if matches(leaves[i], text, whole)),
            None,
        )
        assert found is not None, f"{lang} {kind}: not found (in order) in the structure: {text[:60]!r}"
        path = leaves[found].path
        assert path[0] == "Document" and path[-1] == roles[-1], (text[:40], path)
        assert all(r in path for r in roles), (text[:40], path)
        at = found + 1


@pytest.mark.parametrize("kind", ["handout", "checklist"])
@pytest.mark.parametrize("lang", LANGS)
def test_structure_reads_every_unit_in_order_under_its_element(lang, kind, tmp_path):
    """Headings under H1/H2, paragraphs under P, bullets under LI/LBody, checklist items in the table's rows.

    Read twice: with pikepdf, taking /ActualText where the glyphs are shaped or reordered, for every
    language; and with poppler (`pdfinfo -struct-text`, what a clinic can run), which must see the
    same elements, and whose text is compared too except where it cannot show it: poppler 22.12's
    -struct-text ignores /ActualText (it shows the drawn glyphs, in visual order for right-to-left
    lines, and only part of a multi-line shaped paragraph), so for shaped and right-to-left scripts
    only its element sequence is compared.
    """
    pdf = rendered(Job(LEAFLET, lang, kind, fillable=kind == "checklist")).pdf
    ours, poppler = tree_text(pdf), struct_text(pdf, tmp_path)
    assert_units_in_order(ours, lang, kind)
    assert [leaf.path for leaf in poppler] == [leaf.path for leaf in ours]
    script = script_for(lang)
    if not (script.harfbuzz or script.rtl):
        assert_units_in_order(poppler, lang, kind)


def test_draft_banner_is_read_once_first_and_repeats_as_artifact(tmp_path):
    job = Job(LEAFLET, "en", "handout")
    leaves = struct_text(rendered(job).pdf, tmp_path)
    banner = [leaf for leaf in leaves if leaf.text.startswith("Draft:")]
    assert rendered(job).pages > 1 and len(banner) == 1 and leaves[0] is banner[0]
    assert banner[0].path == ("Document", "P")


def test_running_header_footer_and_page_numbers_are_not_read(tmp_path):
    text = " ".join(leaf.text for leaf in struct_text(rendered(Job(LEAFLET, "en", "handout")).pdf, tmp_path))
    assert SOURCE.title in text and SOURCE.sections[0].heading in text  # the tree is there...
    assert "Page 1 of" not in text and "Version" not in text and "Review due" not in text  # ...without these


def test_checklist_header_rows_are_column_headers_read_once(tmp_path):
    pdf = rendered(Job(LEAFLET, "en", "checklist", "a4", True)).pdf  # large print: the grid spans pages
    leaves = struct_text(pdf, tmp_path)
    assert rendered(Job(LEAFLET, "en", "checklist", "a4", True)).pages > 1
    heads = [leaf.text for leaf in leaves if leaf.path[-1] == "TH"]
    assert heads == ["What to do", "Day", "1", "2", "3", "4", "5", "6", "7"]  # not again on page 2


# --- what pikepdf shows ---------------------------------------------------------------------------------------------


def ua_problems(pdf_bytes: bytes) -> list[str]:
    """What a PDF/UA checker would refuse, among what can be decided here without veraPDF."""
    problems: list[str] = []
    pdf = pikepdf.open(io.BytesIO(pdf_bytes))
    root = pdf.Root
    if pdf.pdf_version < "1.7":
        problems.append(f"PDF {pdf.pdf_version}: PDF/UA-1 is built on PDF 1.7")
    if str(root.get("/Lang", "")) == "":
        problems.append("no /Lang on the catalog")
    if "/MarkInfo" not in root or not bool(root.MarkInfo.get("/Marked", False)):
        problems.append("not /Marked")
    if not bool(root.get("/ViewerPreferences", {}).get("/DisplayDocTitle", False)):
        problems.append("DisplayDocTitle is not true")
    xmp = bytes(root.Metadata.read_bytes()).decode() if "/Metadata" in root else ""
    if "<pdfuaid:part>1</pdfuaid:part>" not in xmp or "<dc:title>" not in xmp:
        problems.append("XMP lacks pdfuaid:part 1 or dc:title")
    if "/StructTreeRoot" not in root:
        return [*problems, "no structure tree"]
    tree = root.StructTreeRoot
    nums = list(tree.ParentTree.Nums)
    parent_tree = {int(nums[i]): nums[i + 1] for i in range(0, len(nums), 2)}

    # Every element in the tree: its parent link, and the MCIDs and widgets it claims.
    claimed: dict[tuple[int, int], pikepdf.Object] = {}  # (page objgen, mcid) -> element
    widgets: dict[tuple[int, int], pikepdf.Object] = {}  # annot objgen -> element
    todo = [(tree.K, tree)]
    while todo:
        elem, parent = todo.pop()
        if elem.P.objgen != parent.objgen:
            problems.append(f"{elem.S} has a wrong /P")
        page = elem.get("/Pg")
        for k in _kids(elem):
            if isinstance(k, int):
                claimed[(page.objgen, int(k))] = elem
            elif k.get("/Type") == "/MCR":
                claimed[(k.Pg.objgen, int(k.MCID))] = elem
            elif k.get("/Type") == "/OBJR":
                widgets[k.Obj.objgen] = elem
            else:
                todo.append((k, elem))

    seen: set[tuple[int, int]] = set()
    for n, page in enumerate(pdf.pages, start=1):
        stack: list[tuple[str, bool]] = []  # (tag, has MCID) of each open marked-content sequence
        for operands, op in pikepdf.parse_content_stream(page):
            op = str(op)
            if op in ("BDC", "BMC"):
                tag = str(operands[0])
                mcid = op == "BDC" and isinstance(operands[1], pikepdf.Dictionary) and "/MCID" in operands[1]
                if mcid:
                    if any(t == "/Artifact" or m for t, m in stack):
                        problems.append(f"page {n}: MCID nested inside other marked content")
                    key = (page.obj.objgen, int(operands[1].MCID))
                    if key in seen:
                        problems.append(f"page {n}: MCID {key[1]} used twice")
                    seen.add(key)
                    elem = parent_tree[int(page.StructParents)][key[1]]
                    if claimed.get(key) is None or claimed[key].objgen != elem.objgen:
                        problems.append(f"page {n}: MCID {key[1]} not reachable from the ParentTree")
                props = operands[1] if op == "BDC" else None
                inside = any(t == "/Artifact" or m for t, m in stack)
                if isinstance(props, pikepdf.Dictionary) and "/ActualText" in props and not inside:
                    problems.append(f"page {n}: /ActualText span outside tagged content and artifacts")
                stack.append((tag, mcid))
            elif op == "EMC":
                stack.pop()
            elif op in TEXT_OPS and not any(t == "/Artifact" or m for t, m in stack):
                problems.append(f"page {n}: text outside tagged content and artifacts: {operands!r:.60}")
        if stack:
            problems.append(f"page {n}: unbalanced marked content")
        for annot in page.get("/Annots", []):
            if annot.get("/Subtype") != "/Widget":
                continue
            if str(page.get("/Tabs", "")) != "/S":
                problems.append(f"page {n}: annotations but no /Tabs /S")
            if not str(annot.get("/TU", "")):
                problems.append(f"page {n}: field {annot.get('/T')} has no /TU")
            elem = parent_tree.get(int(annot.get("/StructParent", -1)))
            if elem is None or elem.S != "/Form" or widgets.get(annot.objgen) is None:
                problems.append(f"page {n}: field {annot.get('/T')} has no Form element")
            if annot.P.objgen != page.obj.objgen:
                problems.append(f"page {n}: field {annot.get('/T')} names another page")
    problems += [f"element claims MCID {m} that no page has" for (_, m) in claimed.keys() - seen]

    for page in pdf.pages:
        for name, font in page.Resources.get("/Font", {}).items():
            if "/ToUnicode" not in font:
                problems.append(f"font {name} ({font.get('/BaseFont')}) has no ToUnicode map")
            desc = font.get("/FontDescriptor") or font.DescendantFonts[0].FontDescriptor
            if not any(k in desc for k in ("/FontFile", "/FontFile2", "/FontFile3")):
                problems.append(f"font {font.get('/BaseFont')} is not embedded")
    return problems


MATRIX = [
    Job(LEAFLET, lang, kind, paper, large, fillable)
    for lang in LANGS
    for kind in ("handout", "checklist")
    for paper in ("a4", "letter")
    for large in (False, True)
    for fillable in ((False, True) if kind == "checklist" else (False,))
]


def job_id(j: Job) -> str:
    return f"{j.lang}-{j.kind}-{j.paper}-{'large' if j.large_print else 'std'}" + ("-fillable" if j.fillable else "")


@pytest.mark.parametrize("job", MATRIX, ids=job_id)
def test_every_pdf_is_tagged_throughout(job):
    """Text only inside tagged content or artifacts; MCIDs, fields and fonts as PDF/UA-1 requires."""
    assert ua_problems(rendered(job).pdf) == []


def test_the_checks_catch_an_untagged_pdf():
    """The checker itself: the same leaflet drawn without tagging is refused on every count."""
    buf = io.BytesIO()
    c = Canvas(buf)
    c.drawString(72, 720, "Hello")
    c.save()
    problems = ua_problems(buf.getvalue())
    assert "not /Marked" in problems and "no structure tree" in problems


def test_check_box_tooltips_say_day_and_instruction_in_the_language():
    pdf = pikepdf.open(io.BytesIO(rendered(Job(LEAFLET, "es", "checklist", fillable=True)).pdf))
    tips = {str(f.T): str(f.TU) for f in pdf.Root.AcroForm.Fields}
    tr = translator(SHIPPED, "es")
    leaflet, _ = translate(SOURCE, DISCLAIMER, tr)
    first = leaflet.checklist.items[0]
    template = tr("Day %(day)s: %(instruction)s")
    assert template.startswith("Día")
    assert tips[f"{first.id}_day3"] == template % {"day": 3, "instruction": first.instruction}
    assert len(tips) == 7 * len(leaflet.checklist.items)


def test_english_sources_in_an_arabic_leaflet_say_they_are_english():
    pdf = pikepdf.open(io.BytesIO(rendered(Job(LEAFLET, "ar", "handout")).pdf))
    assert str(pdf.Root.Lang) == "ar"
    langs = []
    todo = [pdf.Root.StructTreeRoot.K]
    while todo:
        elem = todo.pop()
        if "/Lang" in elem:
            langs.append((str(elem.S), str(elem.Lang)))
        todo += [k for k in _kids(elem) if isinstance(k, pikepdf.Dictionary) and "/S" in k]
    assert ("/L", "en") in langs
    assert all(lang == "en" for _, lang in langs)


def test_outline_lists_the_headings_in_order():
    pdf = pikepdf.open(io.BytesIO(rendered(Job(LEAFLET, "fr", "handout")).pdf))
    leaflet, disclaimer = translate(SOURCE, DISCLAIMER, translator(SHIPPED, "fr"))
    with pdf.open_outline() as outline:
        top = outline.root
        assert [o.title for o in top] == [leaflet.title]
        titles = [o.title for o in top[0].children]
    assert titles[: len(leaflet.sections)] == [s.heading for s in leaflet.sections]
    assert disclaimer.heading in titles
    assert str(pdf.Root.PageMode) == "/UseOutlines"


def test_xmp_title_matches_the_document_title():
    pdf = pikepdf.open(io.BytesIO(rendered(Job(LEAFLET, "uk", "checklist")).pdf))
    with pdf.open_metadata() as meta:
        assert meta["dc:title"] == str(pdf.docinfo.Title)
        assert meta["pdfuaid:part"] == "1"


@pytest.mark.parametrize("job", [Job(LEAFLET, "en", "checklist", fillable=True), Job(LEAFLET, "ar", "handout")])
def test_tagged_pdfs_rebuild_byte_identical_and_pass_qpdf(job, tmp_path):
    a, b = render_job(SHIPPED, job).pdf, render_job(SHIPPED, job).pdf
    assert a == b
    f = tmp_path / "doc.pdf"
    f.write_bytes(a)
    proc = subprocess.run([require("qpdf"), "--check", str(f)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("lang", ["en", "ar", "zh_Hans"])
@pytest.mark.parametrize("kind", ["handout", "checklist"])
def test_pdfua_checker_finds_nothing(lang, kind, tmp_path):
    """A second opinion: the `pdfua` package's checks (16 of PDF/UA-1's machine-checkable rules)."""
    f = tmp_path / "doc.pdf"
    f.write_bytes(rendered(Job(LEAFLET, lang, kind, fillable=kind == "checklist")).pdf)
    report = pdfua.validate(str(f))
    assert [(x.rule_id, x.message) for x in report.findings] == []


def lang_tagged(pdf_bytes: bytes) -> list[tuple[str, str]]:
    """(element type, /Lang) of every element that declares its own language, in reading order."""
    pdf = pikepdf.open(io.BytesIO(pdf_bytes))
    out, todo = [], [pdf.Root.StructTreeRoot.K]
    while todo:
        elem = todo.pop()
        if "/Lang" in elem:
            out.append((str(elem.S), str(elem.Lang)))
        todo += reversed([k for k in _kids(elem) if isinstance(k, pikepdf.Dictionary) and "/S" in k])
    return out


def test_english_fallback_units_are_tagged_english(project):
    """With --allow-fallback, a screen reader must switch to an English voice for the untranslated parts."""
    assert lang_tagged(render(LEAFLET, "es", project=project.root)) == [("/L", "en")]  # the sources only
    edit_catalog(project, "es", lambda c: setattr(c[SOURCE.summary], "string", ""))
    pdf = render(LEAFLET, "es", project=project.root, allow_fallback=True)
    assert lang_tagged(pdf) == [("/P", "en"), ("/L", "en")]


def test_paragraph_split_across_pages_is_one_element_on_both(project):
    """A paragraph broken by a page end is one P whose content is on two pages (MCID there, MCR here)."""
    path = project.leaflet_path(LEAFLET)
    long = " ".join(f"Sentence {i} of a paragraph long enough to run over the end of a page." for i in range(60))
    source = path.read_text(encoding="utf-8")
    path.write_text(source.replace("  Pins and needles in the back is a prickling", f"  {long} Pins and needles", 1))
    pdf = render(LEAFLET, "en", "handout", "a4", large_print=True, project=project.root)
    assert ua_problems(pdf) == []
    assert any(k.get("/Type") == "/MCR" for k in kid_dicts(pdf))
    [summary] = [leaf for leaf in tree_text(pdf) if "Sentence 0 " in leaf.text]
    assert summary.path == ("Document", "Sect", "P") and "Sentence 59 " in summary.text


@pytest.mark.parametrize("lang", ["en", "ar"])
def test_check_boxes_are_read_day_1_to_7_in_each_items_row(lang):
    """Structure order is logical whatever the page direction: the Arabic grid is drawn mirrored."""
    pdf = pikepdf.open(io.BytesIO(rendered(Job(LEAFLET, lang, "checklist", fillable=True)).pdf))
    todo, table = [pdf.Root.StructTreeRoot.K], None
    while todo and table is None:
        elem = todo.pop()
        table = elem if elem.S == "/Table" else None
        todo += [k for k in _kids(elem) if isinstance(k, pikepdf.Dictionary) and "/S" in k]
    rows = [tr for tr in _kids(table) if tr.S == "/TR"][2:]  # after the two header rows
    assert len(rows) == len(SOURCE.checklist.items)
    for item, tr in zip(SOURCE.checklist.items, rows, strict=True):
        cells = _kids(tr)
        assert [str(c.S) for c in cells] == ["/TH"] + ["/TD"] * 7
        names = [str(_kids(_kids(td)[0])[0].Obj.T) for td in cells[1:]]
        assert names == [f"{item.id}_day{d}" for d in range(1, 8)]


def test_check_boxes_keep_a_tooltip_when_a_clinics_template_has_no_tips(project):
    """A clinic's older checklist template without <tip>: each box is still named, from "Day" and the item."""
    template = project.templates_dir / "checklist.xml.j2"
    lines = template.read_text(encoding="utf-8").splitlines(keepends=True)
    template.write_text("".join(line for line in lines if "<tip " not in line), encoding="utf-8")
    pdf = render(LEAFLET, "fr", "checklist", fillable=True, project=project.root)
    assert ua_problems(pdf) == []
    doc = pikepdf.open(io.BytesIO(pdf))
    tips = {str(f.T): str(f.TU) for f in doc.Root.AcroForm.Fields}
    leaflet, _ = translate(SOURCE, DISCLAIMER, translator(SHIPPED, "fr"))
    first = leaflet.checklist.items[0]
    day = translator(SHIPPED, "fr")("Day")
    assert tips[f"{first.id}_day2"] == f"{day} 2: {first.instruction}"

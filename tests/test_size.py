"""File size: every shipped language's leaflets small enough to email and print quickly (issue 15: < 50 KB)."""

from __future__ import annotations

import io
import subprocess

import pikepdf
import pytest
from fontTools.ttLib import TTFont
from reportlab.pdfgen.canvas import Canvas

from conftest import LEAFLET, SHIPPED, rendered, require
from leafgen.render.job import Job
from leafgen.render.pack import PackError, pack
from leafgen.render.pipeline import render_job
from textlayer import _strings


def _reportlab_pdf() -> bytes:
    buf = io.BytesIO()
    canv = Canvas(buf, invariant=1)
    canv.setTitle("Title (with brackets) and endobj inside a string")
    canv.drawString(72, 720, "Hello endstream endobj")
    canv.bookmarkPage("p1")
    canv.addOutlineEntry("One", "p1")
    canv.showPage()
    canv.drawString(72, 720, "Page two")
    canv.save()
    return buf.getvalue()


def _objects(pdf: bytes) -> dict[int, bytes]:
    """Every object's value, as a reader sees it, whatever container it is stored in."""
    doc = pikepdf.open(io.BytesIO(pdf))
    out = {}
    for obj in doc.objects:
        if obj.objgen == (0, 0):  # a direct object pikepdf lists
            continue
        if isinstance(obj, pikepdf.Stream) and obj.get("/Type") in ("/ObjStm", "/XRef"):  # the new containers
            continue
        if isinstance(obj, pikepdf.Stream):
            out[obj.objgen[0]] = obj.stream_dict.unparse(resolved=True) + obj.read_raw_bytes()
        else:
            out[obj.objgen[0]] = obj.unparse(resolved=True)
    return out


def test_pack_keeps_every_object_and_the_trailer():
    """Object streams change where objects are stored, never what they say (text inside strings included)."""
    before = _reportlab_pdf()
    after = pack(before)
    assert len(after) < len(before)
    assert _objects(after) == _objects(before)
    old, new = pikepdf.open(io.BytesIO(before)), pikepdf.open(io.BytesIO(after))
    assert new.trailer.Root.objgen == old.trailer.Root.objgen
    assert new.trailer.Info.objgen == old.trailer.Info.objgen
    assert bytes(new.trailer.ID[0]) == bytes(old.trailer.ID[0])
    assert new.pdf_version == "1.5"  # raised from ReportLab's 1.4: object streams need 1.5


@pytest.mark.parametrize("bad", [b"", b"%PDF-1.4\nnot a pdf", _reportlab_pdf()[:-40]])
def test_pack_refuses_what_reportlab_did_not_write(bad):
    with pytest.raises(PackError):
        pack(bad)


def _programs(pdf: bytes) -> dict[tuple[int, int], tuple[TTFont, list[str], str]]:
    """Every embedded font program: (the program, the font resources (/F1+0) drawing with it, its /BaseFont).

    A face whose characters fill more than one 256-code subset is one program behind several Type 0 fonts.
    """
    out: dict[tuple[int, int], tuple[TTFont, list[str], str]] = {}
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        seen = set()
        for page in doc.pages:
            for name, font in page.Resources.Font.items():
                if (str(name), font.objgen) in seen:
                    continue
                seen.add((str(name), font.objgen))
                descendant = font.DescendantFonts[0] if font.Subtype == "/Type0" else font
                stream = descendant.FontDescriptor.FontFile2
                if stream.objgen not in out:
                    program = TTFont(io.BytesIO(stream.read_bytes()))
                    out[stream.objgen] = (program, [], str(descendant.BaseFont))
                out[stream.objgen][1].append(str(name))
    return out


@pytest.mark.parametrize("lang", ["en", "ko", "zh_Hant", "hi"])
def test_subsets_hold_only_the_glyphs_drawn(lang):
    """ReportLab's default put every ASCII glyph of a face into its first subset, drawn or not."""
    pdf = rendered(Job(LEAFLET, lang, "handout", "a4")).pdf
    drawn: dict[str, set[int]] = {}  # font resource -> codes shown with it, on any page
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        for page in doc.pages:
            font = ""
            for op in pikepdf.parse_content_stream(page):
                if str(op.operator) == "Tf":
                    font = str(op.operands[0])
                for string in _strings(op):
                    drawn.setdefault(font, set()).update(string)
    for program, fonts, base in _programs(pdf).values():
        # .notdef, the face's U+0000 (ReportLab's code 0), the space (it keeps code 32 for it), one glyph per code
        # drawn, and the components of composite glyphs (Droid Sans Fallback builds characters from radicals)
        glyf = program["glyf"]
        components = {c.glyphName for g in program.getGlyphOrder() for c in getattr(glyf[g], "components", [])}
        codes = sum(len(drawn.get(font, ())) for font in fonts)
        assert program["maxp"].numGlyphs <= 3 + codes + len(components), base
        assert {r.nameID for r in program["name"].names} <= {0, 1, 2, 4, 6}, base


@pytest.mark.parametrize("lang", ["ko", "zh_Hant"])
def test_a_face_is_embedded_once_however_many_characters(lang):
    """Over 255 characters of a face fill two ReportLab subsets: one font program behind both, not two copies."""
    pdf = rendered(Job(LEAFLET, lang, "handout", "a4")).pdf
    programs = _programs(pdf).values()
    faces = [base.split("+", 1)[1] for _, _, base in programs]
    assert len(faces) == len(set(faces)), faces
    assert any(len(fonts) > 1 for _, fonts, _ in programs)  # the case this is about: subsets sharing a program


LIMIT_KB = 50  # issue 15: every handout and checklist, every language, A4, standard print
# Not reached yet: the Chinese handouts' ~390 distinct characters cost ~40 KB of Droid Sans Fallback outlines
# alone (the most compact TrueType CJK face Debian has; WenQuanYi Micro Hei and AR PL UMing cost more). When
# they get under the limit, these fail (strict) and should go.
OVER = {("zh_Hans", "handout"), ("zh_Hant", "handout")}


@pytest.mark.parametrize(
    ("lang", "kind"),
    [
        pytest.param(lang, kind, marks=pytest.mark.xfail(strict=True, reason="Chinese handout: see OVER"))
        if (lang, kind) in OVER
        else (lang, kind)
        for lang in SHIPPED.languages()
        for kind in ("handout", "checklist")
    ],
)
def test_every_language_handout_and_checklist_under_50_kb(lang, kind, tmp_path):
    """Tagged, as `leafgen build` writes them; and still a well-formed PDF (qpdf --check)."""
    pdf = render_job(SHIPPED, Job(LEAFLET, lang, kind, "a4"), allow_fallback=True).pdf
    f = tmp_path / f"{lang}-{kind}.pdf"
    f.write_bytes(pdf)
    proc = subprocess.run([require("qpdf"), "--check", str(f)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(pdf) < LIMIT_KB * 1024, f"{lang} {kind}: {len(pdf) / 1024:.1f} KB"

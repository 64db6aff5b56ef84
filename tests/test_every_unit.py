"""Every translated unit of every shipped language is on the page: a patient gets the whole leaflet, in their language.

The languages come from the project (a new catalog is covered the day it is added); the expected text comes from
the catalog files read with Babel directly and the template strings formatted as the templates format them, and is
looked for in the real PDF's text layer (`pdftotext`; /ActualText for right-to-left lines).
"""

from __future__ import annotations

import re
import subprocess
import unicodedata
from functools import lru_cache
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from conftest import LEAFLET, SHIPPED, copy_project, rendered, require
from leafgen.content.model import Bullets
from leafgen.content.profile import clinic
from leafgen.content.schema import load_disclaimer, load_leaflet
from leafgen.i18n.locales import format_date
from leafgen.project import SOURCE_LANG, Project
from leafgen.render.job import Job
from leafgen.render.pipeline import render_job
from leafgen.text.scripts import script_for
from textlayer import story_lines, text_layer

LANGS = SHIPPED.languages()
# Large print for one language of each script (new scripts join the sample as they are added).
LARGE_SAMPLE = list({script_for(lang).name: lang for lang in reversed(LANGS)}.values())


@lru_cache(maxsize=64)
def catalog(project: Project, lang: str) -> dict[str, str]:
    """msgid -> translation, read from the .po file with Babel (not through leafgen's own translator)."""
    path = project.translations_dir / lang / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        return {m.id: m.string for m in read_po(f) if m.id and m.string and not m.fuzzy}


def expected_units(project: Project, lang: str, kind: str, pages: int) -> list[tuple[str, str]]:
    """(where, text) for every unit the PDF must show, formatted as the template formats it."""
    leaflet = load_leaflet(project.leaflet_path(LEAFLET))[0]
    disclaimer = load_disclaimer(project.disclaimer_path)
    cat = {} if lang == SOURCE_LANG else catalog(project, lang)

    def t(msgid: str) -> str:
        if lang == SOURCE_LANG:
            return msgid
        assert msgid in cat, f"{lang}: no translation for {msgid!r}"  # the gate would refuse the build
        return cat[msgid]

    d = leaflet.document
    clinic_ = clinic(project)
    out = [("title", t(leaflet.title))]
    out += [
        ("footer: version", t("Version %(version)s") % {"version": d.version}),
        ("footer: published", t("Published %(date)s") % {"date": format_date(d.published, lang)}),
        ("footer: review", t("Review due %(date)s") % {"date": format_date(d.review, lang)}),
        ("page number", t("Page %(page)s of %(pages)s") % {"page": 1, "pages": pages}),
        ("disclaimer heading", t(disclaimer.heading)),
        ("disclaimer text", t(disclaimer.text)),
    ]
    if d.status == "draft":
        out.append(("draft banner", t("Draft: not yet approved for use with patients.")))
    if clinic_["phone"]:
        out.append(("phone", t("Phone: %(phone)s") % {"phone": clinic_["phone"]}))
    if kind == "handout":
        out.append(("summary", t(leaflet.summary)))
        for s in leaflet.sections:
            out.append((f"{s.id}: heading", t(s.heading)))
            for n, block in enumerate(s.blocks, 1):
                if isinstance(block, Bullets):
                    out += [(f"{s.id}: block {n}, bullet {i}", t(b)) for i, b in enumerate(block.items, 1)]
                else:
                    out.append((f"{s.id}: paragraph {n}", t(block.text)))
        out += [("about", t("About this leaflet")), ("sources", t("Sources:"))]
        out.append(("approved by", t("Approved by %(name)s") % {"name": d.approved_by}))
        out += [(f"source {i}", s) for i, s in enumerate(d.sources, 1)]
        if clinic_["phone"] or clinic_["email"] or clinic_["address"]:
            out.append(("contact", t("Contact your clinic")))
    else:
        c = leaflet.checklist
        out += [("checklist title", t(c.title)), ("checklist intro", t(c.intro))]
        out += [(label, t(label)) for label in ("Patient name", "Start date", "What to do", "Day")]
        for item in c.items:
            out.append((f"{item.id}: instruction", t(item.instruction)))
            out.append((f"{item.id}: frequency", t("How often: %(frequency)s") % {"frequency": t(item.frequency)}))
            if item.safety:
                out.append((f"{item.id}: safety", t("Safety: %(note)s") % {"note": t(item.safety)}))
    return out


def pdftotext(pdf: bytes) -> str:
    require("pdftotext")
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


def fold(text: str, lang: str) -> str:
    """Compare as a reader reads: NFKC, no bidi marks, whitespace folded; Chinese has no spaces to trust."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    if script_for(lang).cjk:
        return "".join(text.split())
    return " ".join(text.split())


def body(pdf: bytes, lang: str, page_number: str) -> tuple[str, str]:
    """(all text, the story without running lines): a paragraph broken across pages must read as one.

    Left to right: what `pdftotext` extracts. Right to left: each line's /ActualText, read with pikepdf
    (tests/textlayer.py), because poppler 22.12 reverses a logical-order ActualText on a right-to-left line.
    """
    sep = "" if script_for(lang).cjk else " "
    if script_for(lang).rtl:
        everything = "\n".join(line.text for page in text_layer(pdf) for line in page)
        story = "\n".join(line.text for page in story_lines(pdf) for line in page)
        return fold(everything, lang), sep.join(fold(story, lang).split("\n"))
    raw = pdftotext(pdf)
    pages = [[fold(ln, lang) for ln in page.splitlines() if ln.strip()] for page in raw.split("\f") if page.strip()]
    running = set.intersection(*(set(p) for p in pages)) if len(pages) > 1 else set()
    number = re.compile(re.escape(fold(page_number, lang)).replace("PAGE", r"\d+").replace("TOTAL", r"\d+"))
    lines = [ln for p in pages for ln in p if ln not in running and not number.fullmatch(ln)]
    joined = re.sub(r"(?<=\w)-\n(?=\w)", "", "\n".join(lines))  # a word hyphenated at a line break is one word
    return fold(raw.replace("\f", "\n"), lang), sep.join(fold(joined, lang).split("\n"))


def missing_units(project: Project, pdf: bytes, pages: int, lang: str, kind: str) -> list[str]:
    """The expected units the PDF's text does not contain, as 'where: text' lines."""
    cat = {} if lang == SOURCE_LANG else catalog(project, lang)
    page_tpl = cat.get("Page %(page)s of %(pages)s", "Page %(page)s of %(pages)s")
    everything, story = body(pdf, lang, page_tpl % {"page": "PAGE", "pages": "TOTAL"})
    # A second reading, the text layer as drawn (ToUnicode and ActualText, tests/textlayer.py): poppler joins
    # words it thinks too close, e.g. the Korean grid header '할 일' (a space glyph is there) comes out '할일'.
    layer = fold("\n".join(line.text for page in text_layer(pdf) for line in page), lang)
    units = expected_units(project, lang, kind, pages)
    return [f"{w}: {t[:70]!r}" for w, t in units if not any(fold(t, lang) in x for x in (story, everything, layer))]


@pytest.mark.parametrize("kind", ["handout", "checklist"])
@pytest.mark.parametrize("lang", LANGS)
def test_every_unit_is_in_the_pdf(lang, kind):
    r = rendered(Job(LEAFLET, lang, kind))
    assert not r.fallback
    assert missing_units(SHIPPED, r.pdf, r.pages, lang, kind) == []


@pytest.mark.parametrize("kind", ["handout", "checklist"])
@pytest.mark.parametrize("lang", LARGE_SAMPLE)
def test_every_unit_is_in_the_large_print_pdf(lang, kind):
    r = rendered(Job(LEAFLET, lang, kind, "letter", large_print=True))
    assert missing_units(SHIPPED, r.pdf, r.pages, lang, kind) == []


DROPS = {
    # a template that loses every second paragraph and the last bullet of each list
    "handout.xml.j2": (
        ("{% for block in section.blocks %}", "{% for block in section.blocks %}{% set n = loop.index %}"),
        ("  {% else %}\n  <p>{{ block.text }}</p>", "  {% elif n is odd %}\n  <p>{{ block.text }}</p>"),
        ("<li>{{ item }}</li>", "{% if loop.first or not loop.last %}<li>{{ item }}</li>{% endif %}"),
    ),
    # ... or a checklist that loses a safety note and the last frequency
    "checklist.xml.j2": (
        ("{% if item.safety %}", "{% if item.safety and false %}"),
        ("    <frequency>", "    {% if not loop.last %}<frequency>"),
        ("</frequency>", "</frequency>{% endif %}"),
    ),
}


@pytest.mark.parametrize("lang", [lang for lang in LANGS if lang in LARGE_SAMPLE or lang == LANGS[-1]])
def test_the_check_catches_a_template_that_drops_units(tmp_path: Path, lang: str):
    """The check above is only worth something if it fails when units go missing: make them go missing."""
    project = copy_project(tmp_path / "project")
    for name, edits in DROPS.items():
        path = project.templates_dir / name
        text = path.read_text(encoding="utf-8")
        for old, new in edits:
            assert old in text, (name, old)
            text = text.replace(old, new, 1)
        path.write_text(text, encoding="utf-8")
    leaflet = load_leaflet(project.leaflet_path(LEAFLET))[0]
    # (a list of one keeps it: an empty <ul> is another failure, ReportLab's IndexError)
    lists = sum(isinstance(b, Bullets) and len(b.items) > 1 for s in leaflet.sections for b in s.blocks)
    for kind in ("handout", "checklist"):
        r = render_job(project, Job(LEAFLET, lang, kind))
        missing = missing_units(project, r.pdf, r.pages, lang, kind)
        if kind == "handout":
            bullets = [m for m in missing if ", bullet " in m]
            paragraphs = [m for m in missing if ": paragraph " in m]
            assert len(bullets) == lists and paragraphs, missing
        else:
            assert any(": safety" in m for m in missing) and any(": frequency" in m for m in missing), missing

"""Page breaks a typesetter would accept: no heading or list intro stranded at a page foot, no lone last bullet.

Where each element landed is read from the real PDF's structure tree (pikepdf): every heading, paragraph
and list item is a structure element whose marked content sits on known pages, so "the heading is on
page 2 and the text it heads starts on page 3" is observed, not inferred from drawn coordinates.
Every shipped language × kind × paper × print size, as the clinic prints them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import pikepdf
import pytest

from conftest import LEAFLET, SHIPPED, rendered
from leafgen.content.profile import theme
from leafgen.render.job import Job
from leafgen.render.layout import layout
from leafgen.render.pdf import write_pdf
from textlayer import mcid_texts

LANGS = SHIPPED.languages()
# A line that introduces what follows ends in a colon: ASCII in most catalogs (Arabic, Persian and Urdu too, and
# French after a no-break space), full-width "：" in Chinese.
COLONS = (":", "\uff1a")
MATRIX = [
    Job(LEAFLET, lang, kind, paper, large)
    for lang in LANGS
    for kind in ("handout", "checklist")
    for paper in ("a4", "letter")
    for large in (False, True)
]


@dataclass
class Block:
    """One structure element with content of its own, in reading order: its type, text and pages (0-based)."""

    role: str
    text: str
    pages: list[int]
    parent: Element


@dataclass
class Element:
    role: str
    kids: list[Element | Block]


def structure(pdf: bytes) -> tuple[Element, list[Block], int]:
    """The structure tree, its elements with content in reading order (where each one's marks are), pages."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        index = {page.obj.objgen: i for i, page in enumerate(doc.pages)}
        count = len(doc.pages)
        texts = mcid_texts(doc)
        blocks: list[Block] = []

        def walk(elem: pikepdf.Object, parent: Element | None) -> Element:
            node = Element(str(elem.S)[1:], [])
            k = elem.get("/K")
            kids = [] if k is None else list(k) if isinstance(k, pikepdf.Array) else [k]
            marks: list[tuple[int, int]] = []
            for kid in kids:
                if isinstance(kid, int):
                    marks.append((index[elem.Pg.objgen], int(kid)))
                elif kid.get("/Type") == "/MCR":
                    marks.append((index[kid.Pg.objgen], int(kid.MCID)))
                elif "/S" in kid:
                    node.kids.append(walk(kid, node))
            if marks:
                block = Block(node.role, "".join(texts.get(m, "") for m in marks), sorted({p for p, _ in marks}), node)
                blocks.append(block)
                node.kids.insert(0, block)
            return node

        root = walk(doc.Root.StructTreeRoot.K, None)
    return root, blocks, count


def _lists(elem: Element) -> list[Element]:
    found = [elem] if elem.role == "L" else []
    for kid in elem.kids:
        if isinstance(kid, Element):
            found += _lists(kid)
    return found


def _intros(elem: Element) -> list[tuple[Block, Element]]:
    """(paragraph, list) where a paragraph is followed straight away by a list: it introduces that list."""
    found = []
    kids = elem.kids
    for before, after in zip(kids, kids[1:], strict=False):
        if isinstance(before, Element) and before.role == "P" and isinstance(after, Element) and after.role == "L":
            found += [(b, after) for b in before.kids[:1] if isinstance(b, Block)]
    for kid in kids:
        if isinstance(kid, Element):
            found += _intros(kid)
    return found


def _items(lst: Element) -> list[Element]:
    return [li for li in lst.kids if isinstance(li, Element) and li.role == "LI"]


def _item_pages(item: Element) -> set[int]:
    pages: set[int] = set()
    for kid in item.kids:
        pages |= set(kid.pages) if isinstance(kid, Block) else _item_pages(kid)
    return pages


@lru_cache(maxsize=512)
def breaks(pdf: bytes) -> dict[str, list[str]]:
    """Every bad break in one PDF, by rule, said as a typesetter would."""
    root, blocks, count = structure(pdf)
    body = [b for b in blocks if b.role != "Lbl"]  # a bullet is drawn with its item's text
    found: dict[str, list[str]] = {"heading": [], "intro": [], "lone item": [], "blank": []}
    used = {page for b in blocks for page in b.pages}
    found["blank"] = [f"page {page + 1} holds nothing of the leaflet" for page in range(count) if page not in used]
    for block, after in zip(body, body[1:], strict=False):
        where = f"page {block.pages[-1] + 1}: {block.text[:40]!r}"
        if block.role[0] == "H" and block.role[1:].isdigit():
            if len(block.pages) > 1:
                found["heading"].append(f"heading split across pages {block.pages}: {block.text[:40]!r}")
            elif after.pages[0] > block.pages[-1]:
                found["heading"].append(f"heading at the foot of {where}")
        elif block.role == "P" and block.text.rstrip().endswith(COLONS) and after.pages[0] > block.pages[-1]:
            found["intro"].append(f"line ending in a colon at the foot of {where}")
    for intro, lst in _intros(root):
        if min(_item_pages(_items(lst)[0])) > intro.pages[-1]:
            found["intro"].append(f"list intro at the foot of page {intro.pages[-1] + 1}: {intro.text[:40]!r}")
    for lst in _lists(root):
        pages = [_item_pages(li) for li in _items(lst)]
        if len(pages) >= 2 and min(pages[-1]) > max(pages[-2]):
            found["lone item"].append(f"last item of a list alone on page {min(pages[-1]) + 1}")
    return found


def job_id(j: Job) -> str:
    return f"{j.lang}-{j.kind}-{j.paper}-{'large' if j.large_print else 'std'}"


# --- every shipped PDF ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("job", MATRIX, ids=job_id)
def test_no_heading_ends_a_page(job):
    """A heading (one line or several) is on the same page as the start of what it heads."""
    assert breaks(rendered(job).pdf)["heading"] == []


@pytest.mark.parametrize("job", MATRIX, ids=job_id)
def test_no_list_intro_ends_a_page(job):
    """A list's intro ("Other causes include:", any line ending in a colon or ：) is where the list starts."""
    assert breaks(rendered(job).pdf)["intro"] == []


@pytest.mark.parametrize("job", MATRIX, ids=job_id)
def test_no_list_ends_with_one_item_alone_on_a_page(job):
    assert breaks(rendered(job).pdf)["lone item"] == []


@pytest.mark.parametrize("job", MATRIX, ids=job_id)
def test_no_page_is_blank(job):
    """Every page carries part of the leaflet, not just the running header and footer."""
    assert breaks(rendered(job).pdf)["blank"] == []


# --- wherever on the page a heading falls ---------------------------------------------------------------------------

WORDS = "Tingling in the back can come and go, and it often eases when you change position or move about."
SPACER = '<spacer height="100"/>'  # a spacer is at most 200 points high
HEADING = "A heading long enough to wrap onto a second line in large print, as translated headings often do"


SHAPES = {  # what follows a section heading
    "paragraph, then an intro and its list": f"<p>{WORDS}</p><p>Other causes include:</p>",
    "straight away an intro and its list": "<p>You may have some of these symptoms.</p>",
}


@lru_cache(maxsize=256)
def _pushed_down(space: float, shape: str) -> bytes:
    """A section (a two-line heading, then `shape`, a list and a paragraph) `space` points down the first page."""
    items = "".join(f"<li>Item {i}. {WORDS}</li>" for i in range(5))
    xml = (
        f'<document title="t">{SPACER * int(space // 100)}<spacer height="{space % 100}"/>'
        f"<section><h1>{HEADING}</h1>{SHAPES[shape]}<ul>{items}</ul><p>{WORDS}</p></section></document>"
    )
    laid = layout(xml, template=SHIPPED.templates_dir / "x", theme=theme(SHIPPED), lang="en", paper="a4",
                  large_print=True)  # fmt: skip
    return write_pdf(laid, "en")[0]


@pytest.mark.parametrize("shape", SHAPES)
def test_wherever_a_section_starts_its_heading_intro_and_list_start_break_well(shape):
    """Swept down the page in steps of a few points: every break falls somewhere a typesetter would put it."""
    bad = {space: breaks(_pushed_down(space, shape)) for space in range(300, 720, 6)}
    rules = ("heading", "intro", "lone item")  # not "blank": page 1 holds only the spacer once the section moves
    assert {space: found for space, found in bad.items() if any(found[rule] for rule in rules)} == {}


def test_the_sweep_reaches_the_next_page():
    """The sweep covers the page foot: the section starts on page 1 at its first step, on page 2 at its last."""
    for shape in SHAPES:
        pages = [
            next(b for b in structure(_pushed_down(space, shape))[1] if b.role[0] == "H").pages for space in (300, 714)
        ]
        assert pages == [[0], [1]]

"""Tag a PDF for screen readers (PDF/UA-1): structure tree, marked content, artifacts, outline and XMP."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple
from xml.sax.saxutils import escape as xml_escape

from reportlab.pdfbase.pdfdoc import PDFDictionary, PDFName, PDFObject, PDFObjectReference, PDFStream
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable
from reportlab.platypus.flowables import BulletDrawer, LIIndenter, ListFlowable

from leafgen.render.pack import Late

# Standard structure types of PDF 1.7 (ISO 32000-1, 14.8.4): PDF/UA-1 needs no RoleMap for these.
# (Aside is PDF 2.0 only, so the boxes are Sect.)
ROLES = frozenset(
    {"Document", "Sect", "Div", "P", "H1", "H2", "H3", "H4", "H5", "H6", "L", "LI", "Lbl", "LBody"}
    | {"Table", "TR", "TH", "TD", "Form", "Span", "Figure"}
)
CELLS = frozenset({"TH", "TD"})  # kept even when empty, so a table keeps its rows and columns


class Mark(NamedTuple):
    """One marked-content sequence: its page (0-based) and its MCID on that page (a tuple: made often)."""

    page: int
    mcid: int


@dataclass
class Widget:
    """A form field's widget annotation, the content of a Form element (through an OBJR)."""

    page: int
    annot: PDFDictionary
    ref: PDFObjectReference


@dataclass(eq=False)
class Node:
    """A structure element, built while the layout is made and filled with content while pages are drawn."""

    role: str
    lang: str = ""  # BCP 47, only where it differs from the document's
    attrs: dict[str, Any] = field(default_factory=dict)  # attributes (/A), with their owner /O: Table, List
    title: str = ""  # a heading's text, for the outline (logical order, not the shaped glyphs)
    kids: list[Node | Mark | Widget] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"{self.role!r} is not a standard structure type")

    # ReportLab deep-copies flowables while it tries splits (cdeepcopy in _listWrapOn, KeepInFrame...): a copy
    # of a tagged flowable is still the same element, never a new one outside the tree.
    def __copy__(self) -> Node:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Node:
        return self

    def add(self, role: str, **kw: Any) -> Node:
        node = Node(role, **kw)
        self.kids.append(node)
        return node

    @property
    def level(self) -> int:
        """Outline level of a heading (H1 -> 1), 0 for anything else."""
        return int(self.role[1]) if self.role[0] == "H" and self.role[1:].isdigit() else 0


class _Tagged:
    """Mixin for a flowable whose drawing is one structure element's content (see `tag`)."""

    _struct: Node

    def drawOn(self, canvas: Canvas, x: float, y: float, _sW: float = 0) -> None:  # noqa: N802, N803
        tags: Tags | None = getattr(canvas, "tags", None)
        if tags is None or not tags.first_drawing(self):
            # Untagged canvas, or a repetition (a table's header rows on the next page, the
            # banner after page 1): stays inside the page's artifact.
            super().drawOn(canvas, x, y, _sW)  # type: ignore[misc]
            return
        node = self._struct
        if tags.begin(canvas, node) and node.title:  # a heading's first piece: its outline entry points here
            tags.bookmarks.append((tags.page, canvas.absolutePosition(x, y + getattr(self, "height", 0))[1], node))
        super().drawOn(canvas, x, y, _sW)  # type: ignore[misc]
        tags.end(canvas)

    def split(self, availWidth: float, availHeight: float) -> list[Flowable]:  # noqa: N803 - ReportLab's names
        parts = super().split(availWidth, availHeight)  # type: ignore[misc]
        for part in parts:
            if part is not self:  # the pieces of a split paragraph are still the same element
                tag(part, self._struct)
        return parts


_TAGGED_CLASSES: dict[type, type] = {}


def _tagged_class(cls: type) -> type:
    tagged = _TAGGED_CLASSES.get(cls)
    if tagged is None:
        tagged = _TAGGED_CLASSES[cls] = type(f"Tagged{cls.__name__}", (_Tagged, cls), {})
    return tagged


def tag(flowable: Flowable, node: Node) -> Flowable:
    """Make what `flowable` draws the content of `node` (its pieces too, if it splits across pages).

    The flowable keeps its own class's behaviour; only drawOn and split are wrapped, so the hook does
    not depend on how a paragraph draws its lines (nested /Span /ActualText runs go inside it).
    """
    if not isinstance(flowable, _Tagged):
        flowable.__class__ = _tagged_class(type(flowable))
    flowable._struct = node  # type: ignore[attr-defined]
    return flowable


class _TaggedBullet(BulletDrawer):
    """A list bullet drawn as the Lbl of its list item."""

    _struct: Node

    def drawOn(self, indenter: Any, canv: Canvas, x: float, y: float, _sW: float = 0) -> None:  # noqa: N802, N803
        tags: Tags | None = getattr(canv, "tags", None)
        if tags is None or not self.value or not tags.first_drawing(self):
            super().drawOn(indenter, canv, x, y, _sW)
            return
        tags.begin(canv, self._struct)
        super().drawOn(indenter, canv, x, y, _sW)
        tags.end(canv)


def tag_list(flowable: ListFlowable, items: list[Node]) -> ListFlowable:
    """Tag each bullet of a ListFlowable as the Lbl of its LI (items: the LI nodes, in order)."""
    bullets = [f._bullet for f in flowable._content if isinstance(f, LIIndenter) and f._bullet]
    if len(bullets) != len(items):  # ReportLab built the list differently: leave bullets as artifacts
        return flowable
    for bullet, item in zip(bullets, items, strict=True):
        bullet.__class__ = _TaggedBullet
        bullet._struct = item.kids[0] if item.kids and isinstance(item.kids[0], Node) else item.add("Lbl")
    return flowable


ARTIFACT = "/Artifact BMC"
_CONTENT = (Mark, Widget)


class Tags:
    """The marked content of one document: which element each MCID on each page belongs to.

    Everything drawn outside a tagged flowable is an artifact: each page's stream starts inside an
    `/Artifact` sequence that is closed around each tagged element's own `BDC … EMC`. So rules, box
    backgrounds, grid lines, running header and footer, and repetitions are artifacts without each
    having to say so, and no text can be left outside both.
    """

    def __init__(self, root: Node, lang: str):
        self.root, self.lang = root, lang
        self.page = 0
        self.marks: list[list[Node]] = [[]]  # per page: MCID -> element
        self.widgets: list[tuple[Node, Widget]] = []
        self.bookmarks: list[tuple[int, float, Node]] = []  # (page, top, heading)
        self._drawn: dict[int, object] = {}  # id -> the object itself, so ids are not reused
        self._depth = 0
        self.late: Late | None = None  # the structure tree, once finish has run

    def first_drawing(self, obj: object) -> bool:
        """True the first time obj is drawn; later drawings are repetitions (artifacts)."""
        if id(obj) in self._drawn:
            return False
        self._drawn[id(obj)] = obj
        return True

    def open_page(self, canv: Canvas) -> None:
        canv._code.append(ARTIFACT)

    def close_page(self, canv: Canvas) -> None:
        canv._code.append("EMC")

    def next_page(self) -> None:
        self.page += 1
        self.marks.append([])

    def begin(self, canv: Canvas, node: Node) -> bool:
        """Open node's marked content on this page; True if it is the node's first."""
        if self._depth:
            raise RuntimeError(f"tagged content nested in tagged content ({node.role})")
        marks = self.marks[self.page]
        mcid = len(marks)
        marks.append(node)
        first = not node.kids
        node.kids.append(Mark(self.page, mcid))
        canv._code.append(f"EMC /{node.role} <</MCID {mcid}>> BDC")
        self._depth += 1
        return first

    def end(self, canv: Canvas) -> None:
        self._depth -= 1
        canv._code.append("EMC " + ARTIFACT)

    def widget(self, canv: Canvas, node: Node) -> None:
        """The annotation just added to the canvas is the widget of form field `node`."""
        ref = canv._annotationrefs[-1]
        annot = canv._doc.idToObject[ref.name]
        w = Widget(self.page, annot, ref)
        node.kids.append(w)
        self.widgets.append((node, w))

    # --- writing the tree, once every page is drawn ---

    def page_setup(self, canv: Canvas, page: int) -> None:
        """Before the real showPage of `page`: its outline destinations (ReportLab names the page now)."""
        for n, (p, top, _node) in enumerate(self.bookmarks):
            if p == page:
                canv.bookmarkHorizontalAbsolute(f"h{n}", top)

    def page_done(self, canv: Canvas, page: int) -> None:
        """After the real showPage: the page object gets its key into the ParentTree and structure tab order."""
        obj = canv._doc.Pages.pages[-1]
        obj.__NoDefault__ = [*obj.__NoDefault__, "StructParents", "Tabs"]
        obj.StructParents = page
        obj.Tabs = PDFName("S")  # annotations in structure order

    def finish(self, canv: Canvas, title: str, meta: dict[str, str]) -> None:
        """Write the structure tree, ParentTree, outline, XMP and catalog entries."""
        doc = canv._doc
        pages = len(doc.Pages.pages)
        if any(self.marks[pages:]):
            raise RuntimeError("tagged content on a page that was never shown")
        del self.marks[pages:]  # the blank page ReportLab starts after the last one
        root = _prune(self.root) or Node("Document", lang=self.lang)
        numbers = doc.idToObjectNumberAndVersion
        page_refs = [f"{numbers[f'Page{p + 1}'][0]} 0 R" for p in range(pages)]
        # Elements in reading order (depth first), each with its parent's index and inherited /Lang. They are
        # written as PDF text straight into pack's object stream (see Late), numbered after ReportLab's last
        # object: through ReportLab's registry, formatter and cross-reference table and then pack's parser,
        # their ~175 small dictionaries were most of what tagging cost (0.6 of 1.9 ms, English handout).
        order: list[tuple[Node, int, str]] = []
        index: dict[int, int] = {}
        stack: list[tuple[Node, int, str]] = [(root, -1, self.lang)]
        while stack:
            node, parent, inherited = stack.pop()
            index[id(node)] = len(order)
            order.append((node, parent, inherited))
            lang = node.lang or inherited
            stack.extend((k, len(order) - 1, lang) for k in reversed(node.kids) if type(k) is Node)
        doc.Reference(_Raw(), "StructTreeRoot")  # pack writes it (Late), with the elements' numbers
        tree_number = numbers["StructTreeRoot"][0]
        tree_ref = f"{tree_number} 0 R"
        annots = {id(w): w.ref.format(doc).decode() for _, w in self.widgets}
        for key, (_node, w) in enumerate(self.widgets, start=pages):
            w.annot.dict["StructParent"] = key
            w.annot.dict["P"] = PDFObjectReference(f"Page{w.page + 1}")  # ReportLab says page 1 while pages are held
        marks, widgets = self.marks, self.widgets

        def bodies(base: int) -> tuple[bytes, list[bytes]]:
            refs = [f"{base + i} 0 R" for i in range(len(order))]
            elements = []
            for node, parent, inherited in order:
                home = next((k.page for k in node.kids if isinstance(k, _CONTENT)), None)
                parts = [f"<< /Type /StructElem /S /{node.role} /P {refs[parent] if parent >= 0 else tree_ref}"]
                if home is not None:
                    parts.append(f"/Pg {page_refs[home]}")
                if node.lang and node.lang != inherited:
                    parts.append(f"/Lang {_pdf_text(node.lang)}")
                if node.attrs:
                    parts.append("/A << " + " ".join(f"/{k} {_pdf_value(v)}" for k, v in node.attrs.items()) + " >>")
                kids: list[str] = []
                for k in node.kids:
                    if isinstance(k, Node):
                        kids.append(refs[index[id(k)]])
                    elif isinstance(k, Mark):
                        on_page = f"<< /Type /MCR /Pg {page_refs[k.page]} /MCID {k.mcid} >>"
                        kids.append(str(k.mcid) if k.page == home else on_page)
                    else:
                        kids.append(f"<< /Type /OBJR /Obj {annots[id(k)]} /Pg {page_refs[k.page]} >>")
                if kids:
                    parts.append(f"/K {kids[0]}" if len(kids) == 1 else "/K [" + " ".join(kids) + "]")
                parts.append(">>")
                elements.append(" ".join(parts).encode())
            nums = [f"{p} [" + " ".join(refs[index[id(n)]] for n in on_page) + "]" for p, on_page in enumerate(marks)]
            nums += [f"{key} {refs[index[id(node)]]}" for key, (node, _w) in enumerate(widgets, start=pages)]
            tree = (
                f"<< /Type /StructTreeRoot /K {refs[0]} /ParentTree << /Nums [\n"
                + "\n".join(nums)
                + f"\n] >> /ParentTreeNextKey {pages + len(widgets)} >>"
            ).encode()
            return tree, elements

        self.late = Late(tree_number, bodies)
        catalog = doc.Catalog
        catalog.StructTreeRoot = PDFObjectReference("StructTreeRoot")
        catalog.MarkInfo = PDFDictionary({"Marked": "true"})
        catalog.Metadata = _xmp(title, self.lang, meta)
        canv.setViewerPreference("DisplayDocTitle", "true")
        for n, (_p, _top, node) in enumerate(self.bookmarks):
            canv.addOutlineEntry(node.title, f"h{n}", _outline_level(self.bookmarks, n))
        if self.bookmarks:
            canv.showOutline()


class _Raw(PDFObject):
    """A placeholder that pack replaces (see Tags.finish and pack.Late)."""

    def format(self, document: Any) -> bytes:
        return b"null"


def _pdf_text(value: str) -> str:
    """A PDF text string; Lang values are short ASCII (BCP 47), anything else is written as UTF-16."""
    if value.isascii() and value.replace("-", "").isalnum():
        return f"({value})"
    return "<FEFF" + value.encode("utf-16-be").hex().upper() + ">"


def _pdf_value(value: Any) -> str:
    """An attribute value: a name (PDFName gives '/Column'), a number, or a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and value.startswith("/"):
        return value
    return _pdf_text(str(value))


def _outline_level(bookmarks: list[tuple[int, float, Node]], n: int) -> int:
    """Heading level as an outline depth, never more than one deeper than the entry before it."""
    level = bookmarks[n][2].level - 1
    if n == 0:
        return 0
    return min(level, _outline_level(bookmarks, n - 1) + 1)


def _prune(node: Node) -> Node | None:
    """Drop elements that drew nothing (an empty paragraph), keeping table cells and rows."""
    kids: list[Node | Mark | Widget] = []
    for k in node.kids:
        if isinstance(k, Node):
            kept = _prune(k)
            if kept is not None:
                kids.append(kept)
        else:
            kids.append(k)
    node.kids = kids
    if not kids and node.role not in CELLS:
        return None
    return node


def _xmp(title: str, lang: str, meta: dict[str, str]) -> PDFStream:
    """XMP metadata with the title and the PDF/UA identification; no dates, so rebuilds are identical."""

    def esc(s: str) -> str:
        return xml_escape(s, {'"': "&quot;"})

    creator = ""
    if meta.get("author"):
        creator = f"<dc:creator><rdf:Seq><rdf:li>{esc(meta['author'])}</rdf:li></rdf:Seq></dc:creator>"
    description = ""
    if meta.get("subject"):
        description = (
            f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{esc(meta["subject"])}</rdf:li>'
            "</rdf:Alt></dc:description>"
        )
    xml = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\n'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:pdf="http://ns.adobe.com/pdf/1.3/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
        ' xmlns:pdfuaid="http://www.aiim.org/pdfua/ns/id/">\n'
        f'<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{esc(title)}</rdf:li></rdf:Alt></dc:title>\n'
        f"{creator}{description}"
        f"<dc:language><rdf:Bag><rdf:li>{esc(lang)}</rdf:li></rdf:Bag></dc:language>\n"
        "<dc:format>application/pdf</dc:format>\n"
        "<pdf:Producer>leafgen</pdf:Producer>\n"
        "<xmp:CreatorTool>leafgen</xmp:CreatorTool>\n"
        "<pdfuaid:part>1</pdfuaid:part>\n"
        "</rdf:Description>\n</rdf:RDF>\n</x:xmpmeta>\n"
        '<?xpacket end="r"?>'
    )
    # Uncompressed (filters=[]), as XMP is meant to be findable by tools that do not parse PDF.
    stream = PDFStream(PDFDictionary({"Type": PDFName("Metadata"), "Subtype": PDFName("XML")}), xml.encode(), [])
    return stream

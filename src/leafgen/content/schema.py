"""Check a parsed leaflet source against the schema and build the content model from it."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leafgen.content.model import (
    Bullets,
    Checklist,
    ChecklistItem,
    Disclaimer,
    DocumentControl,
    Leaflet,
    Paragraph,
    Section,
    units,
)
from leafgen.content.sources import LDict, LList, load_yaml, read_source
from leafgen.errors import ErrorList, SourceError
from leafgen.project import ID_RE

STATUSES = ("draft", "approved")
# A checklist row is a table row, which cannot break across pages: its texts must stay short.
MAX_CHECKLIST_CHARS = 400
# Far beyond any leaflet, and bounded so that layout and the PDF structure tree stay small (the shipped leaflet
# has 5 sections and 6 checklist items; 1,000 headings overflowed the outline's recursion).
MAX_ITEMS = {"sections": 100, "content": 200, "bullets": 200, "items": 100, "sources": 50}
# And in all: within those limits (and the file size) a leaflet could still hold 20,000 one-word bullets, some
# 400 pages that take a build 10 s or more each. The shipped leaflet has 60 texts.
MAX_UNITS = 2_000
# A heading is kept with what follows it; one taller than a page (1,100 characters at the default sizes) made
# ReportLab retry the page forever. The shipped headings are under 50 characters.
MAX_HEADING_CHARS = 200
# A word (a run without a space) wider than a line is broken letter by letter; in a box split across pages
# ReportLab re-breaks it for every split it tries, so a bullet of one 854-letter word ran for minutes. The
# longest word a patient leaflet needs is a web address (the shipped ones are under 60 characters). Runs of
# wide East Asian characters are lines of text, not words: they break anywhere and are not counted.
MAX_WORD_CHARS = 150
_WIDE = r"\u1100-\u11ff\u2e80-\ua4cf\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"  # Hangul Jamo, CJK, kana, fullwidth
_WORD = re.compile(rf"[^\s{_WIDE}]{{{MAX_WORD_CHARS + 1},}}")


def long_word(text: str) -> str:
    """The problem with a word too long to set (see MAX_WORD_CHARS), or "": for leaflets, catalogs and notes."""
    if word := _WORD.search(text):
        return (
            f"a word of {len(word.group()):,} characters without a space ({word.group()[:20]}…) cannot be set"
            f" on a line (limit {MAX_WORD_CHARS}): add spaces"
        )
    return ""


@dataclass
class Checker:
    """Collects every problem in one file, so an editor fixes them in one pass."""

    path: Path
    errors: list[SourceError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def error(self, message: str, line: int | None) -> None:
        self.errors.append(SourceError(message, self.path, line))

    def mapping(self, value: Any, what: str, line: int, allowed: tuple[str, ...]) -> LDict | None:
        if not isinstance(value, LDict):
            self.error(f"{what} must be a mapping of keys to values", getattr(value, "line", line))
            return None
        for key in value:
            if key not in allowed:
                self.error(f"unknown key {key!r} in {what} (allowed: {', '.join(allowed)})", value.key_lines[key])
        return value

    def text(self, m: LDict, key: str, what: str, required: bool = True) -> str:
        value = m.get(key)
        line = m.key_lines.get(key, m.line)
        if value is None or value == "":
            if required:
                self.error(f"{what}: missing or empty {key!r}", line)
            return ""
        if key == "version" and key in m.raw:  # as written: YAML would read `1.10` as the number 1.1
            return m.raw[key]
        if not isinstance(value, str):
            self.error(f"{what}: {key!r} must be text{yaml_hint(value, m.raw.get(key))}", line)
            return ""
        if not value.strip():
            self.error(f"{what}: {key!r} is blank", line)
        return value

    def ident(self, m: LDict, what: str) -> str:
        value = self.text(m, "id", what)
        if value and not ID_RE.match(value):
            self.error(f"{what}: id {value!r} must be lowercase letters, digits and hyphens", m.key_lines["id"])
        return value

    def date(self, m: LDict, key: str, what: str) -> dt.date:
        value = m.get(key)
        line = m.key_lines.get(key, m.line)
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if value is None:
            self.error(f"{what}: missing {key!r} date", line)
        else:
            self.error(f"{what}: {key!r} must be a date written YYYY-MM-DD, not {value!r}", line)
        return dt.date.min

    def heading(self, text: str, what: str, line: int) -> None:
        if len(text) > MAX_HEADING_CHARS:
            self.error(
                f"{what}: a heading of {len(text):,} characters is far beyond any heading"
                f" (limit {MAX_HEADING_CHARS}): shorten it, and put the detail in the text below",
                line,
            )

    def items(self, m: LDict, key: str, what: str) -> list:
        value = m.get(key)
        line = m.key_lines.get(key, m.line)
        if not isinstance(value, list) or not value:
            self.error(f"{what}: {key!r} must be a non-empty list", line)
            return []
        limit = MAX_ITEMS.get(key, 200)
        if len(value) > limit:
            self.error(f"{what}: {len(value):,} {key} is far beyond any leaflet (limit {limit}): split it", line)
            return []
        return value


def yaml_hint(value: Any, written: str | None) -> str:
    """What YAML made of an unquoted text, so the editor sees why `- yes` or `- Note: x` is not text."""
    if isinstance(value, bool):
        return f": YAML read {written or value!r} as a yes/no value (a boolean); put the text in quotes"
    if value is not None and not isinstance(value, (str, dict, list)):  # a number or a date
        return f": YAML read {written or str(value)!r} as a {type(value).__name__}; put the text in quotes"
    if isinstance(value, dict) and value:
        key = next(iter(value))
        return f": YAML read {key!r} followed by ': ' as a key and its value (a mapping); put the whole text in quotes"
    if isinstance(value, list):
        return ": YAML read it as a list; put the text in quotes"
    return ""


def _blocks(c: Checker, section: LDict, where: str) -> tuple:
    blocks: list[Paragraph | Bullets] = []
    content = c.items(section, "content", where)
    for i, raw in enumerate(content):
        if isinstance(raw, str):
            if raw.strip():
                blocks.append(Paragraph(raw))
            else:
                c.error(f"{where}: empty paragraph", getattr(raw, "line", section.line))
            continue
        if not (isinstance(raw, LDict) and "bullets" in raw):
            written, line = (content.raw[i], content.lines[i]) if isinstance(content, LList) else (None, section.line)
            c.error(
                f"{where}: each content item must be a paragraph (text) or a bullet block {{bullets: [...]}}"
                f"{yaml_hint(raw, written)}",
                line,
            )
            continue
        m = c.mapping(raw, f"{where} bullet block", section.line, ("bullets",))
        if m is None:
            continue
        bullets = c.items(m, "bullets", where)
        for j, b in enumerate(bullets):
            if not isinstance(b, str) or not b.strip():
                written, line = (bullets.raw[j], bullets.lines[j]) if isinstance(bullets, LList) else (None, m.line)
                c.error(f"{where}: each bullet must be non-empty text{yaml_hint(b, written)}", line)
        if bullets and all(isinstance(b, str) and b.strip() for b in bullets):
            blocks.append(Bullets(tuple(bullets)))
    return tuple(blocks)


def _sections(c: Checker, root: LDict) -> tuple[Section, ...]:
    out: list[Section] = []
    seen: dict[str, int] = {}
    for raw in c.items(root, "sections", "leaflet"):
        m = c.mapping(raw, "section", root.key_lines.get("sections", 1), ("id", "heading", "content", "style"))
        if m is None:
            continue
        sid = c.ident(m, "section")
        if sid in seen:
            c.error(f"duplicate section id {sid!r} (first used on line {seen[sid]})", m.key_lines["id"])
        seen.setdefault(sid, m.line)
        style = c.text(m, "style", f"section {sid!r}", required=False)
        if style not in ("", "urgent"):
            c.error(f"section {sid!r}: style must be 'urgent' or absent, not {style!r}", m.key_lines["style"])
        where = f"section {sid!r}"
        heading = c.text(m, "heading", where)
        c.heading(heading, where, m.key_lines.get("heading", m.line))
        out.append(Section(sid, heading, _blocks(c, m, where), style))
    return tuple(out)


def _checklist(c: Checker, root: LDict) -> Checklist:
    m = c.mapping(root.get("checklist"), "checklist", root.key_lines.get("checklist", 1), ("title", "intro", "items"))
    if m is None:
        return Checklist("", "", ())
    items, seen = [], set()
    for raw in c.items(m, "items", "checklist"):
        im = c.mapping(raw, "checklist item", m.line, ("id", "instruction", "frequency", "safety"))
        if im is None:
            continue
        iid = c.ident(im, "checklist item")
        if iid in seen:
            c.error(f"duplicate checklist item id {iid!r}", im.key_lines["id"])
        seen.add(iid)
        where = f"checklist item {iid!r}"
        for key in ("instruction", "frequency", "safety"):
            value = im.get(key)
            if isinstance(value, str) and len(value) > MAX_CHECKLIST_CHARS:
                c.error(
                    f"{where}: {key} of {len(value):,} characters is too long for a checklist row, which must fit"
                    f" on one page (limit {MAX_CHECKLIST_CHARS}): move detail into a section",
                    im.key_lines[key],
                )
        items.append(
            ChecklistItem(
                iid,
                c.text(im, "instruction", where),
                c.text(im, "frequency", where),
                c.text(im, "safety", where, required=False),
            )
        )
    title = c.text(m, "title", "checklist")
    c.heading(title, "checklist", m.key_lines.get("title", m.line))
    return Checklist(title, c.text(m, "intro", "checklist"), tuple(items))


def _document(c: Checker, root: LDict, today: dt.date) -> DocumentControl:
    keys = ("version", "published", "review", "status", "approved_by", "sources")
    m = c.mapping(root.get("document"), "document", root.key_lines.get("document", 1), keys)
    if m is None:
        return DocumentControl("", dt.date.min, dt.date.min, "", "", ())
    published, review = c.date(m, "published", "document"), c.date(m, "review", "document")
    if dt.date.min not in (published, review):
        if review <= published:
            c.error(f"document: review date {review} must be after published date {published}", m.key_lines["review"])
        elif review < today:
            c.warnings.append(
                f"{c.path}:{m.key_lines['review']}: review date {review} has passed: the leaflet is due for review"
            )
    status = c.text(m, "status", "document")
    if status and status not in STATUSES:
        c.error(f"document: status must be one of {', '.join(STATUSES)}, not {status!r}", m.key_lines["status"])
    sources = c.items(m, "sources", "document")
    for i, s in enumerate(sources):
        if not isinstance(s, str) or not s.strip():
            written, line = (sources.raw[i], sources.lines[i]) if isinstance(sources, LList) else (None, m.line)
            c.error(f"document: each source must be non-empty text{yaml_hint(s, written)}", line)
    return DocumentControl(
        c.text(m, "version", "document"),
        published,
        review,
        status,
        c.text(m, "approved_by", "document"),
        tuple(str(s) for s in sources),
    )


# Checked leaflets by file content: a batch asks once per job, leaflet by leaflet, and the desk for the few
# leaflets in use; a changed file has another key, so nothing stale is served. A checked leaflet holds about
# 48 KB: 512 of them grew a build worker by 26 MB over 500 leaflets (bench, memory 5,000 / 50 PDFs 1.33x);
# 32 keep it flat, and `list`, `check` and `i18n status` validate each leaflet once anyway.
_checked: dict[tuple[str, str, dt.date], tuple[Leaflet, tuple[str, ...]]] = {}
_CHECKED_MAX = 32


def load_leaflet(path: Path, today: dt.date | None = None) -> tuple[Leaflet, list[str]]:
    """Parse and check one leaflet file; raise ErrorList naming every problem, return warnings."""
    data = read_source(path)
    key = (str(path), hashlib.sha256(data).hexdigest(), today or dt.date.today())
    hit = _checked.get(key)
    if hit is None:
        if len(_checked) >= _CHECKED_MAX:
            _checked.clear()
        leaflet, warnings = _check_leaflet(path, data, key[2])
        hit = _checked[key] = (leaflet, tuple(warnings))
    return hit[0], list(hit[1])


def _check_leaflet(path: Path, data: bytes, today: dt.date) -> tuple[Leaflet, list[str]]:
    c = Checker(path)
    root = load_yaml(path, data)
    if not isinstance(root, LDict):
        raise SourceError(
            "a leaflet must be a YAML mapping (id, title, summary, sections, checklist, document)",
            path,
            getattr(root, "line", 1),
        )
    allowed = ("id", "title", "summary", "sections", "checklist", "document")
    c.mapping(root, "leaflet", 1, allowed)
    lid = c.ident(root, "leaflet")
    if lid and lid != path.stem:
        c.error(f"leaflet id {lid!r} must match the file name {path.stem!r}", root.key_lines["id"])
    title = c.text(root, "title", "leaflet")
    c.heading(title, "leaflet", root.key_lines.get("title", 1))
    leaflet = Leaflet(
        id=lid,
        title=title,
        summary=c.text(root, "summary", "leaflet"),
        sections=_sections(c, root),
        checklist=_checklist(c, root),
        document=_document(c, root, today),
        path=path,
    )
    if not c.errors and (n := len(units(leaflet))) > MAX_UNITS:
        c.error(
            f"{n:,} headings, paragraphs, bullets and checklist texts is far beyond any leaflet"
            f" (limit {MAX_UNITS:,}): split it",
            root.key_lines.get("sections", root.line),
        )
    for unit in units(leaflet) if not c.errors else ():
        if problem := long_word(unit.text):
            c.error(problem, unit.line)
    if c.errors:
        raise ErrorList(list(c.errors))
    return leaflet, c.warnings


_disclaimers: dict[tuple[str, str], Disclaimer] = {}  # checked disclaimers by file content, as _checked


def load_disclaimer(path: Path) -> Disclaimer:
    """The one shared disclaimer every leaflet must carry; refuse to build without it.

    Parsed and checked once per content of the file, like leaflets: every PDF of a batch prints it.
    """
    data = read_source(path)
    key = (str(path), hashlib.sha256(data).hexdigest())
    hit = _disclaimers.get(key)
    if hit is None:
        if len(_disclaimers) >= _CHECKED_MAX:
            _disclaimers.clear()
        hit = _disclaimers[key] = _check_disclaimer(path, data)
    return hit


def _check_disclaimer(path: Path, data: bytes) -> Disclaimer:
    c = Checker(path)
    root = load_yaml(path, data)
    m = c.mapping(root, "disclaimer file", 1, ("heading", "text"))
    if m is None:
        raise ErrorList(c.errors)
    d = Disclaimer(c.text(m, "heading", "disclaimer"), c.text(m, "text", "disclaimer"))
    if c.errors:
        raise ErrorList(c.errors)
    return d

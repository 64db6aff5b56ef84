"""The content model: what a leaflet says, independent of file format and page."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from pathlib import Path


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


Block = Paragraph | Bullets


@dataclass(frozen=True)
class Section:
    id: str
    heading: str
    blocks: tuple[Block, ...]
    style: str = ""  # "urgent" puts the section in the emphasised box


@dataclass(frozen=True)
class ChecklistItem:
    id: str
    instruction: str
    frequency: str
    safety: str = ""


@dataclass(frozen=True)
class Checklist:
    title: str
    intro: str
    items: tuple[ChecklistItem, ...]


@dataclass(frozen=True)
class DocumentControl:
    """Patient-information standards ask every leaflet to say who approved it and when."""

    version: str
    published: dt.date
    review: dt.date
    status: str  # draft | approved
    approved_by: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Disclaimer:
    heading: str
    text: str


@dataclass(frozen=True)
class Leaflet:
    id: str
    title: str
    summary: str
    sections: tuple[Section, ...]
    checklist: Checklist
    document: DocumentControl
    path: Path = field(default=Path(), compare=False)


@dataclass(frozen=True)
class Unit:
    """One translatable string and where it comes from, for translators and the gate."""

    text: str
    where: str  # e.g. "pins-and-needles-in-back/symptoms"
    line: int = 0


def units(leaflet: Leaflet) -> list[Unit]:
    """Every translatable string of a leaflet, in reading order."""

    def u(text: str, where: str) -> Unit:
        # Strings loaded from YAML carry their source line (sources.LStr), for translators.
        return Unit(str(text), f"{leaflet.id}/{where}", getattr(text, "line", 0))

    out = [u(leaflet.title, "title"), u(leaflet.summary, "summary")]
    for s in leaflet.sections:
        out.append(u(s.heading, s.id))
        for b in s.blocks:
            out.extend(u(t, s.id) for t in (b.items if isinstance(b, Bullets) else (b.text,)))
    c = leaflet.checklist
    out += [u(c.title, "checklist"), u(c.intro, "checklist")]
    for i in c.items:
        out += [u(t, f"checklist/{i.id}") for t in (i.instruction, i.frequency, i.safety) if t]
    return out


def map_text(leaflet: Leaflet, tr) -> Leaflet:  # tr is str -> str
    """Return a copy with every translatable string passed through tr, structure untouched."""
    sections = tuple(
        replace(
            s,
            heading=tr(s.heading),
            blocks=tuple(
                Bullets(tuple(tr(t) for t in b.items)) if isinstance(b, Bullets) else Paragraph(tr(b.text))
                for b in s.blocks
            ),
        )
        for s in leaflet.sections
    )
    c = leaflet.checklist
    checklist = Checklist(
        tr(c.title),
        tr(c.intro),
        tuple(
            replace(
                i, instruction=tr(i.instruction), frequency=tr(i.frequency), safety=tr(i.safety) if i.safety else ""
            )
            for i in c.items
        ),
    )
    return replace(
        leaflet, title=tr(leaflet.title), summary=tr(leaflet.summary), sections=sections, checklist=checklist
    )

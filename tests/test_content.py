"""The leaflet sources: the shipped leaflet is valid and faithful, and every broken source is caught."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from conftest import DATA, LEAFLET, SHIPPED
from leafgen.cli import main
from leafgen.content.model import Bullets, units
from leafgen.content.readability import GRADE_CEILING, reading_level
from leafgen.content.schema import load_disclaimer, load_leaflet
from leafgen.errors import ErrorList, LeafgenError


def shipped():
    return load_leaflet(SHIPPED.leaflet_path(LEAFLET))[0]


def all_text(leaflet) -> str:
    return " ".join(u.text for u in units(leaflet))


def test_shipped_leaflet_is_valid_and_complete():
    leaflet, warnings = load_leaflet(SHIPPED.leaflet_path(LEAFLET), today=dt.date(2026, 11, 23))
    assert warnings == []
    ids = [s.id for s in leaflet.sections]
    assert ids == ["what-is-it", "symptoms", "causes", "self-care", "urgent-help"]
    assert [s.style for s in leaflet.sections if s.style] == ["urgent"]
    assert {i.id for i in leaflet.checklist.items} == {
        "sitting",
        "sleeping",
        "mattress",
        "weight",
        "stretching",
        "worse",
    }
    assert leaflet.document.status in ("draft", "approved")
    assert leaflet.document.review > leaflet.document.published


def test_seed_typos_fixed_and_broken_bullets_joined():
    text = all_text(shipped())
    for typo in ("refered", "occations", "nderlying ", "perminant", "Metaobolic", "over weight"):
        assert typo.lower() not in text.lower().replace("underlying ", "")
    bullets = [b for s in shipped().sections for blk in s.blocks if isinstance(blk, Bullets) for b in blk.items]
    assert any("lower back to the buttocks" in b for b in bullets)
    assert any("Sjögren's syndrome or rheumatoid arthritis" in b for b in bullets)
    assert not any(b[:1].islower() for b in bullets), "a bullet starting lower-case is a broken line"


def test_urgent_section_names_red_flags_and_its_source():
    urgent = next(s for s in shipped().sections if s.id == "urgent-help")
    text = " ".join(b for blk in urgent.blocks for b in (blk.items if isinstance(blk, Bullets) else [blk.text]))
    for flag in ("bladder", "bowel", "genitals", "buttocks", "weak", "fall", "fever"):
        assert flag in text.lower()
    assert any("NHS" in s or "NICE" in s for s in shipped().document.sources)


def test_reading_level_meets_nih_ceiling():
    grade, ease = reading_level(shipped())
    assert grade <= GRADE_CEILING, grade
    assert ease >= 60, ease


def test_disclaimer_is_shared_and_required(project):
    assert load_disclaimer(SHIPPED.disclaimer_path).text
    project.disclaimer_path.unlink()
    with pytest.raises(LeafgenError, match="_disclaimer.yaml: file not found"):
        load_disclaimer(project.disclaimer_path)


def test_review_date_in_the_past_is_a_warning_not_an_error():
    leaflet, warnings = load_leaflet(SHIPPED.leaflet_path(LEAFLET), today=dt.date(2030, 1, 1))
    assert leaflet.id == LEAFLET
    assert len(warnings) == 1 and "due for review" in warnings[0] and ".yaml:" in warnings[0]


BAD = sorted((DATA / "bad").glob("bad-*.yaml"))


def expectation(path: Path) -> tuple[str, int]:
    """Each bad file says what must be reported: '# expect: LINE: MESSAGE PART'."""
    m = re.match(r"# expect: (\d+): (.+)", path.read_text(encoding="utf-8").splitlines()[0])
    assert m, f"{path.name} needs an '# expect: LINE: TEXT' first line"
    return m.group(2), int(m.group(1))


def test_there_are_at_least_ten_classes_of_broken_source():
    assert len(BAD) >= 10


@pytest.mark.parametrize("bad", BAD, ids=[p.stem for p in BAD])
def test_broken_source_is_one_line_error_with_file_and_line(bad: Path, project, capsys):
    message, line = expectation(bad)
    target = project.leaflets_dir / bad.name
    target.write_bytes(bad.read_bytes())
    with pytest.raises((LeafgenError, ErrorList)) as info:
        load_leaflet(target)
    lines = str(info.value).splitlines()
    assert any(f"{target}:{line}: " in ln and message in ln for ln in lines), lines

    out = project.root / "out"
    code = main(["build", bad.stem, "--project", str(project.root), "--out", str(out), "--lang", "en", "--jobs", "1"])
    err = capsys.readouterr().err
    assert code == 1
    assert f"{target.name}:{line}: " in err and message in err
    assert "Traceback" not in err
    assert not list(out.rglob("*.pdf")) and not list(out.rglob("*.tmp")), "a failed build left files behind"


def test_parse_cache_follows_the_file_text(project):
    """The parse is cached for a batch's many jobs, but an edit (a long-running desk) is always seen."""
    path = project.leaflet_path(LEAFLET)
    first, _ = load_leaflet(path)
    assert load_leaflet(path)[0] is first  # unchanged text: parsed once
    source = path.read_text(encoding="utf-8")
    path.write_text(source.replace(f"title: {first.title}", "title: Edited title", 1), encoding="utf-8")
    assert load_leaflet(path)[0].title == "Edited title"
    path.write_text(source.replace(f"title: {first.title}", "title: [unclosed", 1), encoding="utf-8")
    with pytest.raises(LeafgenError):
        load_leaflet(path)
    with pytest.raises(LeafgenError):  # a broken file keeps failing: errors are never cached
        load_leaflet(path)
    path.write_text(source, encoding="utf-8")
    assert load_leaflet(path)[0] == first
    disclaimer = load_disclaimer(project.disclaimer_path)
    text = project.disclaimer_path.read_text(encoding="utf-8")
    project.disclaimer_path.write_text(text.replace(disclaimer.heading, "Edited heading", 1), encoding="utf-8")
    assert load_disclaimer(project.disclaimer_path).heading == "Edited heading"

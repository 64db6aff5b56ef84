"""Speed that regressions would quietly lose (issue 15): start-up of a one-PDF build, garbage left by a render."""

from __future__ import annotations

import datetime as dt
import gc
import json
import subprocess
import sys
from collections import Counter

from babel.dates import format_date as babel_date

from conftest import LEAFLET, ROOT, SHIPPED
from leafgen.i18n.locales import NBSP, format_date
from leafgen.render.job import Job
from leafgen.render.pipeline import render_job

# Packages a build of one English PDF has no use for, each tens of milliseconds of imports at every start:
# the mail stage (email_validator compiles large regular expressions), the progress bar (only at a terminal,
# for more than one PDF), pybabel's front end (`leafgen i18n` only), the process pool (one job runs
# in-process), reading level (`leafgen check` only) and the desk.
NOT_FOR_ONE_PDF = (
    "leafgen.mail",
    "email_validator",
    "smtplib",
    "sqlite3",
    "tqdm",
    "babel.messages",
    "multiprocessing",
    "concurrent.futures",
    "textstat",
    "leafgen.desk",
    "flask",
)

PROBE = """
import gc, json, sys
from leafgen.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules), "gc": [gc.isenabled(), gc.get_freeze_count()]}))
"""


def test_one_pdf_build_loads_only_the_stages_it_uses(tmp_path):
    argv = ["build", LEAFLET, "--project", str(ROOT), "--out", str(tmp_path / "out"), "--lang", "en"]
    argv += ["--kind", "handout", "--paper", "a4"]
    result = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["code"] == 0
    assert (tmp_path / "out" / "manifest.json").is_file()
    loaded = [m for m in report["modules"] if m.startswith(NOT_FOR_ONE_PDF)]
    assert not loaded, f"a one-PDF build imported {loaded}"
    # The pipeline's modules are frozen out of the collector's scans, and the collector is back on after.
    enabled, frozen = report["gc"]
    assert enabled and frozen > 10_000


def test_the_mail_stage_still_loads_when_asked_for():
    """api.Outcome and api.email stay where callers (the desk) find them, loaded on first use."""
    probe = (
        "import sys, leafgen.api as api; before = 'leafgen.mail.send' in sys.modules; "
        "print(before, api.Outcome.__module__, callable(api.email), api.email_is_dry_run({}))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "leafgen.mail.send", "True", "True"]


def test_a_render_leaves_its_story_to_reference_counting():
    """The story, its flowables and the structure tree are freed as soon as the PDF is made, not left in
    reference cycles for the collector (1,800 objects a PDF, a full collection every few dozen PDFs)."""
    job = Job(LEAFLET, "en", "handout", "a4")
    render_job(SHIPPED, job)  # warm: caches filled, fonts registered
    gc.collect()
    gc.disable()
    try:
        render_job(SHIPPED, job)
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        kinds = Counter(type(o).__name__ for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    ours = {k: n for k, n in kinds.items() if k in ("Node", "Mark", "Layout", "Tags", "Running", "ParaFrag")}
    assert not ours and not any(k.startswith("Tagged") for k in kinds), kinds.most_common(12)


def test_english_dates_without_babel_are_babels():
    """English dates skip Babel's locale data (~10 ms of every English build): they must read as Babel's."""
    day = dt.date(2024, 1, 1)
    while day < dt.date(2028, 1, 1):  # every month, single and double-digit days, a leap day
        assert format_date(day, "en") == babel_date(day, format="long", locale="en").replace(" ", NBSP)
        day += dt.timedelta(days=13)
    assert format_date(dt.date(2026, 11, 23), "en_GB") == f"23{NBSP}November{NBSP}2026"  # not the US shortcut

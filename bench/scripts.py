"""Per-PDF time by script, side by side in one run: shaped and right-to-left languages against English.

python bench/scripts.py            # median of 30 per language after warm-up
python bench/scripts.py -n 10      # quicker

Targets (issue 13): a HarfBuzz-shaped script (hi, bn) within 3x of the English handout; English itself
unchanged against the bare-ReportLab floor (<= 1.25x, bench/floor.py, also in bench/run.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import floor  # noqa: E402

from leafgen.project import Project  # noqa: E402
from leafgen.render.job import Job  # noqa: E402
from leafgen.render.pipeline import render_job  # noqa: E402
from leafgen.text.scripts import script_for  # noqa: E402

PROJECT = Project(ROOT)
FIRST = PROJECT.leaflet_paths()[0].stem
LANGS = ["en", "hi", "bn", "pa", "ar", "fa", "ur", "ko", "zh_Hans", "zh_Hant", "ru", "vi"]
SHAPED_TARGET = 3.0
FLOOR_TARGET = 1.25


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30, help="timed renders per language (default 30)")
    parser.add_argument("--kind", default="handout", choices=["handout", "checklist"])
    args = parser.parse_args()
    langs = [lang for lang in LANGS if lang in PROJECT.languages()]
    jobs = {lang: Job(FIRST, lang, args.kind, "a4") for lang in langs}
    content = floor.load_content(ROOT, FIRST)
    for _ in range(3):  # warm-up: fonts registered, caches filled, as in a long-running build
        for job in jobs.values():
            render_job(PROJECT, job)
        floor.render(content)
    times: dict[str, list[float]] = {lang: [] for lang in [*langs, "floor"]}
    for _ in range(args.n):  # interleaved, so a busy moment on the machine hits every language alike
        for lang, job in jobs.items():
            t = time.perf_counter()
            render_job(PROJECT, job)
            times[lang].append(time.perf_counter() - t)
        t = time.perf_counter()
        floor.render(content)
        times["floor"].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in times.items()}
    en = med["en"]
    print(f"{FIRST} {args.kind}, A4, median of {args.n} after warm-up, in one process")
    print(f"  {'language':10} {'script':11} {'shaping':13} {'ms':>7} {'x en':>6}")
    missed = False
    for lang in langs:
        s = script_for(lang)
        ratio = med[lang] / en
        verdict = ""
        if s.harfbuzz:
            ok = ratio <= SHAPED_TARGET
            missed |= not ok
            verdict = f"target <= {SHAPED_TARGET:.0f}x {'PASS' if ok else 'MISS'}"
        print(f"  {lang:10} {s.name:11} {s.shaping:13} {med[lang] * 1000:7.1f} {ratio:6.2f}  {verdict}")
    floor_ratio = en / med["floor"]
    ok = floor_ratio <= FLOOR_TARGET
    missed |= not ok
    print(f"  English / bare ReportLab floor: {floor_ratio:.2f}x  target <= {FLOOR_TARGET}x {'PASS' if ok else 'MISS'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())

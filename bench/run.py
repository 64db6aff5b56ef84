"""leafgen benchmark: one command, every figure beside its target. See bench/README.md.

python bench/run.py            # full: memory at 50 and 5,000 PDFs (a few minutes on 2 cores)
python bench/run.py --quick    # memory at 50 and 500 PDFs, fewer repeats
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from leafgen.project import Project  # noqa: E402

PROJECT = Project(ROOT)
FIRST = PROJECT.leaflet_paths()[0].stem
MEMORY_LANGS = ["en", "ar", "zh_Hans", "es", "fr"]  # the three scripts, and two more Latin translations
RESULTS: list[tuple[str, str, str, bool | None]] = []  # (figure, value, target, passed)


def report(figure: str, value: str, target: str = "", passed: bool | None = None) -> None:
    RESULTS.append((figure, value, target, passed))
    verdict = "" if passed is None else ("PASS" if passed else "MISS")
    print(f"  {figure:<44} {value:>22}   {target:<26} {verdict}", flush=True)


def median_time(fn: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def leafgen_cmd() -> list[str]:
    exe = shutil.which("leafgen")
    return [exe] if exe else [sys.executable, "-m", "leafgen"]


def run(argv: list[str], check: bool = True) -> tuple[float, subprocess.CompletedProcess]:
    t = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - t
    if check and proc.returncode not in (0,):
        sys.exit(f"bench: command failed ({proc.returncode}): {' '.join(argv)}\n{proc.stdout}{proc.stderr[-3000:]}")
    return elapsed, proc


def build_seconds(stdout: str) -> float:
    """The time leafgen's own summary line reports (without interpreter start-up)."""
    m = re.search(r"in ([\d.]+) s", stdout)
    return float(m.group(1)) if m else float("nan")


# --- 1. per-PDF: leafgen vs the bare ReportLab floor ---------------------------------------------------------------


def per_pdf(n: int) -> float:
    import floor

    from leafgen.render import pipeline
    from leafgen.render.job import Job
    from leafgen.render.pdf import write_pdf

    def render_untagged(project: Project, job: Job) -> pipeline.Rendered:
        """The same render with PDF/UA tagging switched off, to measure what tagging alone costs."""
        pipeline.write_pdf = lambda laid, lang: write_pdf(laid, lang, tagged=False)
        try:
            return pipeline.render_job(project, job)
        finally:
            pipeline.write_pdf = write_pdf

    print(f"\n1. One handout ({FIRST}, A4, English), in-process, median of {n} after warm-up")
    job = Job(FIRST, "en", "handout", "a4")
    content = floor.load_content(ROOT, FIRST)
    for _ in range(3):
        ours, floor_pdf = pipeline.render_job(PROJECT, job), floor.render(content)
        render_untagged(PROJECT, job)
    lg, un, fl = [], [], []
    for _ in range(n):  # interleaved, so a busy moment on the machine hits all alike
        for fn, times in ((lambda: pipeline.render_job(PROJECT, job), lg), (lambda: render_untagged(PROJECT, job), un)):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        t = time.perf_counter()
        floor.render(content)
        fl.append(time.perf_counter() - t)
    t_lg, t_un, t_fl = statistics.median(lg), statistics.median(un), statistics.median(fl)
    report("leafgen render_job (tagged, PDF/UA)", f"{t_lg * 1000:.1f} ms")
    report("leafgen with tagging switched off", f"{t_un * 1000:.1f} ms")
    report("tagging alone", f"{(t_lg - t_un) * 1000:.1f} ms")
    report("floor (bare ReportLab story, same fonts)", f"{t_fl * 1000:.1f} ms")
    print(f"  {'':44} (pages {ours.pages} vs {floor_pdf[1]}, bytes {len(ours.pdf)} vs {len(floor_pdf[0])})")
    report("leafgen / floor", f"{t_lg / t_fl:.2f}x", "<= 1.25x", t_lg / t_fl <= 1.25)
    stages(job, n)
    return t_lg


def stages(job, n: int) -> None:  # render.Job
    """Where leafgen's time goes, stage by stage (diagnostic; mirrors render_job)."""
    try:
        from leafgen.content.profile import clinic, theme
        from leafgen.content.schema import load_disclaimer, load_leaflet
        from leafgen.i18n.catalogs import translator
        from leafgen.i18n.locales import format_date
        from leafgen.render.layout import layout
        from leafgen.render.pdf import write_pdf
        from leafgen.render.pipeline import translate
        from leafgen.render.templating import render_template

        path = PROJECT.leaflet_path(job.leaflet)
        leaflet = load_leaflet(path)[0]
        disclaimer = load_disclaimer(PROJECT.disclaimer_path)
        tr = translator(PROJECT, job.lang)
        t_leaflet, t_disc = translate(leaflet, disclaimer, tr)
        ctx = {
            "leaflet": t_leaflet, "disclaimer": t_disc, "clinic": clinic(PROJECT), "lang": job.lang,
            "published": format_date(leaflet.document.published, job.lang),
            "review": format_date(leaflet.document.review, job.lang), "large_print": False,
            "paper": job.paper, "fillable": False, "fallback": False,
        }  # fmt: skip
        name = f"{job.kind}.xml.j2"
        xml = render_template(PROJECT.templates_dir, name, ctx, tr)

        def lay():
            return layout(xml, template=PROJECT.templates_dir / name, theme=theme(PROJECT), lang=job.lang,
                          paper=job.paper, large_print=False, fillable=False, origin=path)  # fmt: skip

        parts = {
            "load+validate leaflet": lambda: (load_leaflet(path), load_disclaimer(PROJECT.disclaimer_path)),
            "dates+template": lambda: (
                format_date(leaflet.document.published, job.lang),
                render_template(PROJECT.templates_dir, name, ctx, tr),
            ),
            "layout (XML -> flowables)": lay,
            "pdf (ReportLab build)": lambda: write_pdf(lay(), job.lang),
            "pdf untagged": lambda: write_pdf(lay(), job.lang, tagged=False),
        }
        t_layout = median_time(lay, n)
        out = []
        for label, fn in parts.items():
            t = median_time(fn, max(10, n // 3))
            if label.startswith("pdf"):
                t -= t_layout  # write_pdf consumes the story, so each run lays out afresh
            out.append(f"{label} {t * 1000:.1f}")
        print("  stages (ms): " + ", ".join(out))
    except Exception as e:  # diagnostic only; the pipeline's internals may move
        print(f"  stages: not measured ({type(e).__name__}: {e})")


# --- 2. WeasyPrint -------------------------------------------------------------------------------------------------


def weasyprint(n: int, t_leafgen: float) -> None:
    print(f"\n2. The same handout through Jinja2 HTML + WeasyPrint, median of {n} after warm-up")
    try:
        import floor
        import weasy
        import weasyprint as wp

        tmpl, ctx = weasy.template(), weasy.context(floor.load_content(ROOT, FIRST))
        pdf, pages = weasy.render(tmpl, ctx)
    except Exception as e:  # ImportError, or missing Pango/fontconfig under it
        print(f"  weasyprint: not available ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
        report("weasyprint / leafgen", "n/a", ">= 10x", None)
        return
    t = median_time(lambda: weasy.render(tmpl, ctx), n)
    report(f"weasyprint {wp.__version__} render", f"{t * 1000:.0f} ms")
    print(f"  {'':44} (pages {pages}, bytes {len(pdf)})")
    report("weasyprint / leafgen", f"{t / t_leafgen:.1f}x", ">= 10x", t / t_leafgen >= 10)


# --- synthetic catalogues ------------------------------------------------------------------------------------------


def synthetic(dest: Path, n: int) -> list[str]:
    """A project with n copies of the first leaflet: same strings (so translations apply), new ids."""
    for name in ("templates", "translations"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("*.mo"))
    shutil.copy(ROOT / "clinic.yaml", dest / "clinic.yaml")
    (dest / "leaflets").mkdir()
    shutil.copy(PROJECT.disclaimer_path, dest / "leaflets" / PROJECT.disclaimer_path.name)
    source = PROJECT.leaflet_path(FIRST).read_text(encoding="utf-8")
    ids = [f"{FIRST}-{i:04d}" for i in range(n)]
    for lid in ids:
        text = re.sub(rf"^id: {re.escape(FIRST)}$", f"id: {lid}", source, count=1, flags=re.MULTILINE)
        (dest / "leaflets" / f"{lid}.yaml").write_text(text, encoding="utf-8")
    return ids


def incomplete_languages(langs: list[str]) -> list[str]:
    from leafgen.i18n.status import status

    return [lang for lang in langs if lang != "en" and not status(PROJECT, lang).complete]


def fallback_note(langs: list[str]) -> list[str]:
    missing = incomplete_languages(langs)
    if missing:
        print(f"  NOTE: incomplete translations ({', '.join(missing)}): built with --allow-fallback "
              "(English for the missing strings, banner on every page)")  # fmt: skip
        return ["--allow-fallback"]
    return []


# --- 3. batch throughput -------------------------------------------------------------------------------------------


def throughput(tmp: Path, n_leaflets: int, rounds: int) -> None:
    langs = PROJECT.languages()
    total = n_leaflets * len(langs) * 2 * 2
    print(f"\n3. Batch: {n_leaflets} leaflets x {len(langs)} languages x 2 kinds x 2 papers = {total} PDFs, "
          "whole `leafgen build` process, fresh out folder each run")  # fmt: skip
    extra = fallback_note(langs)
    proj = tmp / "throughput"
    synthetic(proj, n_leaflets)
    base = [*leafgen_cmd(), "build", "--project", str(proj), "--paper", "a4,letter", *extra]
    # This VM's CPU speed drifts by tens of percent from minute to minute: alternate the two settings and
    # keep each one's best run, and measure the machine's own scaling on plain Python the same way.
    walls: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(rounds):
        for jobs in (1, 2):
            out = tmp / f"throughput-out-{jobs}"
            shutil.rmtree(out, ignore_errors=True)
            elapsed, proc = run([*base, "--out", str(out), "--jobs", str(jobs)], check=False)
            walls[jobs].append(elapsed)
            if proc.returncode or f"{total} built" not in proc.stdout:
                print(f"  --jobs {jobs}: {proc.stdout.strip()[:200]}")
    rates = {jobs: total / min(w) for jobs, w in walls.items()}
    for jobs in (1, 2):
        runs = ", ".join(f"{w:.1f}" for w in walls[jobs])
        report(f"--jobs {jobs}", f"{rates[jobs]:.1f} PDF/s")
        print(f"  {'':44} (best of {rounds} runs: {runs} s)")
    m1 = json.loads((tmp / "throughput-out-1" / "manifest.json").read_text())["pdfs"]
    m2 = json.loads((tmp / "throughput-out-2" / "manifest.json").read_text())["pdfs"]
    print(f"  {'':44} (--jobs 2 output byte-identical to --jobs 1: {'yes' if m1 == m2 else 'NO'})")
    ratio = rates[2] / rates[1]
    report("scaling --jobs 2 / --jobs 1", f"{ratio:.2f}x", ">= 1.8x", ratio >= 1.8)


# --- 4. whole-process times ----------------------------------------------------------------------------------------


def processes(tmp: Path, n: int) -> None:
    print(f"\n4. Whole processes, median of {n}")
    baseline = median_time(lambda: run([sys.executable, "-c", "pass"]), n)
    report("python -c pass (interpreter alone)", f"{baseline:.3f} s")
    t = median_time(lambda: run([*leafgen_cmd(), "--help"]), n)
    report("leafgen --help", f"{t:.3f} s", "< 0.15 s", t < 0.15)
    out = tmp / "one"
    argv = [*leafgen_cmd(), "build", FIRST, "--lang", "en", "--kind", "handout", "--paper", "a4", "--out", str(out)]
    run(argv)
    t = median_time(lambda: run([*argv, "--force"]), n)
    report("leafgen build (one PDF, --force)", f"{t:.3f} s", "< 0.4 s", t < 0.4)


# --- 5. memory and PDF size ----------------------------------------------------------------------------------------

RUSAGE = """\
import json, resource, sys
from leafgen.cli import main
code = main(sys.argv[1:])
me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print("BENCH-RUSAGE " + json.dumps({"self": me.ru_maxrss, "children": kids.ru_maxrss, "code": code}))
"""


def memory(tmp: Path, big: int, quick: bool) -> None:
    per = len(MEMORY_LANGS) * 2
    note = f"; --quick: {big} instead of 5,000 PDFs" if quick else ""
    print(f"\n5. Peak memory (ru_maxrss), `leafgen build` --jobs 2, leaflets x {len(MEMORY_LANGS)} languages "
          f"({','.join(MEMORY_LANGS)}) x 2 kinds x A4{note}")  # fmt: skip
    extra = fallback_note(MEMORY_LANGS)
    proj = tmp / "memory"
    ids = synthetic(proj, big // per)
    peaks = {}
    for count in (50, big):
        out = tmp / f"memory-out-{count}"
        argv = [sys.executable, "-c", RUSAGE, "build", *ids[: count // per], "--project", str(proj), "--out",
                str(out), "--lang", ",".join(MEMORY_LANGS), "--paper", "a4", "--jobs", "2", *extra]  # fmt: skip
        elapsed, proc = run(argv, check=False)
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH-RUSAGE "))
        r = json.loads(line.removeprefix("BENCH-RUSAGE "))
        peaks[count] = r
        summary = next((ln for ln in proc.stdout.splitlines() if ln.startswith("leafgen: ")), "")
        report(f"{count} PDFs: main process / largest worker",
               f"{r['self'] / 1024:.0f} / {r['children'] / 1024:.0f} MB")  # fmt: skip
        print(f"  {'':44} ({elapsed:.1f} s, {count / elapsed:.1f} PDF/s; {summary.removeprefix('leafgen: ')[:60]})")
        if count == big:
            noop(argv, out, count)
    for key, label in (("self", "main process"), ("children", "largest worker")):
        ratio = peaks[big][key] / peaks[50][key]
        report(f"memory {big} / 50 PDFs, {label}", f"{ratio:.2f}x", "<= 1.25x (flat)", ratio <= 1.25)


def noop(argv: list[str], out: Path, count: int) -> None:
    times, inside = [], []
    for _ in range(3):
        elapsed, proc = run(argv, check=False)
        times.append(elapsed)
        inside.append(build_seconds(proc.stdout))
        assert f"0 built, {count} skipped" in proc.stdout or "refused" in proc.stdout, proc.stdout
    t = statistics.median(times)
    report(f"no-op rebuild of {count} PDFs (whole process)", f"{t:.2f} s", "< 1 s", t < 1.0)
    report(f"no-op rebuild of {count} PDFs (build itself)", f"{statistics.median(inside):.2f} s", "", None)


def sizes() -> None:
    from leafgen.render.job import Job
    from leafgen.render.pipeline import render_job

    print("\n   PDF size (A4, English)")
    for kind in ("handout", "checklist"):
        r = render_job(PROJECT, Job(FIRST, "en", kind, "a4"))
        kb = len(r.pdf) / 1024
        if kind == "handout":
            report(f"{kind} ({r.pages} pages)", f"{kb:.1f} KB", "< 60 KB", kb < 60)
        else:
            report(f"{kind} ({r.pages} pages)", f"{kb:.1f} KB")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="memory at 500 PDFs instead of 5,000; fewer repeats")
    ap.add_argument("--keep", metavar="DIR", help="keep the synthetic projects and outputs in DIR")
    args = ap.parse_args()
    import leafgen

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    mode = " (--quick)" if args.quick else ""
    print(f"leafgen {leafgen.__version__} benchmark{mode}: Python {platform.python_version()}, "
          f"{platform.machine()}, {cpus} CPUs, {time.strftime('%Y-%m-%d %H:%M')}")  # fmt: skip
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="leafgen-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        t_leafgen = per_pdf(40 if not args.quick else 30)
        weasyprint(10 if not args.quick else 5, t_leafgen)
        throughput(tmp, 8 if not args.quick else 3, 3 if not args.quick else 2)
        processes(tmp, 9 if not args.quick else 5)
        memory(tmp, 500 if args.quick else 5000, args.quick)
        sizes()
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    missed = [r[0] for r in RESULTS if r[3] is False]
    print(
        f"\n{sum(r[3] is True for r in RESULTS)} PASS, {len(missed)} MISS"
        + (f": {'; '.join(missed)}" if missed else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

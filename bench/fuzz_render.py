"""Fuzz leafgen.api.render with seeded random leaflets: every case is a correct PDF or one clean error line.

Not a test (minutes, not seconds). Each case writes a random leaflet into a throwaway project and renders it
(handout or checklist, A4 or Letter, standard or large print). A case passes when render either
- returns a PDF whose extracted text holds every unit the page kind prints (whitespace ignored), or
- raises a LeafgenError whose lines each name the file at fault;
anything else (another exception, lost text, a case slower than --slow seconds) is reported with its seed.

    python bench/fuzz_render.py --cases 3000 --seed 1
"""

from __future__ import annotations

import argparse
import collections
import io
import random
import re
import shutil
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

from pypdf import PdfReader

from leafgen import api
from leafgen.errors import LeafgenError

ROOT = Path(__file__).resolve().parents[1]
LEAFLET = "fuzz-leaflet"

POOLS = [
    "abcdefghijklmnopqrstuvwxyz      ",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?()-'\"",
    "<>&;/=\"'{}%$#[]|\\*`~^@",  # markup, template and format syntax: must print literally
    "éèêëàâäôöûüçñßøåæœłśźżąęćńõãíóúý",  # Latin with diacritics (Noto Sans covers them)
    "ąćęłńóśźżĄĆĘŁŃÓŚŹŻđĐơưăắằẳẵặ",  # Polish, Vietnamese
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяіїєґ",  # Cyrillic
    "\t\u00a0\u2009\u202f\u00ad\u200b\u200c\u200d",  # tabs, no-break and thin spaces, soft hyphen, zero-widths
    "\u0000\u0007\u000b\u001b\u007f\u202e\u2066\ufeff\ufffe\ue000",  # refused: controls, bidi, non-characters
    "\U0001f600\u4e2d\u0627\u05d0\u0e01",  # emoji, CJK, Arabic, Hebrew, Thai: no glyph in the Latin face
    "{{ 7*7 }}{% if 1 %}x{% endif %}{# c #}%(name)s{page}&amp;&lt;b&gt;<b>x</b><br/>]]><![CDATA[",
]
WEIGHTS = [30, 10, 6, 6, 3, 3, 2, 0, 0, 1]
HOSTILE = [30, 10, 6, 6, 3, 3, 2, 0.05, 0.05, 1]  # one leaflet in ten: a refused or glyph-less character or two
_weights = WEIGHTS


def text(rng: random.Random, low: int = 1, high: int = 80) -> str:
    """A random string: mostly prose-like, with markup and template syntax, sometimes one very long word."""
    n = rng.randint(low, high)
    if rng.random() < 0.03:
        return rng.choice("abcdefgh") * rng.randint(100, 1500)  # an unbreakable word
    out = []
    while len(out) < n:
        pool = rng.choices(POOLS, _weights)[0]
        whole = pool is POOLS[-1] and rng.random() < 0.5  # template syntax as a whole token
        out.append(pool if whole else rng.choice(pool))
    s = "".join(out)[: max(n, 1)]
    return s if s.strip() else s + "x"


def q(s: str) -> str:
    """A YAML double-quoted scalar that holds s exactly (escapes for everything but printable text)."""
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif not ch.isprintable() or unicodedata.category(ch) in ("Cf", "Co", "Cs", "Zs") and ch != " ":
            out.append(f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def leaflet(rng: random.Random) -> tuple[str, list[str], list[str]]:
    """YAML source, the texts a handout prints, the texts a checklist prints."""
    global _weights
    _weights = HOSTILE if rng.random() < 0.1 else WEIGHTS
    title, summary = text(rng, 3, 60), text(rng, 10, 300)
    handout, checklist = [title, summary], [title]
    lines = [f"id: {LEAFLET}", f"title: {q(title)}", f"summary: {q(summary)}", "sections:"]
    for s in range(rng.randint(1, 5)):
        heading = text(rng, 3, 50)
        handout.append(heading)
        style = "\n    style: urgent" if rng.random() < 0.2 else ""
        lines += [f"  - id: s{s}", f"    heading: {q(heading)}{style}", "    content:"]
        for _ in range(rng.randint(1, 4)):
            if rng.random() < 0.3:
                items = [text(rng, 1, 120) for _ in range(rng.randint(1, 5))]
                handout += items
                lines.append("      - bullets: [" + ", ".join(q(i) for i in items) + "]")
            else:
                para = text(rng, 1, rng.choice([200, 800, 3000]))
                handout.append(para)
                lines.append(f"      - {q(para)}")
    ctitle, intro = text(rng, 3, 60), text(rng, 5, 200)
    checklist += [ctitle, intro]
    lines += ["checklist:", f"  title: {q(ctitle)}", f"  intro: {q(intro)}", "  items:"]
    for i in range(rng.randint(1, 6)):
        ins, freq = text(rng, 3, 150), text(rng, 2, 40)
        checklist += [ins, freq]
        safety = f", safety: {q(text(rng, 3, 80))}" if rng.random() < 0.5 else ""
        lines.append(f"    - {{id: i{i}, instruction: {q(ins)}, frequency: {q(freq)}{safety}}}")
    lines += [
        "document:",
        '  version: "1.0"',
        "  published: 2026-01-01",
        "  review: 2027-01-01",
        f"  status: {rng.choice(['draft', 'approved'])}",
        "  approved_by: A clinician",
        f"  sources: [{q(text(rng, 5, 60))}]",
    ]
    return "\n".join(lines) + "\n", handout, checklist


def squash(s: str) -> str:
    """Compare as a reader would: NFKC, no whitespace, no invisible format characters, no hyphens (a soft
    hyphen prints as '-' where a line breaks)."""
    s = unicodedata.normalize("NFKC", s)
    return "".join(ch for ch in s if not ch.isspace() and ch != "-" and unicodedata.category(ch) not in ("Cf", "Cc"))


# English dates print as "January 1, 2027" (CLDR's en); a footer that wraps in large print puts one on its own line.
RUNNING = (
    "Your clinic",
    "Version ",
    "Page ",
    "Draft: not yet approved",
    "2027",
    "Review due",
    "1 January 2027",
    "January 1, 2027",
)


def body_text(pdf: bytes) -> str:
    """The extracted text without the running header, footer, page number and banner lines, which fall
    inside a paragraph that crosses a page."""
    pages = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        lines = (page.extract_text() or "").split("\n")
        pages.append("\n".join(ln for ln in lines if not ln.startswith(RUNNING)))
    return "".join(pages)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--slow", type=float, default=5.0, help="seconds beyond which a case counts as a hang")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="leafgen-fuzz-"))
    for name in ("leaflets", "templates", "translations"):
        shutil.copytree(ROOT / name, tmp / name, ignore=shutil.ignore_patterns("*.mo", "*.pot"))
    shutil.copy(ROOT / "clinic.yaml", tmp / "clinic.yaml")
    for p in (tmp / "leaflets").glob("[!_]*.yaml"):
        p.unlink()
    source = tmp / "leaflets" / f"{LEAFLET}.yaml"
    counts = {"pdf": 0, "error": 0}
    kinds: collections.Counter[str] = collections.Counter()
    defects: list[str] = []
    slowest = 0.0
    started = time.monotonic()
    for case in range(args.cases):
        rng = random.Random(args.seed * 1_000_003 + case)
        yaml_text, handout, checklist = leaflet(rng)
        source.write_text(yaml_text, encoding="utf-8")
        kind = rng.choice(["handout", "checklist"])
        paper, large = rng.choice(["a4", "letter"]), rng.random() < 0.3
        t0 = time.monotonic()
        try:
            pdf = api.render(LEAFLET, "en", kind, paper, large_print=large, project=tmp)
        except LeafgenError as e:
            lines = str(e).splitlines()
            if not lines or not all(ln.startswith(str(tmp)) for ln in lines):
                defects.append(f"case {case}: error without a file: {str(e)[:200]!r}")
            counts["error"] += 1
            first = lines[0].split(": ", 1)[-1] if lines else ""
            kinds[re.sub(r"('[^']*'|\"[^\"]*\"|U\+\w+ [A-Z -]+|\d[\d,]*)", "…", first)[:70]] += 1
        except Exception as e:  # noqa: BLE001 - exactly what the fuzzer looks for
            defects.append(f"case {case}: {type(e).__name__}: {str(e)[:200]}")
        else:
            counts["pdf"] += 1
            got = squash(body_text(pdf))
            for unit in handout if kind == "handout" else checklist:
                if squash(unit) not in got:
                    defects.append(f"case {case}: {kind} lost text {unit[:60]!r}")
                    break
        elapsed = time.monotonic() - t0
        slowest = max(slowest, elapsed)
        if elapsed > args.slow:
            defects.append(f"case {case}: took {elapsed:.1f} s")
        if (case + 1) % 250 == 0:
            print(f"{case + 1} cases, {counts}, {len(defects)} defects", file=sys.stderr)
    shutil.rmtree(tmp)
    print(
        f"{args.cases} cases (seed {args.seed}) in {time.monotonic() - started:.0f} s: {counts['pdf']} PDFs, "
        f"{counts['error']} clean errors, {len(defects)} defects; slowest case {slowest:.2f} s"
    )
    for kind, n in kinds.most_common(12):
        print(f"  {n:5}  error: {kind}")
    for d in defects[:50]:
        print("  " + d)
    return 1 if defects else 0


if __name__ == "__main__":
    sys.exit(main())

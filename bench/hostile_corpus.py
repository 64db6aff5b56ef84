"""Run a corpus of broken and hostile inputs through the real `leafgen` command and classify each outcome.

Not a test (a few minutes). Every case starts from a fresh copy of the shipped project, breaks one thing (a
leaflet, template, theme, clinic profile, catalog, or the command line), runs `python -m leafgen` in a
subprocess with a time and memory limit, and is counted as
- clean: exit 1, every stderr line starts with "leafgen:", no traceback or object address, the expected file
  (and line, where the case knows it) named, no PDF or .tmp file left behind; or
- pdf: exit 0 with the PDF written, and the text the case expects printed literally; or
- DEFECT: anything else (traceback, hang, crash, silent acceptance, wrong file blamed, text lost).
The bad files under tests/data/bad/ are part of the corpus.

    python bench/hostile_corpus.py            # all cases
    python bench/hostile_corpus.py -k theme   # cases whose name contains "theme"
"""

from __future__ import annotations

import argparse
import io
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pypdf import PdfReader

ROOT = Path(__file__).resolve().parents[1]
BAD = ROOT / "tests" / "data" / "bad"
LEAFLET = "pins-and-needles-in-back"
SOURCE = f"leaflets/{LEAFLET}.yaml"
PO_ES = "translations/es/LC_MESSAGES/messages.po"
BUILD = ["build", LEAFLET, "--lang", "en", "--kind", "handout", "--jobs", "1"]
TIMEOUT = 30
MEMORY = 2 * 1024**3


@dataclass
class Case:
    name: str
    setup: Callable[[Path], None] = lambda root: None
    args: list[str] = field(default_factory=lambda: list(BUILD))
    blame: str = ""  # error expected naming this file (a path suffix); "" with pdf=False: any clean error
    line: int = 0  # and this line
    pdf: bool = False  # a PDF is expected instead
    literal: str = ""  # ...printing this text
    either: bool = False  # a PDF or a clean error are both right


def edit(rel: str, fn: Callable[[str], str]) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        p = root / rel
        p.write_text(fn(p.read_text(encoding="utf-8")), encoding="utf-8")

    return setup


def write(rel: str, data: str | bytes) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))

    return setup


def sub(old: str, new: str, count: int = 1) -> Callable[[str], str]:
    def fn(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, count)

    return fn


FIRST_PARA = "      - >-\n        Pins and needles are best known in the feet, hands, arms and legs."


def para(yaml_scalar: str) -> Callable[[Path], None]:
    """Replace the first paragraph's first line with a paragraph of our own, before it."""
    return edit(SOURCE, sub(FIRST_PARA, f"      - {yaml_scalar}\n" + FIRST_PARA))


def title(yaml_scalar: str) -> Callable[[Path], None]:
    return edit(SOURCE, sub("title: Pins and needles in the back", f"title: {yaml_scalar}"))


def po_sub(old: str, new: str) -> Callable[[Path], None]:
    return edit(PO_ES, sub(old, new))


ES = ["build", LEAFLET, "--lang", "es", "--kind", "handout", "--jobs", "1"]
CHECK = ["check"]


def symlink(rel: str, target: str) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        (root / rel).symlink_to(target)

    return setup


def mkdir(rel: str) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        p = root / rel
        if p.is_file():
            p.unlink()
        p.mkdir(parents=True)

    return setup


def chain(*fns: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        for fn in fns:
            fn(root)

    return setup


def yaml_nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def cases() -> list[Case]:
    out: list[Case] = []
    # Leaflet sources: every shipped bad file, then more.
    for p in sorted(BAD.glob("bad-*.yaml")):
        line = int(re.match(r"# expect: (\d+)", p.read_text(encoding="utf-8")).group(1))
        out.append(
            Case(
                f"leaflet/{p.name}",
                write(f"leaflets/{p.name}", p.read_bytes()),
                ["build", p.stem, "--lang", "en", "--jobs", "1"],
                p.name,
                line,
            )
        )
    L = SOURCE.split("/")[-1]  # noqa: N806
    out += [
        Case(
            "leaflet/markup-and-template-syntax",
            para('"<b>b</b> & </p><blink/> {{ 7*7 }} {% raw %} %(x)s {page}"'),
            pdf=True,
            literal="</p><blink/> {{ 7*7 }} {% raw %} %(x)s {page}",
        ),
        Case(
            "leaflet/entities-and-cdata",
            para('"&amp; &#x41; ]]> <![CDATA[x]]>"'),
            pdf=True,
            literal="&amp; &#x41; ]]> <![CDATA[x]]>",
        ),
        Case("leaflet/long-unbreakable-word", para("a" * 3000), either=True, blame=L),
        Case("leaflet/deep-nesting", para(yaml_nested(5000)), blame=L),
        Case("leaflet/empty-file", write(SOURCE, ""), blame=L),
        Case("leaflet/only-a-comment", write(SOURCE, "# nothing\n"), blame=L),
        Case("leaflet/binary-garbage", write(SOURCE, bytes(range(256)) * 4), blame=L),
        Case("leaflet/utf16", lambda r: (r / SOURCE).write_bytes((r / SOURCE).read_text().encode("utf-16")), blame=L),
        Case("leaflet/bom", lambda r: (r / SOURCE).write_bytes(b"\xef\xbb\xbf" + (r / SOURCE).read_bytes()), pdf=True),
        Case(
            "leaflet/crlf",
            lambda r: (r / SOURCE).write_bytes((r / SOURCE).read_bytes().replace(b"\n", b"\r\n")),
            pdf=True,
        ),
        Case("leaflet/300KB-file", edit(SOURCE, lambda t: t + ("# padding\n" * 31000)), blame=L),
        Case(
            "leaflet/1000-sections",
            edit(
                SOURCE,
                lambda t: t.replace(
                    "sections:\n",
                    "sections:\n"
                    + "".join(f"  - {{id: s{i}, heading: H{i}, content: [Text {i}.]}}\n" for i in range(1000)),
                    1,
                ),
            ),
            either=True,
            blame=L,
        ),
        Case("leaflet/4900-char-paragraph", para('"' + "Rest your back. " * 306 + '"'), pdf=True),
        Case("leaflet/python-object-tag", title('!!python/object/apply:os.system ["id"]'), blame=L, line=2),
        Case("leaflet/binary-tag", title("!!binary aGVsbG8="), blame=L, line=2),
        Case("leaflet/int-key", edit(SOURCE, lambda t: t + "1: one\n"), blame=L),
        Case("leaflet/null-title", title("~"), blame=L, line=2),
        Case("leaflet/list-title", title("[a, b]"), blame=L, line=2),
        Case("leaflet/sections-mapping", edit(SOURCE, sub("sections:\n", "sections: {a: 1}\nx_sections:\n")), blame=L),
        Case("leaflet/slash-date", edit(SOURCE, sub("published: 2026-11-23", "published: 2026/11/23")), blame=L),
        Case("leaflet/feb-30", edit(SOURCE, sub("published: 2026-11-23", "published: 2026-02-30")), blame=L),
        Case("leaflet/far-review", edit(SOURCE, sub("review: 2027-11-23", "review: 9999-12-31")), pdf=True),
        Case("leaflet/five-digit-year", edit(SOURCE, sub("published: 2026-11-23", "published: 99999-01-01")), blame=L),
        Case("leaflet/zwj-zwnj-soft-hyphen", para('"pre\\u00adven\\u200ction wo\\u200drd"'), pdf=True),
        Case("leaflet/rlm-mark", para('"Take \\u200f2 tablets"'), either=True, blame=L),
        Case("leaflet/emoji", para('"Smile \\U0001F600"'), blame=L),
        Case("leaflet/cjk-in-english", para('"Rest 休息"'), blame=L),
        Case("leaflet/zalgo", para('"Z' + "\\u0301" * 200 + 'algo"'), either=True, blame=L),
        Case("leaflet/tab-in-text", para('"a\\tb"'), pdf=True),
        Case("leaflet/line-separator", para('"a\\u2028b"'), either=True, blame=L),
        Case(
            "leaflet/page-placeholders-in-title",
            title('"Back {page} of {pages}"'),
            pdf=True,
            literal="{page} of {pages}",
        ),
        Case(
            "leaflet/bad-file-name-build-all",
            write("leaflets/Evil Name.yaml", "id: x\n"),
            ["build", "--lang", "en", "--jobs", "1"],
        ),
        Case(
            "leaflet/directory-named-yaml",
            mkdir("leaflets/dir.yaml"),
            ["build", "--lang", "en", "--jobs", "1"],
            pdf=True,
        ),
        Case(
            "leaflet/symlink-to-passwd",
            symlink("leaflets/passwd.yaml", "/etc/passwd"),
            ["build", "passwd", "--lang", "en"],
            "passwd.yaml",
        ),
        Case("leaflet/two-documents", edit(SOURCE, lambda t: t + "---\nid: other\n"), blame=L),
        Case(
            "leaflet/merge-key",
            edit(SOURCE, lambda t: t.replace("document:\n", "document:\n  <<: {status: draft}\n", 1)),
            blame=L,
        ),
        Case(
            "leaflet/version-1.10",
            edit(SOURCE, lambda t: re.sub(r"version: .*", "version: 1.10", t)),
            pdf=True,
            literal="Version 1.10",
        ),
        Case("leaflet/version-list", edit(SOURCE, lambda t: re.sub(r"version: .*", "version: [1]", t)), blame=L),
        Case("leaflet/status-capital", edit(SOURCE, lambda t: re.sub(r"status: .*", "status: Approved", t)), blame=L),
        Case("leaflet/no-approved-by", edit(SOURCE, lambda t: re.sub(r"  approved_by: .*\n", "", t)), blame=L),
        Case(
            "leaflet/empty-sources",
            edit(SOURCE, lambda t: re.sub(r"  sources:\n(    - .*\n)+", "  sources: []\n", t)),
            blame=L,
        ),
        Case("leaflet/nel-raw", para('"a\x85b"'), blame=L),
        Case("leaflet/bom-mid-text", para('"a\ufeffb"'), blame=L),
        Case("leaflet/surrogate-escape", para('"\\ud800"'), blame=L),
        Case("leaflet/last-code-point", para('"\\U0010FFFF"'), blame=L),
        Case(
            "leaflet/4900-char-heading",
            edit(SOURCE, sub("heading: Symptoms", "heading: " + "Symptoms " * 540)),
            either=True,
            blame=L,
        ),
        Case(
            "leaflet/2000-bullets",
            para("{bullets: [" + ", ".join(f"b{i}" for i in range(2000)) + "]}"),
            either=True,
            blame=L,
        ),
        Case("leaflet/bullet-number", para("{bullets: [12]}"), blame=L),
        Case("leaflet/yes-title", title("yes"), blame=L, line=2),
        Case(
            "leaflet/colon-heading",
            edit(SOURCE, sub("heading: Symptoms", "heading: Symptoms: what to look for")),
            blame=L,
        ),
    ]
    # Templates.
    for p in sorted((BAD / "template").glob("*.j2")):
        line = int(re.match(r"\{# expect: (\d+)", p.read_text(encoding="utf-8")).group(1))
        page = "checklist" if p.name.startswith("checklist") else "handout"
        args = ["build", LEAFLET, "--lang", "en", "--kind", page, "--jobs", "1"]
        out.append(
            Case(f"template/{p.name}", write(f"templates/{page}.xml.j2", p.read_bytes()), args, f"{page}.xml.j2", line)
        )
    H = "templates/handout.xml.j2"  # noqa: N806
    T = "<title>{{ leaflet.title }}</title>"  # noqa: N806

    def tpl(name: str, new: str, **kw: object) -> Case:
        kw.setdefault("blame", "handout.xml.j2")
        return Case(f"template/{name}", edit(H, sub(T, new)), **kw)  # type: ignore[arg-type]

    out += [
        tpl("include-traversal", "{% include '../../../../etc/passwd' %}"),
        tpl("include-absolute", "{% include '/etc/passwd' %}"),
        Case(
            "template/self-extends", edit(H, lambda t: "{% extends 'handout.xml.j2' %}\n" + t), blame="handout.xml.j2"
        ),
        tpl("self-dict", "<title>{{ self.__dict__ }}</title>"),
        tpl("format-string-escape", "<title>{{ '{0.__class__}'.format(leaflet) }}</title>"),
        tpl("attr-filter", "<title>{{ leaflet.title|attr('__class__') }}</title>"),
        tpl("range-huge", "<title>{{ range(10**9)|list }}</title>"),
        tpl("undefined-config", "<title>{{ config }}</title>"),
        tpl(
            "date-strftime", "<title>{{ leaflet.document.published.strftime('%Y') }}</title>", pdf=True, literal="2026"
        ),
        tpl("namespace", "{% set ns = namespace(a=1) %}{% set ns.a = 2 %}<title>{{ ns.a }}</title>", pdf=True),
        tpl("safe-filter-injection", "<title>{{ leaflet.title|safe }}</title>", pdf=True),
        tpl(
            "nested-loops-no-output",
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}" + T,
        ),
        Case("template/not-utf8", write(H, b"<document>\xff\xfe</document>"), blame="handout.xml.j2"),
        Case("template/empty", write(H, ""), blame="handout.xml.j2"),
        tpl("italic-element", "<p><i>x</i></p>" + T),
        tpl("unknown-paragraph-style", '<p style="x">text</p>' + T, pdf=True),
        tpl("unknown-box-style", '<box style="evil"><p>x</p></box>' + T),
        tpl("spacer-huge", '<spacer height="1e308"/>' + T),
        tpl("spacer-nan", '<spacer height="nan"/>' + T),
        Case(
            "template/grid-negative",
            edit("templates/checklist.xml.j2", sub('days="7"', 'days="-1"')),
            ["build", LEAFLET, "--lang", "en", "--kind", "checklist"],
            "checklist.xml.j2",
        ),
        Case("template/full-width", edit(H, sub("<document ", '<document width="full" ')), pdf=True),
        Case(
            "template/email-subject-ssti",
            write("templates/email_subject.txt.j2", "{{ cycler.__init__.__globals__.os.popen('id').read() }}"),
            ["email", "--to", "ann@example.org", "--leaflet", LEAFLET, "--lang", "en"],
            "email_subject.txt.j2",
        ),
    ]
    # Theme.
    for p in sorted((BAD / "theme").glob("*.yaml")):
        line = int(re.match(r"# expect: (\d+)", p.read_text(encoding="utf-8")).group(1))
        out.append(
            Case(
                f"theme/{p.name}",
                write("templates/theme.yaml", p.read_bytes()),
                BUILD + ["--large-print"],
                "theme.yaml",
                line,
            )
        )
    TH = "templates/theme.yaml"  # noqa: N806
    theme_min = (
        "standard: &s {body_size: 8, leading: 1.0, title_size: 8, h1_size: 8, h2_size: 8, small_size: 6,"
        " measure: 30, margin_mm: 5, box_padding: 0, tick_size: 8}\n"
    )
    out += [
        Case("theme/empty", write(TH, ""), blame="theme.yaml"),
        Case("theme/list", write(TH, "- a\n"), blame="theme.yaml"),
        Case("theme/no-colours", edit(TH, lambda t: t.split("colours:")[0]), blame="theme.yaml"),
        Case(
            "theme/all-minimums",
            edit(
                TH,
                lambda t: (
                    re.sub(
                        r"(body_size|title_size|h1_size|h2_size): [\d.]+",
                        r"\1: 8",
                        re.sub(
                            r"small_size: \d+",
                            "small_size: 6",
                            re.sub(
                                r"measure: \d+",
                                "measure: 30",
                                re.sub(
                                    r"margin_mm: \d+",
                                    "margin_mm: 5",
                                    re.sub(
                                        r"leading: [\d.]+",
                                        "leading: 1.0",
                                        re.sub(
                                            r"tick_size: \d+",
                                            "tick_size: 8",
                                            re.sub(r"box_padding: \d+", "box_padding: 0", t.split("large:")[0]),
                                        ),
                                    ),
                                ),
                            ),
                        ),
                    )
                    + "large:"
                    + t.split("large:")[1]
                ),
            ),
            ["build", LEAFLET, "--lang", "en", "--jobs", "1"],
            either=True,
            blame="theme.yaml",
        ),
        Case(
            "theme/all-maximums",
            edit(
                TH,
                lambda t: re.sub(
                    r"body_size: \d+",
                    "body_size: 36",
                    re.sub(
                        r"(title_size): \d+",
                        r"\1: 72",
                        re.sub(
                            r"(h1_size|h2_size): [\d.]+",
                            r"\1: 48",
                            re.sub(
                                r"small_size: \d+",
                                "small_size: 36",
                                re.sub(
                                    r"measure: \d+",
                                    "measure: 120",
                                    re.sub(
                                        r"margin_mm: \d+",
                                        "margin_mm: 40",
                                        re.sub(
                                            r"leading: [\d.]+",
                                            "leading: 3.0",
                                            re.sub(
                                                r"tick_size: \d+",
                                                "tick_size: 40",
                                                re.sub(r"box_padding: \d+", "box_padding: 30", t),
                                            ),
                                        ),
                                    ),
                                ),
                            ),
                        ),
                    ),
                ),
            ),
            ["build", LEAFLET, "--lang", "en", "--jobs", "1"],
            either=True,
            blame="theme.yaml",
        ),
        Case("theme/infinite-size", edit(TH, sub("body_size: 12 ", "body_size: .inf ")), blame="theme.yaml", line=5),
        Case("theme/nan-size", edit(TH, sub("body_size: 12 ", "body_size: .nan ")), blame="theme.yaml", line=5),
        Case("theme/quoted-number", edit(TH, sub("body_size: 12 ", 'body_size: "12" ')), blame="theme.yaml", line=5),
        Case("theme/missing-file", lambda r: (r / TH).unlink(), blame="theme.yaml"),
        Case("theme/bad-hex", edit(TH, sub('"#1b1b1b"', '"#GGGGGG"')), blame="theme.yaml"),
        Case("theme/extra-top-key", edit(TH, lambda t: t + "fonts: {body: Comic}\n"), blame="theme.yaml"),
        Case("theme/alias-reuse", write(TH, theme_min + "large: *s\n"), blame="theme.yaml", line=1),
    ]
    # Clinic profile.
    for p in sorted((BAD / "clinic").glob("*.yaml")):
        line = int(re.match(r"# expect: (\d+)", p.read_text(encoding="utf-8")).group(1))
        out.append(Case(f"clinic/{p.name}", write("clinic.yaml", p.read_bytes()), blame="clinic.yaml", line=line))
    out += [
        Case(
            "clinic/octal-phone",
            write("clinic.yaml", "name: Riverside\nphone: 01234567\n"),
            pdf=True,
            literal="01234567",
        ),
        Case("clinic/directory", mkdir("clinic.yaml"), blame="clinic.yaml"),
        Case("clinic/empty", write("clinic.yaml", ""), pdf=True),
        Case(
            "clinic/markup-name",
            write("clinic.yaml", 'name: "<b>x</b> & {{ 1 }} </p>"\n'),
            pdf=True,
            literal="<b>x</b> & {{ 1 }} </p>",
        ),
        Case(
            "clinic/javascript-website",
            write("clinic.yaml", "name: R\nwebsite: javascript:alert(1)\n"),
            pdf=True,
            literal="javascript:alert(1)",
        ),
        Case(
            "clinic/email-newline",
            write("clinic.yaml", 'name: R\nemail: "a@b.org\\nBcc: x@y.org"\n'),
            blame="clinic.yaml",
            line=2,
        ),
        Case("clinic/date-name", write("clinic.yaml", "name: 2026-01-01\n"), pdf=True, literal="2026-01-01"),
        Case("clinic/yes-name", write("clinic.yaml", "name: yes\n"), pdf=True, literal="yes"),
        Case(
            "clinic/capital-paper",
            write("clinic.yaml", "name: R\ndefault_paper: Letter\n"),
            ["build", LEAFLET, "--lang", "en"],
            "clinic.yaml",
            2,
        ),
        Case("clinic/not-utf8", write("clinic.yaml", b"name: Cl\xe9nica\n"), blame="clinic.yaml"),
        Case(
            "clinic/long-address", write("clinic.yaml", "name: R\naddress: " + "1 High Street, " * 10 + "\n"), pdf=True
        ),
    ]
    # Catalogs.
    for p in sorted((BAD / "catalog").glob("*.po")):
        line = int(re.match(rb"# expect: (\d+)", p.read_bytes()).group(1))
        out.append(Case(f"catalog/{p.name}", write(PO_ES, p.read_bytes()), ES, "messages.po", line))
    out += [
        Case(
            "catalog/markup-in-msgstr",
            po_sub('msgstr "Síntomas"', 'msgstr "<b>Síntomas</b> </p><blink/>"'),
            ES,
            pdf=True,
            literal="<b>Síntomas</b> </p><blink/>",
        ),
        Case(
            "catalog/template-syntax-in-msgstr",
            po_sub('msgstr "Síntomas"', 'msgstr "Síntomas {{ 7*7 }}"'),
            ES,
            pdf=True,
            literal="{{ 7*7 }}",
        ),
        Case(
            "catalog/renamed-placeholder",
            po_sub(
                'msgid "Version %(version)s"\nmsgstr "Versión %(version)s"',
                'msgid "Version %(version)s"\nmsgstr "Versión %(versión)s"',
            ),
            ES,
            "messages.po",
        ),
        Case(
            "catalog/all-fuzzy", edit(PO_ES, lambda t: t.replace("\nmsgid ", "\n#, fuzzy\nmsgid ")), ES, "messages.po"
        ),
        Case(
            "catalog/obsolete-entries", edit(PO_ES, lambda t: t + '\n#~ msgid "Old"\n#~ msgstr "Viejo"\n'), ES, pdf=True
        ),
        Case(
            "catalog/crlf",
            lambda r: (r / PO_ES).write_bytes((r / PO_ES).read_bytes().replace(b"\n", b"\r\n")),
            ES,
            pdf=True,
        ),
        Case(
            "catalog/bom", lambda r: (r / PO_ES).write_bytes(b"\xef\xbb\xbf" + (r / PO_ES).read_bytes()), ES, pdf=True
        ),
        Case("catalog/empty-file", write(PO_ES, ""), ES, "messages.po"),
        Case("catalog/directory", mkdir(PO_ES), ES),
        Case("catalog/no-header", edit(PO_ES, lambda t: t[t.index("#. shared disclaimer") :]), ES, pdf=True),
        Case(
            "catalog/garbage-plural-forms",
            po_sub("nplurals=2; plural=(n != 1);", "nplurals=banana"),
            ES,
            either=True,
            blame="messages.po",
        ),
        Case("catalog/trailing-backslash", po_sub('msgstr "Síntomas"', 'msgstr "Síntomas\\"'), ES, "messages.po"),
        Case("catalog/tab-escape", po_sub('msgstr "Síntomas"', 'msgstr "Sín\\ttomas"'), ES, pdf=True),
        Case("catalog/utf8-without-hyphen", po_sub("charset=utf-8", "charset=utf8"), ES, pdf=True),
        Case("catalog/utf16-charset", po_sub("charset=utf-8", "charset=UTF-16"), ES, "messages.po"),
        Case(
            "catalog/rlm-in-spanish",
            po_sub('msgstr "Síntomas"', 'msgstr "Sín\u200ftomas"'),
            ES,
            either=True,
            blame="messages.po",
        ),
        Case(
            "catalog/rlo-in-arabic",
            lambda r: (r / "translations/ar/LC_MESSAGES/messages.po").write_text(
                (r / "translations/ar/LC_MESSAGES/messages.po")
                .read_text(encoding="utf-8")
                .replace('msgid "Symptoms"\nmsgstr "', 'msgid "Symptoms"\nmsgstr "\u202e', 1),
                encoding="utf-8",
            ),
            ["build", LEAFLET, "--lang", "ar", "--kind", "handout"],
            "messages.po",
        ),
        Case(
            "catalog/plural-msgstr-for-singular",
            po_sub('msgstr "Síntomas"', 'msgstr[0] "Síntomas"'),
            ES,
            either=True,
            blame="messages.po",
        ),
        Case("catalog/language-header-mismatch", po_sub('"Language: es\\n"', '"Language: fr\\n"'), ES, pdf=True),
        Case(
            "catalog/allow-fallback-latin1",
            po_sub("charset=utf-8", "charset=ISO-8859-1"),
            ES + ["--allow-fallback"],
            "messages.po",
        ),
    ]
    # Command line.
    long_id = "a" * 5000
    out += [
        Case(f"cli/{n}", args=a, blame=b)
        for n, a, b in [
            ("traversal-id", ["build", "../../../../tmp/x", "--lang", "en"], ""),
            ("empty-id", ["build", "", "--lang", "en"], ""),
            ("dash-id", ["build", "--lang", "en", "--", "-rf"], ""),
            ("space-id", ["build", "a b", "--lang", "en"], ""),
            ("long-id", ["build", long_id, "--lang", "en"], ""),
            ("empty-lang", ["build", LEAFLET, "--lang", ""], ""),
            ("traversal-lang", ["build", LEAFLET, "--lang", "../../x"], ""),
            ("list-traversal-lang", ["build", LEAFLET, "--lang", "es,../x"], ""),
            ("comma-paper", ["build", LEAFLET, "--lang", "en", "--paper", ","], ""),
            ("a3-paper", ["build", LEAFLET, "--lang", "en", "--paper", "a3"], ""),
            ("unknown-kind", ["build", LEAFLET, "--lang", "en", "--kind", "poster"], ""),
            ("jobs-0", ["build", LEAFLET, "--lang", "en", "--jobs", "0"], ""),
            ("jobs-negative", ["build", LEAFLET, "--lang", "en", "--jobs", "-1"], ""),
            ("no-project", ["build", "--project", "/nonexistent/x", "--lang", "en"], ""),
            ("etc-project", ["build", "--project", "/etc", "--lang", "en"], ""),
            ("shard-5-of-2", ["build", LEAFLET, "--lang", "en", "--shard", "5/2"], ""),
            ("shard-garbage", ["build", LEAFLET, "--lang", "en", "--shard", "x"], ""),
            ("fillable-handout", ["build", LEAFLET, "--lang", "en", "--fillable", "--kind", "handout"], ""),
            ("i18n-init-space", ["i18n", "init", "-l", "de de"], ""),
            ("i18n-init-traversal", ["i18n", "init", "-l", "../../x"], ""),
            (
                "email-traversal-leaflet",
                ["email", "--to", "ann@example.org", "--leaflet", "../../x", "--lang", "en"],
                "",
            ),
        ]
    ]
    out += [
        Case("cli/jobs-100000", args=BUILD[:-2] + ["--jobs", "100000"], pdf=True),
        Case(
            "cli/out-is-a-file", write("out-file", "x"), ["build", LEAFLET, "--lang", "en", "--out", "{root}/out-file"]
        ),
        Case(
            "cli/recipients-traversal",
            write("r.csv", "email,lang,leaflet\nann@example.org,en,../../../tmp/x\n"),
            ["email", "--recipients", "{root}/r.csv"],
            "r.csv",
        ),
        Case(
            "cli/check-impossible-date", edit(SOURCE, sub("published: 2026-11-23", "published: 2026-13-45")), CHECK, L
        ),
        Case(
            "cli/list-impossible-date", edit(SOURCE, sub("published: 2026-11-23", "published: 2026-13-45")), ["list"], L
        ),
        Case("cli/check-negative-theme", edit(TH, sub("body_size: 12 ", "body_size: -12 ")), CHECK, "theme.yaml", 5),
        Case("cli/check-unterminated-catalog", po_sub('msgstr "Síntomas"', 'msgstr "Síntomas'), CHECK, "messages.po"),
        Case(
            "cli/check-template-ssti",
            edit(H, sub(T, "<title>{{ cycler.__init__.__globals__ }}</title>")),
            CHECK,
            "handout.xml.j2",
        ),
        Case("cli/check-control-character", para('"a\\u0007b"'), CHECK, L),
        Case("cli/check-missing-glyph", para('"Smile \\U0001F600"'), CHECK, L),
        Case("cli/check-unknown-layout-tag", edit(H, sub(T, "<blink/>" + T)), CHECK, "handout.xml.j2"),
    ]
    return out


def limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def fresh_project(dest: Path) -> None:
    for name in ("leaflets", "templates", "translations"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("*.mo", "*.pot"))
    shutil.copy(ROOT / "clinic.yaml", dest / "clinic.yaml")


def run(case: Case, work: Path) -> tuple[str, str, float]:
    root = work / "project"
    fresh_project(root)
    case.setup(root)
    out = work / "out"
    args = [a.replace("{root}", str(root)) for a in case.args]
    cmd = [sys.executable, "-m", "leafgen", *args]
    if "--project" not in args:
        cmd += ["--project", str(root)]
    if args[0] == "build" and "--out" not in args:
        cmd += ["--out", str(out)]
    if args[0] == "email":
        cmd += ["--outbox", str(out / "outbox"), "--journal", str(work / "journal.sqlite")]
    if args[0] == "i18n":
        cmd = [sys.executable, "-m", "leafgen", "i18n", "--project", str(root), *args[1:]]
    started = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, preexec_fn=limit, cwd=work)
    except subprocess.TimeoutExpired:
        return "DEFECT", f"no answer after {TIMEOUT} s (hang)", TIMEOUT
    elapsed = time.monotonic() - started
    err = proc.stderr
    pdfs = list(out.rglob("*.pdf")) + list(out.rglob("*.eml"))
    leftovers = [p for p in work.rglob("*.tmp")]
    first = " ".join((err.strip().splitlines() or [""])[0].split())[:160]
    if "Traceback" in err or re.search(r" at 0x[0-9a-f]+", err):
        return "DEFECT", f"traceback or internals: {err.strip().splitlines()[-1][:160]}", elapsed
    if leftovers:
        return "DEFECT", f"left {leftovers[0].name}", elapsed
    if proc.returncode == 0:
        if not case.pdf and not case.either:
            return "DEFECT", f"accepted silently (exit 0): {proc.stdout.strip()[:120]}", elapsed
        if case.pdf and not pdfs:
            return "DEFECT", "exit 0 but no PDF", elapsed
        if case.literal:
            pdf = next((p for p in pdfs if p.suffix == ".pdf"), None)
            text = (
                " ".join(
                    "".join(pg.extract_text() or "" for pg in PdfReader(io.BytesIO(pdf.read_bytes())).pages).split()
                )
                if pdf
                else ""
            )
            if " ".join(case.literal.split()) not in text:
                return "DEFECT", f"PDF does not print {case.literal!r} literally", elapsed
        return "pdf", proc.stdout.strip().splitlines()[-1][:120] if proc.stdout.strip() else "", elapsed
    last = (err.strip().splitlines() or [""])[-1]
    if proc.returncode == 2 and re.match(r"leafgen( [\w-]+)*: error: argument ", last) and not case.pdf:
        # argparse's refusal of a wrong command line (exit 2, the usage, then the argument at fault): deliberate.
        return "clean", last[:160], elapsed
    if proc.returncode != 1:
        return "DEFECT", f"exit {proc.returncode}: {first}", elapsed
    if case.pdf:
        return "DEFECT", f"refused a valid input: {first}", elapsed
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("  ")]
    if not lines or not all(ln.startswith("leafgen: ") for ln in lines):
        return "DEFECT", f"unclean stderr: {first}", elapsed
    if args[0] == "build" and [p for p in pdfs if p.suffix == ".pdf"] and case.blame:
        pass  # other jobs of the batch may build; the failing one left nothing (no .tmp above)
    if case.blame:
        want = f"{case.blame}:{case.line}:" if case.line else case.blame
        if want not in err:
            return "DEFECT", f"does not name {want}: {first}", elapsed
    return "clean", first.replace(str(root) + "/", ""), elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", default="", help="only cases whose name contains this")
    args = ap.parse_args()
    selected = [c for c in cases() if args.k in c.name]
    tally: dict[str, int] = {"clean": 0, "pdf": 0, "DEFECT": 0}
    slowest = (0.0, "")
    os.environ.pop("LEAFGEN_SMTP_HOST", None)
    for case in selected:
        with tempfile.TemporaryDirectory(prefix="leafgen-corpus-") as tmp:
            verdict, detail, elapsed = run(case, Path(tmp))
        tally[verdict] += 1
        slowest = max(slowest, (elapsed, case.name))
        print(f"{verdict:6} {elapsed:5.1f}s  {case.name:45} {detail}", flush=True)
    print(
        f"\n{len(selected)} inputs: {tally['clean']} clean one-line errors, {tally['pdf']} correct PDFs, "
        f"{tally['DEFECT']} defects; slowest {slowest[0]:.1f} s ({slowest[1]})"
    )
    return 1 if tally["DEFECT"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""The script table: fonts per language, their registration, glyph coverage and per-run font fallback."""

from __future__ import annotations

import html
import re
import threading
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from reportlab.pdfbase import pdfmetrics

from leafgen.errors import FontError
from leafgen.project import record
from leafgen.text.embed import EmbeddedFont

FONT_DIR = Path(__file__).parent / "fonts"
TABLE_PATH = Path(__file__).parent / "scripts.toml"

DIRECTIONS = ("ltr", "rtl")
LINE_BREAKS = ("space", "cjk")
SHAPINGS = ("none", "harfbuzz", "arabic-forms")


@dataclass(frozen=True)
class Script:
    """How text of one writing system is drawn: fonts, direction, line breaking and shaping (a scripts.toml row)."""

    name: str  # "latin", "arabic", "devanagari", "han"...
    regular: str  # registered ReportLab font name, e.g. "NotoSans"
    bold: str  # e.g. "NotoSans-Bold" (for han the same as regular: Droid has no bold)
    fallback: str | None  # face for what `regular` lacks (Latin, digits, punctuation), or None
    fallback_bold: str | None
    direction: str  # "ltr" | "rtl"
    line_break: str  # "space" | "cjk"
    shaping: str  # "none" | "harfbuzz" | "arabic-forms"
    font_files: tuple[Path, ...]  # every TTF used, fallback included (for build fingerprints)

    @property
    def rtl(self) -> bool:
        return self.direction == "rtl"

    @property
    def cjk(self) -> bool:
        """Paragraphs break between characters (wordWrap="CJK") with kinsoku rules."""
        return self.line_break == "cjk"

    @property
    def harfbuzz(self) -> bool:
        return self.shaping == "harfbuzz"


@dataclass(frozen=True)
class ScriptTable:
    """scripts.toml, parsed and checked once: fonts, scripts and the language -> script map."""

    fonts: dict[str, str]
    scripts: dict[str, Script]
    languages: dict[str, str]
    cannot_end: frozenset[str]  # kinsoku: no line ends with these (opening brackets)
    cannot_start: frozenset[str]  # ... and none starts with these (closing punctuation)


def load_table(path: Path = TABLE_PATH) -> ScriptTable:
    """Read and validate the script table; a broken row is a FontError naming the file and the row."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise FontError(f"cannot read the script table: {e}", path=path) from None
    fonts: dict[str, str] = dict(data.get("fonts", {}))
    scripts: dict[str, Script] = {}
    for name, row in data.get("scripts", {}).items():

        def bad(msg: str, name: str = name) -> FontError:
            return FontError(f"script {name!r}: {msg}", path=path)

        used = [row.get("regular"), row.get("bold"), *row.get("fallback", [])]
        unknown = [f for f in used if f not in fonts]
        if unknown:
            raise bad(f"unknown font {unknown[0]!r} (not in [fonts])")
        fallback = list(row.get("fallback", []))
        if len(fallback) not in (0, 2):
            raise bad("fallback must be [] or [regular, bold]")
        for key, allowed in (("direction", DIRECTIONS), ("line_break", LINE_BREAKS), ("shaping", SHAPINGS)):
            if row.get(key) not in allowed:
                raise bad(f"{key} must be one of {', '.join(allowed)}, not {row.get(key)!r}")
        names = dict.fromkeys([row["regular"], row["bold"], *fallback])
        scripts[name] = Script(
            name,
            row["regular"],
            row["bold"],
            fallback[0] if fallback else None,
            fallback[1] if fallback else None,
            row["direction"],
            row["line_break"],
            row["shaping"],
            font_files=tuple(FONT_DIR / fonts[n] for n in names),
        )
    languages = {str(k).lower(): v for k, v in data.get("languages", {}).items()}
    for lang, script in languages.items():
        if script not in scripts:
            raise FontError(f"language {lang!r}: unknown script {script!r}", path=path)
    if "latin" not in scripts:
        raise FontError("the table needs a 'latin' script (the default)", path=path)
    kinsoku = data.get("kinsoku", {})
    return ScriptTable(
        fonts, scripts, languages, frozenset(kinsoku.get("cannot_end", "")), frozenset(kinsoku.get("cannot_start", ""))
    )


TABLE = load_table()

# Registered ReportLab name -> vendored file (see fonts/README.md for origin and licence).
FONT_FILES: dict[str, str] = TABLE.fonts

# Font -> the face that draws the characters it lacks (digits and Latin in Arabic, Indic or CJK text).
FALLBACK: dict[str, str] = {}
# Font families: regular name -> (regular, bold). <b> in markup maps regular -> bold.
_FAMILIES: dict[str, tuple[str, str]] = {}
for _s in TABLE.scripts.values():
    _FAMILIES.setdefault(_s.regular, (_s.regular, _s.bold))
    if _s.fallback and _s.fallback_bold:
        FALLBACK.setdefault(_s.regular, _s.fallback)
        FALLBACK.setdefault(_s.bold, _s.fallback_bold)
        _FAMILIES.setdefault(_s.fallback, (_s.fallback, _s.fallback_bold))

BOLD_FONTS = frozenset(s.bold for s in TABLE.scripts.values() if s.bold != s.regular)

_IGNORED_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
SOFT_HYPHEN = "\u00ad"

_lock = threading.RLock()
_registered: set[str] = set()
_cmaps: dict[str, frozenset[int]] = {}


def _register_font(name: str) -> None:
    """Register one vendored TTF under `name`; a missing file is a broken install, said plainly."""
    path = FONT_DIR / FONT_FILES[name]
    if not path.is_file():
        raise FontError(f"font file for {name} is missing; reinstall leafgen", path=path)
    pdfmetrics.registerFont(EmbeddedFont(name, str(path)))


def register_script(script: Script) -> None:
    """Register a script's fonts, its Latin fallback and their <b> families, once per process."""
    if script.name in _registered:
        return
    with _lock:
        if script.name in _registered:
            return
        families = {script.regular}
        if script.fallback:
            families.add(script.fallback)
        for family in sorted(families):
            regular, bold = _FAMILIES[family]
            for name in {regular, bold}:
                if name not in pdfmetrics.getRegisteredFontNames():
                    _register_font(name)
            pdfmetrics.registerFontFamily(family, normal=regular, bold=bold, italic=regular, boldItalic=bold)
        _registered.add(script.name)


def script_for(lang: str) -> Script:
    """Return the script for a locale code ("ar", "zh_Hant", "pt_BR"...), fonts registered.

    The table is looked up by the whole code first ("zh_hant"), then by its language ("zh");
    a language the table does not list is written in Latin script (Noto Sans).
    """
    code = (lang or "").strip().lower().replace("-", "_")
    primary = re.split(r"[_@.]", code, maxsplit=1)[0]
    name = TABLE.languages.get(code) or TABLE.languages.get(primary) or "latin"
    script = TABLE.scripts[name]
    register_script(script)
    record(*script.font_files)  # builds rebuild a language's PDFs when its fonts change
    return script


def _script_of_font(font_name: str) -> Script | None:
    for script in TABLE.scripts.values():
        if font_name in (script.regular, script.bold):
            return script
    return None


def glyphs_of(font_name: str) -> frozenset[int]:
    """Code points the registered TrueType font has glyphs for (cached; the lookup is hot)."""
    cmap = _cmaps.get(font_name)
    if cmap is not None:
        return cmap
    script = _script_of_font(font_name)
    if script is not None:
        register_script(script)
    try:
        font = pdfmetrics.getFont(font_name)
    except KeyError:
        raise FontError(f"font {font_name!r} is not registered") from None
    face = getattr(font, "face", None)
    char_to_glyph = getattr(face, "charToGlyph", None)
    if char_to_glyph is None:
        raise FontError(f"font {font_name!r} is not a TrueType font; its glyphs cannot be checked")
    cmap = frozenset(char_to_glyph)
    _cmaps[font_name] = cmap
    return cmap


def _ignored(ch: str) -> bool:
    return ch == SOFT_HYPHEN or unicodedata.category(ch) in _IGNORED_CATEGORIES


def missing_glyphs(text: str, font_name: str, *, fallback: bool = True) -> list[str]:
    """Characters of `text` that would print as empty boxes, deduplicated, in first-seen order.

    Whitespace, control and format characters are ignored. With `fallback` (the default) a
    character counts as present if the Noto Sans fallback that leafgen draws it with has it
    (digits and Latin letters in Arabic or Chinese text). For Arabic, check the string that
    is drawn: `missing_glyphs(shape_rtl(text), script.regular)`.
    """
    cmap = glyphs_of(font_name)
    fb_name = FALLBACK.get(font_name) if fallback else None
    fb_cmap = glyphs_of(fb_name) if fb_name else frozenset()
    # Set operations over the distinct characters: every paragraph of every PDF is checked, nearly always clean.
    absent = {cp for cp in map(ord, set(text)) if cp not in cmap and cp not in fb_cmap and not _ignored(chr(cp))}
    if not absent:
        return []
    return [ch for ch in dict.fromkeys(text) if ord(ch) in absent]


_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape(text: str) -> str:
    """Plain text as ReportLab paragraph markup (xml.sax.saxutils would add ~20 ms of imports per process)."""
    return text.translate(_ESCAPES)


def font_runs(text: str, font: str, size: float) -> list[tuple[str, str, float]]:
    """Split drawn text into (text, font, width) runs, using the fallback where `font` lacks
    a glyph that the fallback has."""
    fb = FALLBACK.get(font)
    if not fb:
        return [(text, font, pdfmetrics.stringWidth(text, font, size))]
    cmap, fb_cmap = glyphs_of(font), glyphs_of(fb)
    runs: list[tuple[str, str, float]] = []
    start, current = 0, None
    for i, ch in enumerate(text):
        cp = ord(ch)
        use = fb if (cp not in cmap and cp in fb_cmap) else font
        if use != current:
            if current is not None:
                runs.append((text[start:i], current, 0.0))
            start, current = i, use
    if current is not None:
        runs.append((text[start:], current, 0.0))
    return [(t, f, pdfmetrics.stringWidth(t, f, size)) for t, f, _ in runs]


_MARKUP_TOKEN = re.compile(r"(<[^>]*>)|(&#?[A-Za-z0-9]+;)|([^<&]+|&)")


def with_fallback_markup(markup: str, font: str) -> str:
    """Wrap the characters `font` lacks in <font face=fallback> so ReportLab draws them.

    `markup` is already escaped; tags and entities are kept as they are.
    """
    fb = FALLBACK.get(font)
    if not fb:
        return markup
    cmap, fb_cmap = glyphs_of(font), glyphs_of(fb)

    def needs_fallback(chars: str) -> bool:
        cp = ord(" ") if chars.isspace() else ord(chars[0])
        return cp not in cmap and cp in fb_cmap

    out: list[str] = []
    run: list[str] = []
    run_fb = False

    def flush() -> None:
        if run:
            text = "".join(run)
            out.append(f'<font face="{fb}">{text}</font>' if run_fb else text)
            run.clear()

    for m in _MARKUP_TOKEN.finditer(markup):
        tag, entity, text = m.groups()
        if tag:
            flush()
            out.append(tag)
            continue
        pieces = [(entity, html.unescape(entity))] if entity else [(c, c) for c in text]
        for raw, chars in pieces:
            use_fb = bool(chars) and needs_fallback(chars)
            if use_fb != run_fb:
                flush()
                run_fb = use_fb
            run.append(raw)
    flush()
    return "".join(out)

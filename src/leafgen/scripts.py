"""Choose, register and check fonts per language, and lay out right-to-left text."""

from __future__ import annotations

import html
import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_RIGHT
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Flowable, Paragraph
from reportlab.platypus.paragraph import ParaLines
from reportlab.rl_config import paraFontSizeHeightOffset

from leafgen.errors import FontError

__all__ = [
    "RTLParagraph", "Script", "escape", "mirror", "missing_glyphs", "paragraph", "script_for", "shape_rtl",
]

FONT_DIR = Path(__file__).parent / "fonts"

# Registered ReportLab name -> vendored file (see fonts/README.md for origin and licence).
_FONT_FILES: dict[str, str] = {
    "NotoSans": "NotoSans-Regular.ttf",
    "NotoSans-Bold": "NotoSans-Bold.ttf",
    "NotoSansArabic": "NotoSansArabic-Regular.ttf",
    "NotoSansArabic-Bold": "NotoSansArabic-Bold.ttf",
    "DroidSansFallback": "DroidSansFallbackFull.ttf",
}

# Noto Sans Arabic has no Latin letters and Droid Sans Fallback has no ASCII at all (not even
# digits or the space), so characters a font lacks are drawn with Noto Sans instead.
_FALLBACK: dict[str, str] = {
    "NotoSansArabic": "NotoSans",
    "NotoSansArabic-Bold": "NotoSans-Bold",
    "DroidSansFallback": "NotoSans",
}

# Font families: regular name -> (regular, bold). <b> in markup maps regular -> bold.
_FAMILIES: dict[str, tuple[str, str]] = {
    "NotoSans": ("NotoSans", "NotoSans-Bold"),
    "NotoSansArabic": ("NotoSansArabic", "NotoSansArabic-Bold"),
    "DroidSansFallback": ("DroidSansFallback", "DroidSansFallback"),
}

_BOLD_FONTS = frozenset({"NotoSans-Bold", "NotoSansArabic-Bold"})

_IGNORED_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
_SOFT_HYPHEN = "\u00ad"

_lock = threading.RLock()
_registered: set[str] = set()
_cmaps: dict[str, frozenset[int]] = {}


@dataclass(frozen=True)
class Script:
    """How text of one writing system is drawn: fonts, direction and line-breaking rule."""

    name: str  # "latin" | "arabic" | "han"
    regular: str  # registered ReportLab font name, e.g. "NotoSans"
    bold: str  # e.g. "NotoSans-Bold" (for han the same as regular: Droid has no bold)
    rtl: bool
    cjk: bool  # paragraphs need wordWrap="CJK"
    font_files: tuple[Path, ...]  # every TTF used, fallback included (for build fingerprints)


def _files(*names: str) -> tuple[Path, ...]:
    return tuple(FONT_DIR / _FONT_FILES[n] for n in names)


_SCRIPTS: dict[str, Script] = {
    "latin": Script(
        "latin", "NotoSans", "NotoSans-Bold", rtl=False, cjk=False,
        font_files=_files("NotoSans", "NotoSans-Bold"),
    ),
    "arabic": Script(
        "arabic", "NotoSansArabic", "NotoSansArabic-Bold", rtl=True, cjk=False,
        font_files=_files("NotoSansArabic", "NotoSansArabic-Bold", "NotoSans", "NotoSans-Bold"),
    ),
    "han": Script(
        "han", "DroidSansFallback", "DroidSansFallback", rtl=False, cjk=True,
        font_files=_files("DroidSansFallback", "NotoSans", "NotoSans-Bold"),
    ),
}

# Languages written in Arabic script whose letters Noto Sans Arabic covers.
_ARABIC_LANGS = frozenset({"ar", "fa", "ur"})


def _register_font(name: str) -> None:
    """Register one vendored TTF under `name`; a missing file is a broken install, said plainly."""
    path = FONT_DIR / _FONT_FILES[name]
    if not path.is_file():
        raise FontError(f"font file for {name} is missing; reinstall leafgen", path=path)
    pdfmetrics.registerFont(TTFont(name, str(path)))


def _register_script(script: Script) -> None:
    """Register a script's fonts, its Latin fallback and their <b> families, once per process."""
    if script.name in _registered:
        return
    with _lock:
        if script.name in _registered:
            return
        families = {script.regular}
        if script.regular in _FALLBACK:
            families.add("NotoSans")
        for family in sorted(families):
            regular, bold = _FAMILIES[family]
            for name in {regular, bold}:
                if name not in pdfmetrics.getRegisteredFontNames():
                    _register_font(name)
            pdfmetrics.registerFontFamily(
                family, normal=regular, bold=bold, italic=regular, boldItalic=bold
            )
        _registered.add(script.name)


def script_for(lang: str) -> Script:
    """Return the script for a locale code ("ar", "zh_Hans", "pt_BR"...), fonts registered.

    Arabic-script languages get the RTL Arabic setup, Chinese gets the CJK one, and every
    other language Noto Sans (Latin, Cyrillic, Greek, Vietnamese).
    """
    primary = re.split(r"[_\-@.]", (lang or "").strip().lower(), maxsplit=1)[0]
    if primary in _ARABIC_LANGS:
        script = _SCRIPTS["arabic"]
    elif primary == "zh":
        script = _SCRIPTS["han"]
    else:
        script = _SCRIPTS["latin"]
    _register_script(script)
    return script


def _script_of_font(font_name: str) -> Script | None:
    for script in _SCRIPTS.values():
        if font_name in (script.regular, script.bold):
            return script
    return None


def _cmap(font_name: str) -> frozenset[int]:
    """Code points the registered TrueType font has glyphs for (cached; the lookup is hot)."""
    cmap = _cmaps.get(font_name)
    if cmap is not None:
        return cmap
    script = _script_of_font(font_name)
    if script is not None:
        _register_script(script)
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
    return ch == _SOFT_HYPHEN or unicodedata.category(ch) in _IGNORED_CATEGORIES


def missing_glyphs(text: str, font_name: str, *, fallback: bool = True) -> list[str]:
    """Characters of `text` that would print as empty boxes, deduplicated, in first-seen order.

    Whitespace, control and format characters are ignored. With `fallback` (the default) a
    character counts as present if the Noto Sans fallback that leafgen draws it with has it
    (digits and Latin letters in Arabic or Chinese text). For Arabic, check the string that
    is drawn: `missing_glyphs(shape_rtl(text), script.regular)`.
    """
    cmap = _cmap(font_name)
    fb_name = _FALLBACK.get(font_name) if fallback else None
    fb_cmap = _cmap(fb_name) if fb_name else frozenset()
    seen: set[str] = set()
    missing: list[str] = []
    for ch in text:
        if ch in seen:
            continue
        seen.add(ch)
        cp = ord(ch)
        if cp in cmap or cp in fb_cmap or _ignored(ch):
            continue
        missing.append(ch)
    return missing


_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def escape(text: str) -> str:
    """Plain text as ReportLab paragraph markup (xml.sax.saxutils would add ~20 ms of imports per process)."""
    return text.translate(_ESCAPES)


@lru_cache(maxsize=1)
def _reshaper():  # noqa: ANN202 - arabic_reshaper.ArabicReshaper, imported only for Arabic (it pulls in fontTools)
    import arabic_reshaper

    # The reshaper deletes vowel marks (harakat) by default; a shadda can change a word's meaning.
    return arabic_reshaper.ArabicReshaper(configuration={"delete_harakat": False})


def shape_rtl(text: str) -> str:
    """Join Arabic letters into the presentation forms actually drawn (logical order kept)."""
    return _reshaper().reshape(text)


def mirror(align: str, script: Script) -> str:
    """Swap "left" and "right" for right-to-left scripts (bullets and tick boxes go right)."""
    if not script.rtl:
        return align
    swapped = {"left": "right", "right": "left"}.get(align.lower())
    if swapped is None:
        return align
    if align.isupper():
        return swapped.upper()
    if align[:1].isupper():
        return swapped.capitalize()
    return swapped


# ----------------------------------------------------------------------------- styles

_style_cache: dict[tuple[int, str, bool], tuple[ParagraphStyle, ParagraphStyle]] = {}


def _is_bold_font(font_name: str) -> bool:
    return font_name in _BOLD_FONTS or "bold" in font_name.lower()


def _style_for(style: ParagraphStyle, script: Script, bold: bool = False) -> ParagraphStyle:
    """The caller's style adapted to the script: its font, CJK wrapping or mirrored RTL indents.

    Style sheets are written once for all languages, so a Latin font name is replaced by the
    script's font (same weight). Clones are cached per style object.
    """
    key = (id(style), script.name, bold)
    hit = _style_cache.get(key)
    if hit is not None and hit[0] is style:
        return hit[1]
    weight_bold = bold or _is_bold_font(style.fontName)
    font = script.bold if weight_bold else script.regular
    changes: dict[str, object] = {}
    if style.fontName != font:
        changes["fontName"] = font
    if style.bulletFontName not in _FONT_FILES:
        changes["bulletFontName"] = script.regular
    suffix = ""
    if script.cjk:
        suffix = "-cjk"
        if style.wordWrap != "CJK":
            changes["wordWrap"] = "CJK"
    elif script.rtl:
        suffix = "-rtl"
        # Indents are written for left-to-right pages; an RTL page is their mirror image.
        changes.update(
            leftIndent=style.rightIndent,
            rightIndent=style.leftIndent,
            alignment=style.alignment if style.alignment in (TA_CENTER, TA_JUSTIFY) else TA_RIGHT,
            wordWrap=None,
        )
    result = style
    if changes:
        result = style.clone(style.name + suffix + ("-bold" if bold else ""), **changes)
    with _lock:
        _style_cache[key] = (style, result)
    return result


# ----------------------------------------------------------------------------- fallback runs


def _runs(text: str, font: str, size: float) -> list[tuple[str, str, float]]:
    """Split drawn text into (text, font, width) runs, using the fallback where `font` lacks
    a glyph that the fallback has."""
    fb = _FALLBACK.get(font)
    if not fb:
        return [(text, font, pdfmetrics.stringWidth(text, font, size))]
    cmap, fb_cmap = _cmap(font), _cmap(fb)
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


def _with_fallback_markup(markup: str, font: str) -> str:
    """Wrap the characters `font` lacks in <font face=fallback> so ReportLab draws them.

    `markup` is already escaped; tags and entities are kept as they are.
    """
    fb = _FALLBACK.get(font)
    if not fb:
        return markup
    cmap, fb_cmap = _cmap(font), _cmap(fb)

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


# ----------------------------------------------------------------------------- right-to-left

_BR_RE = re.compile(r"<br\s*/?\s*>", re.IGNORECASE)
_TAG_RE = re.compile(r"<[^>]*>")
_WHOLE_BOLD_RE = re.compile(r"^\s*<b>(.*)</b>\s*$", re.DOTALL | re.IGNORECASE)
_SPACE_RE = re.compile(r"[ \t\r\n\f\v]+")  # not NBSP: it must keep words together


def _rtl_segments(markup: str) -> tuple[list[list[str]], bool]:
    """Escaped markup -> (hard lines of shaped logical words, whole paragraph bold?)."""
    m = _WHOLE_BOLD_RE.match(markup)
    bold = bool(m) and not re.search(r"</?b>", m.group(1), re.IGNORECASE)
    text = _BR_RE.sub("\n", re.sub(r"[\r\n]", " ", markup))
    text = html.unescape(_TAG_RE.sub("", text)).replace(_SOFT_HYPHEN, "")
    segments = [[w for w in _SPACE_RE.split(shape_rtl(line)) if w] for line in text.split("\n")]
    return segments, bold


@dataclass
class _RTLLine:
    words: list[str]  # shaped, logical order
    width: float
    hard: bool  # ends a hard line (<br/> or end of paragraph): never justified

    @cached_property
    def visual(self) -> str:
        """The line as drawn, left to right: bidi-reordered after breaking, per line."""
        # The pure-Python algorithm applies rule L4 (mirrored brackets); the Rust get_display in `bidi` does not.
        from bidi.algorithm import get_display

        return get_display(" ".join(self.words), base_dir="R") if self.words else ""


class RTLParagraph(Paragraph):
    """A single-style right-to-left paragraph (Arabic).

    ReportLab has no usable bidi support without rlbidi, so this class breaks the shaped
    *logical* words into lines itself, reorders each broken line into visual order with
    python-bidi, and draws it right-aligned, switching to the Latin fallback font for runs
    the Arabic font lacks ("B12"). Line order stays top-to-bottom because reordering happens
    after breaking. Inline styling is not supported; `paragraph()` strips it.
    """

    def __init__(self, segments: list[list[str]], style: ParagraphStyle,
                 justify_last: bool = False):
        self._segments = [list(s) for s in segments]
        self._justify_last = justify_last
        plain = " ".join(" ".join(s) for s in self._segments)
        super().__init__(escape(plain), style)

    def _word_width(self, word: str) -> float:
        return sum(w for _, _, w in _runs(word, self.style.fontName, self.style.fontSize))

    def _leading(self) -> float:
        style = self.style
        auto = getattr(self, "autoLeading", getattr(style, "autoLeading", ""))
        ascent, descent = pdfmetrics.getAscentDescent(style.fontName, style.fontSize)
        if auto == "max":
            return max(style.leading, ascent - descent)
        if auto == "min":
            return ascent - descent
        return style.leading

    def breakLines(self, width):  # noqa: N802 - ReportLab's name
        """Greedy breaking of logical words; returns ReportLab's simple (kind 0) structure."""
        max_widths = list(width) if isinstance(width, (list, tuple)) else [width]
        style = self.style
        font, size = style.fontName, style.fontSize
        space = self._word_width(" ")
        lines: list[_RTLLine] = []
        for seg in self._segments:
            cur: list[str] = []
            cur_w = 0.0
            for word in seg:
                ww = self._word_width(word)
                limit = max_widths[min(len(lines), len(max_widths) - 1)]
                if cur and cur_w + space + ww > limit + 1e-6:
                    lines.append(_RTLLine(cur, cur_w, hard=False))
                    cur, cur_w = [word], ww
                else:
                    cur_w = cur_w + space + ww if cur else ww
                    cur.append(word)
            lines.append(_RTLLine(cur, cur_w, hard=True))
        if lines and not any(line.words for line in lines):
            lines = []
        self._rtl_lines = lines
        self._width_max = max((line.width for line in lines), default=0)
        ascent, descent = pdfmetrics.getAscentDescent(font, size)
        return ParaLines(
            kind=0,
            lines=[(max_widths[min(i, len(max_widths) - 1)] - line.width, [line.visual])
                   for i, line in enumerate(lines)],
            fontName=font, fontSize=size, textColor=style.textColor,
            ascent=ascent, descent=descent,
        )

    def minWidth(self) -> float:  # noqa: N802 - ReportLab's name
        return max((self._word_width(w) for s in self._segments for w in s), default=0)

    def split(self, availWidth, availHeight):  # noqa: N803 - ReportLab's names
        """Split between lines; both parts are RTLParagraphs rebuilt from logical words."""
        if availWidth < 1e-8 or availHeight < 1e-8 or not any(self._segments):
            return []
        if not hasattr(self, "_rtl_lines") or getattr(self, "width", None) != availWidth:
            self.wrap(availWidth, availHeight)
        style = self.style
        lines = self._rtl_lines
        n = len(lines)
        s = int((availHeight + 1e-8) / self._leading())
        allow_orphans = getattr(self, "allowOrphans", getattr(style, "allowOrphans", 0))
        allow_widows = getattr(self, "allowWidows", getattr(style, "allowWidows", 1))
        if (not allow_orphans and s <= 1) or s == 0:
            return []
        if n <= s:
            return [self]
        if not allow_widows and n == s + 1:
            if (allow_orphans and n == 3) or n > 3:
                s -= 1
            else:
                return []
        head = RTLParagraph(_segments_of(lines[:s]), style, justify_last=not lines[s - 1].hard)
        tail_style = style
        if style.firstLineIndent:
            tail_style = style.clone(style.name + "-cont", firstLineIndent=0)
        tail = RTLParagraph(_segments_of(lines[s:]), tail_style, self._justify_last)
        return [head, tail]

    def drawPara(self, debug=0):  # noqa: N802 - ReportLab's name
        """Draw each visual line right-aligned (or centred/justified), font runs included."""
        canvas = self.canv
        style = self.style
        font, size = style.fontName, style.fontSize
        self._draw_background(debug)
        lines = self._rtl_lines
        if not lines:
            return
        leading = self._leading()
        ascent, _ = pdfmetrics.getAscentDescent(font, size)
        y = self.height - (size if paraFontSizeHeightOffset else ascent)
        left = style.leftIndent
        canvas.saveState()
        canvas.setFillColor(style.textColor)
        tx = canvas.beginText()
        last = len(lines) - 1
        for i, line in enumerate(lines):
            right = self.width - style.rightIndent - (style.firstLineIndent if i == 0 else 0)
            visual = line.visual
            justify = (style.alignment == TA_JUSTIFY and len(line.words) > 1
                       and (not line.hard or (i == last and self._justify_last)))
            if justify:
                words = visual.split(" ")
                widths = [self._word_width(w) for w in words]
                gap = (right - left - sum(widths)) / (len(words) - 1)
                x = left
                for word, ww in zip(words, widths, strict=True):
                    self._draw_runs(tx, x, y, word)
                    x += ww + gap
            elif visual:
                slack = right - left - line.width
                centre = slack / 2 if style.alignment == TA_CENTER else 0
                self._draw_runs(tx, right - line.width - centre, y, visual)
            y -= leading
        canvas.drawText(tx)
        canvas.restoreState()

    def _draw_runs(self, tx, x: float, y: float, text: str) -> None:
        tx.setTextOrigin(x, y)
        for run, font, _ in _runs(text, self.style.fontName, self.style.fontSize):
            tx.setFont(font, self.style.fontSize)
            tx.textOut(run)

    def _draw_background(self, debug: int) -> None:
        style = self.style
        bg = style.backColor
        bc = getattr(style, "borderColor", None)
        bw = getattr(style, "borderWidth", 0)
        if debug:
            bg, bc, bw = "#e6e6e6", "#ffff00", 0.5
        if not (bg or (bc and bw)):
            return
        canvas = self.canv
        canvas.saveState()
        pad = getattr(style, "borderPadding", 0) or 0
        if isinstance(pad, (list, tuple)):
            top, right, bottom, left = (list(pad) * 4)[:4] if len(pad) != 4 else pad
        else:
            top = right = bottom = left = pad
        if bg:
            canvas.setFillColor(bg)
        if bc and bw:
            canvas.setStrokeColor(bc)
            canvas.setLineWidth(bw)
        canvas.rect(style.leftIndent - left, -bottom,
                    self.width - style.leftIndent - style.rightIndent + left + right,
                    self.height + top + bottom, fill=1 if bg else 0, stroke=1 if bc and bw else 0)
        canvas.restoreState()


def _segments_of(lines: list[_RTLLine]) -> list[list[str]]:
    """Broken lines back to hard-line segments of logical words (for split halves)."""
    segments: list[list[str]] = []
    cur: list[str] = []
    for line in lines:
        cur.extend(line.words)
        if line.hard:
            segments.append(cur)
            cur = []
    if cur:
        segments.append(cur)
    return segments


# ----------------------------------------------------------------------------- paragraphs


def paragraph(markup: str, style: ParagraphStyle, script: Script) -> Flowable:
    """The Paragraph flowable that draws `markup` correctly in `script`.

    `markup` is ReportLab markup already escaped by the caller (<b>, <br/>, &amp; &lt; &gt;).
    Latin: a plain Paragraph. Han: CJK line breaking, with Latin/digits in Noto Sans.
    Arabic: an RTLParagraph; inline <b> is dropped (whole-paragraph <b>...</b> makes it bold).
    """
    _register_script(script)
    if script.rtl and _has_rtl(markup):
        segments, bold = _rtl_segments(markup)
        return RTLParagraph(segments, _style_for(style, script, bold=bold))
    style = _style_for(style, script)
    if script.cjk or script.rtl:  # e.g. an English reference in an Arabic leaflet: LTR, right-aligned
        markup = _with_fallback_markup(markup, style.fontName)
    return Paragraph(markup, style)


def _has_rtl(text: str) -> bool:
    """Text with no right-to-left letter reads left to right, even on a right-to-left page."""
    return any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in text)

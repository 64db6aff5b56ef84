"""Strip TrueType hinting from vendored fonts: run once when a font is vendored.

PDF viewers and printers rasterise at high resolution and do not need hinting, but ReportLab copies it
into every embedded subset (the fpgm, prep and cvt tables, and each glyph's instructions): for Noto Sans
that was about a third of every PDF, for NanumGothic more than half. Every glyph, its outline, metrics,
cmap, names and layout tables are kept (glyph ids too), so only the hinting goes.

    pip install fonttools
    python tools/unhint_fonts.py src/leafgen/text/fonts/NotoSans-Regular.ttf ...     # in place

A font whose licence reserves its names for the unmodified font (SIL OFL 1.1 with Reserved Font Names,
condition 3) must be renamed when modified: `--rename` writes the unhinted font to a new file under a new
family name, keeping the copyright, designer and licence records and saying in the description what it
was derived from.

    python tools/unhint_fonts.py --rename "Leafgen Gothic KR" --upem 256 \\
        --out fonts/LeafgenGothicKR-Regular.ttf /usr/share/fonts/truetype/nanum/NanumGothic.ttf

`--upem 256` (with --rename only: it changes the outlines' precision, so it is a modification) rescales the
em to 256 units, as Droid Sans Fallback is drawn: a point moves by at most 1/512 em (0.008 mm at 12 pt, a
fifth of a 600 dpi printer dot), and more of the outline's steps fit in one byte. NanumGothic's Hangul
glyphs are drawn whole, about 200 bytes each; at 256 units they cost 13% less.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont
from fontTools.ttLib.scaleUpem import scale_upem

HINTING_TABLES = ("fpgm", "prep", "cvt ", "hdmx", "VDMX", "LTSH")
OFL = "This Font Software is licensed under the SIL Open Font License, Version 1.1."
OFL_URL = "https://openfontlicense.org"
# name IDs that carry the font's name (family, unique id, full name, PostScript name, typographic family,
# WWS family, variations prefix); trademark (7) and the CID findfont name (20) name the original too.
NAMING = (1, 3, 4, 6, 16, 18, 21, 25)
DROPPED = (7, 20)


def unhint(src: Path, dest: Path) -> tuple[int, int]:
    """Write src without hinting to dest (may be the same file); returns the sizes before and after."""
    before = src.stat().st_size
    font = _unhinted(src)
    font.save(dest)
    return before, dest.stat().st_size


def _unhinted(path: Path) -> TTFont:
    opts = subset.Options()
    opts.hinting = False
    opts.glyph_names = opts.legacy_kern = opts.notdef_outline = opts.name_legacy = True
    opts.name_IDs, opts.name_languages, opts.layout_features = ["*"], ["*"], ["*"]
    opts.drop_tables = []  # keep every other table (the subsetter still drops what it cannot subset: VTT sources)
    opts.retain_gids = True
    opts.recalc_bounds = opts.recalc_timestamp = opts.prune_unicode_ranges = opts.canonical_order = False
    font = TTFont(path, recalcBBoxes=False, recalcTimestamp=False)
    subsetter = subset.Subsetter(opts)
    subsetter.populate(glyphs=font.getGlyphOrder(), unicodes=font.getBestCmap().keys())
    subsetter.subset(font)
    left = [tag for tag in HINTING_TABLES if tag in font]
    if left:
        raise SystemExit(f"{path}: hinting tables left: {', '.join(left)}")
    return font


def rename(font: TTFont, family: str, origin: str, upem: int | None = None) -> None:
    """Give a modified font a new family name in every language, keeping credits and licence."""
    name = font["name"]
    style = name.getDebugName(2) or "Regular"
    full = family if style == "Regular" else f"{family} {style}"
    postscript = f"{family.replace(' ', '')}-{style.replace(' ', '')}"
    version = name.getDebugName(5) or ""
    values = {
        1: family,
        3: f"{version.removeprefix('Version ').split(';')[0]};leafgen;{postscript}",
        4: full,
        6: postscript,
        16: family,
        18: full,
        21: family,
        25: postscript,
    }
    kept = []
    for record in name.names:
        if record.nameID in DROPPED:
            continue
        if record.nameID in NAMING:
            record.string = values[record.nameID]
        kept.append(record)
    name.names = kept
    rescaled = f" and its em rescaled to {upem} units" if upem else ""
    note = (
        f"{family} is {origin} with its TrueType hinting removed{rescaled} (tools/unhint_fonts.py in leafgen), "
        "renamed as the SIL Open Font License requires of a modified font whose names are reserved. " + OFL
    )
    for record in [r for r in name.names if r.nameID == 0]:  # one description and licence per platform
        name.setName(note, 10, record.platformID, record.platEncID, record.langID)
        name.setName(OFL, 13, record.platformID, record.platEncID, record.langID)
        name.setName(OFL_URL, 14, record.platformID, record.platEncID, record.langID)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("fonts", nargs="+", type=Path)
    ap.add_argument("--rename", metavar="FAMILY", help="new family name (write to --out, one font at a time)")
    ap.add_argument("--out", type=Path, help="with --rename: the file to write")
    ap.add_argument("--upem", type=int, help="with --rename: rescale the em to this many units (256)")
    args = ap.parse_args(argv)
    if args.upem and not args.rename:
        ap.error("--upem changes the outlines: it needs --rename")
    if args.rename:
        if len(args.fonts) != 1 or not args.out:
            ap.error("--rename takes one font and --out")
        [src] = args.fonts
        font = _unhinted(src)
        origin = font["name"].getDebugName(4) or src.stem
        version = font["name"].getDebugName(5) or ""
        rename(font, args.rename, f"{origin} {version.split(';')[0].removeprefix('Version ')}".strip(), args.upem)
        if args.upem:
            scale_upem(font, args.upem)
        font.save(args.out)
        print(f"{src} -> {args.out}: {src.stat().st_size} -> {args.out.stat().st_size} bytes")
        return 0
    for path in args.fonts:
        before, after = unhint(path, path)
        print(f"{path}: {before} -> {after} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

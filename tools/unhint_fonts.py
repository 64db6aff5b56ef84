"""Strip TrueType hinting from vendored fonts, in place: run once when a font is vendored.

PDF viewers and printers rasterise at high resolution and do not need hinting, but ReportLab copies it
into every embedded subset (the fpgm, prep and cvt tables, and each glyph's instructions): for Noto Sans
that was about a third of every PDF. Every glyph, its outline, metrics, cmap, names and layout tables are
kept (glyph ids too), so only the hinting goes.

    pip install fonttools
    python tools/unhint_fonts.py src/leafgen/text/fonts/NotoSans-Regular.ttf ...
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

HINTING_TABLES = ("fpgm", "prep", "cvt ", "hdmx", "VDMX", "LTSH")


def unhint(path: Path) -> tuple[int, int]:
    """Rewrite one font without hinting; returns its size before and after."""
    before = path.stat().st_size
    opts = subset.Options()
    opts.hinting = False
    opts.glyph_names = opts.legacy_kern = opts.notdef_outline = opts.name_legacy = True
    opts.name_IDs, opts.name_languages, opts.layout_features = ["*"], ["*"], ["*"]
    opts.drop_tables = []  # keep every other table
    opts.retain_gids = True
    opts.recalc_bounds = opts.recalc_timestamp = opts.prune_unicode_ranges = opts.canonical_order = False
    font = TTFont(path, recalcBBoxes=False, recalcTimestamp=False)
    subsetter = subset.Subsetter(opts)
    subsetter.populate(glyphs=font.getGlyphOrder(), unicodes=font.getBestCmap().keys())
    subsetter.subset(font)
    left = [tag for tag in HINTING_TABLES if tag in font]
    if left:
        raise SystemExit(f"{path}: hinting tables left: {', '.join(left)}")
    font.save(path)
    return before, path.stat().st_size


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    for name in argv:
        before, after = unhint(Path(name))
        print(f"{name}: {before} -> {after} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

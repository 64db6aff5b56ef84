"""Stage 3, text: the script table, fonts and glyph coverage, font fallback, right-to-left lines, paragraphs."""

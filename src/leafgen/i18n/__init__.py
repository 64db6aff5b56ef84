"""Stage 2, i18n: catalogs and the translation gate, extraction, status and checks."""

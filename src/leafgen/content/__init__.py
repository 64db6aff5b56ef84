"""Stage 1, content: leaflet sources with line numbers, schema validation, the model, readability."""

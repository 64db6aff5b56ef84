"""Read YAML files (leaflets, disclaimer, clinic profile, theme) keeping each value's line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from leafgen.content import characters
from leafgen.errors import SourceError

# Far beyond any leaflet (the shipped ones are under 20 KB, their longest paragraph under 1,000 characters),
# and small enough that rendering stays within seconds: layout time grows faster than the text.
MAX_FILE_BYTES = 256 * 1024
MAX_TEXT_CHARS = 5_000


class LStr(str):
    """A string that remembers the source line it came from."""

    line: int = 0


class LDict(dict):
    """A mapping that remembers its own line, each key's line, and each plain scalar value as written."""

    line: int = 0
    key_lines: dict[str, int]
    raw: dict[str, str]  # `version: 1.10` is the text "1.10", though YAML reads the float 1.1


class LList(list):
    """A sequence that remembers its line and each plain scalar item as written (`- yes` was "yes")."""

    line: int = 0
    raw: list[str | None]
    lines: list[int]  # each item's line: a boolean or number item cannot carry its own


def _raw(node: yaml.Node) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _scalar(node: yaml.Node, loader: Any) -> Any:
    line = node.start_mark.line + 1
    try:
        value = loader.construct_object(node, deep=True)
    except (ValueError, OverflowError) as e:  # `published: 2026-13-45`: the date constructor itself fails
        raise SourceError(
            f"{node.value!r} is not a valid date or number ({e}); quote it if it is text", loader.name, line
        ) from None
    if isinstance(value, str):
        if len(value) > MAX_TEXT_CHARS:
            raise SourceError(
                f"text of {len(value):,} characters is far beyond any leaflet paragraph "
                f"(limit {MAX_TEXT_CHARS:,}): split it",
                loader.name,
                line,
            )
        bad = characters.first_forbidden(value)
        if bad >= 0:  # written as an escape ("\a", "\u202e"): the raw file had no such character
            raise SourceError(characters.message(value[bad], "(written as an escape)"), loader.name, line)
        value = LStr(value)
        value.line = line
    return value


def _convert(node: yaml.Node, loader: Any, seen: set[int]) -> Any:
    if id(node) in seen:  # the composer shares one node per anchor: a repeat is an alias (refused before, too)
        raise SourceError("YAML aliases are not allowed: write the text out", loader.name, node.start_mark.line + 1)
    seen.add(id(node))
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = LDict()
        out.line, out.key_lines, out.raw = line, {}, {}
        for knode, vnode in node.value:
            key = _scalar(knode, loader) if isinstance(knode, yaml.ScalarNode) else None
            if not isinstance(key, str):
                text = knode.value if isinstance(knode, yaml.ScalarNode) else "a list or mapping"
                raise SourceError(f"key {text!r} is not text", loader.name, knode.start_mark.line + 1)
            key = str(key)
            if key in out:
                raise SourceError(f"duplicate key {key!r}", loader.name, knode.start_mark.line + 1)
            out[key] = _convert(vnode, loader, seen)
            out.key_lines[key] = knode.start_mark.line + 1
            raw = _raw(vnode)
            if raw is not None:
                out.raw[key] = raw
        return out
    if isinstance(node, yaml.SequenceNode):
        seq = LList(_convert(n, loader, seen) for n in node.value)
        seq.line, seq.raw = line, [_raw(n) for n in node.value]
        seq.lines = [n.start_mark.line + 1 for n in node.value]
        return seq
    return _scalar(node, loader)


# libyaml's scanner is several times faster than PyYAML's pure-Python one and keeps the marks.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

COLON_HINT = "; if a text contains ': ' or starts with a symbol, put the whole text in quotes"


def _refuse_anchors(text: str, path: Path) -> None:
    """An editor never needs anchors or aliases, and nested aliases expand to gigabytes (a 'billion laughs')."""
    if "&" not in text and "*" not in text:  # the common case: no token scan at all
        return
    loader = _Loader(text)
    try:
        while not loader.check_token(yaml.StreamEndToken):
            token = loader.get_token()
            if isinstance(token, (yaml.AnchorToken, yaml.AliasToken)):
                sign = "&" if isinstance(token, yaml.AnchorToken) else "*"
                raise SourceError(
                    f"YAML anchors and aliases ({sign}{token.value}) are not allowed: write the text out"
                    " (a text starting with & or * needs quotes)",
                    path,
                    token.start_mark.line + 1,
                )
    except yaml.YAMLError:
        return  # the real parse below reports the syntax error with its line
    finally:
        loader.dispose()


def read_text(path: Path) -> str:
    """A source file's text: UTF-8, of a sane size, holding no character that would print wrong."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SourceError(
                f"file of {size:,} bytes is far beyond any leaflet (limit {MAX_FILE_BYTES:,}): split it", path
            )
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise SourceError("file not found", path) from None
    except IsADirectoryError:
        raise SourceError("is a folder, not a file", path) from None
    except UnicodeDecodeError as e:
        raise SourceError(f"not UTF-8 text ({e.reason} at byte {e.start})", path) from None
    except OSError as e:
        raise SourceError(f"cannot read: {e.strerror}", path) from None
    text = text.removeprefix("\ufeff")  # a byte-order mark from a Windows editor is harmless at the start
    bad = characters.first_forbidden(text)
    if bad >= 0:
        line, col = characters.position(text, bad)
        raise SourceError(characters.message(text[bad], f"at column {col}"), path, line)
    return text


def load_yaml(path: Path, text: str | None = None) -> Any:
    """Parse one YAML file (or its text, already read), turning any syntax error into a one-line path:line message."""
    if text is None:
        text = read_text(path)
    _refuse_anchors(text, path)
    loader = _Loader(text)
    loader.name = str(path)
    try:
        node = loader.get_single_node()
        return None if node is None else _convert(node, loader, set())
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = " ".join(str(e.problem or e.context or "invalid YAML").split())
        hint = COLON_HINT if "mapping values are not allowed" in problem or "found character" in problem else ""
        raise SourceError(f"invalid YAML: {problem}{hint}", path, mark.line + 1 if mark else None) from None
    except yaml.YAMLError as e:
        raise SourceError(f"invalid YAML: {' '.join(str(e).split())}", path) from None
    except RecursionError:
        raise SourceError("invalid YAML: nested too deeply", path) from None
    finally:
        loader.dispose()

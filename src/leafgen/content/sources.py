"""Read YAML files (leaflets, disclaimer, clinic profile, theme) keeping each value's line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from leafgen.errors import SourceError


class LStr(str):
    """A string that remembers the source line it came from."""

    line: int = 0


class LDict(dict):
    """A mapping that remembers its own line and each key's line."""

    line: int = 0
    key_lines: dict[str, int]


class LList(list):
    line: int = 0


def _convert(node: yaml.Node, loader: Any) -> Any:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = LDict()
        out.line, out.key_lines = line, {}
        for knode, vnode in node.value:
            key = loader.construct_object(knode, deep=True)
            if not isinstance(key, str):
                raise SourceError(f"key {key!r} is not text", loader.name, knode.start_mark.line + 1)
            if key in out:
                raise SourceError(f"duplicate key {key!r}", loader.name, knode.start_mark.line + 1)
            out[key] = _convert(vnode, loader)
            out.key_lines[key] = knode.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        seq = LList(_convert(n, loader) for n in node.value)
        seq.line = line
        return seq
    value = loader.construct_object(node, deep=True)
    if isinstance(value, str):
        value = LStr(value)
        value.line = line
    return value


# libyaml's scanner is several times faster than PyYAML's pure-Python one and keeps the marks.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: Path) -> Any:
    """Parse one YAML file, turning any syntax error into a one-line path:line message."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError("file not found", path) from None
    except UnicodeDecodeError as e:
        raise SourceError(f"not UTF-8 text ({e.reason} at byte {e.start})", path) from None
    loader = _Loader(text)
    loader.name = str(path)
    try:
        node = loader.get_single_node()
        return None if node is None else _convert(node, loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = " ".join(str(e.problem or e.context or "invalid YAML").split())
        raise SourceError(f"invalid YAML: {problem}", path, mark.line + 1 if mark else None) from None
    except yaml.YAMLError as e:
        raise SourceError(f"invalid YAML: {' '.join(str(e).split())}", path) from None
    finally:
        loader.dispose()

"""The stage packages import only downward: content → i18n → text → render → build / mail → api → desk → cli."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "leafgen"

# Each stage may import the stages of a lower rank, never its own rank's others or anything above it. text sits
# beside content and i18n (fonts and shaping know nothing of leaflets); build and mail both sit on render and
# do not know each other; the desk is a front end on api, and the CLI starts it.
RANK = {
    "__init__": 0,
    "errors": 0,
    "project": 1,
    "results": 1,
    "content": 2,
    "text": 2,
    "i18n": 3,
    "render": 4,
    "build": 5,
    "mail": 5,
    "api": 6,
    "desk": 7,
    "cli": 8,
    "__main__": 9,
}


def stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports() -> list[tuple[str, str, str]]:
    """(file, importing stage, imported stage) for every leafgen import, function-level ones included."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(("leafgen", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "leafgen":
                if node.module == "leafgen":  # from leafgen import api / __version__
                    targets = [a.name if a.name in RANK else "__init__" for a in node.names]
                else:
                    targets = [stage(node.module)]
            elif isinstance(node, ast.Import):
                targets = [stage(a.name) for a in node.names if a.name.split(".")[0] == "leafgen"]
            else:
                continue
            found += [(str(path.relative_to(PACKAGE)), stage(module), t) for t in targets]
    return found


def test_every_stage_is_ranked() -> None:
    assert {s for _, s, _ in imports()} | {t for _, _, t in imports()} <= set(RANK)


def test_no_module_imports_against_the_flow() -> None:
    against = [f"{path}: {src} imports {dst}" for path, src, dst in imports() if src != dst and RANK[dst] >= RANK[src]]
    assert not against, "\n".join(against)

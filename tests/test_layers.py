"""Imports flow one way: a layer may import only the layers before it in LAYERS.

The order is the one docs/architecture.md draws. Every import counts, including
those inside functions and under TYPE_CHECKING, because each one is a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import woollama

LAYERS = (
    "errors",
    "config",
    "providers",
    "tools",
    "recipes",
    "conversations",
    "routing",
    "observability",
    "surfaces",
    "server",
    "cli",
)
_ANYWHERE = {"", "__main__"}  # the package root (its version) is importable by all


def layer_of(module: str) -> str:
    """`woollama.providers.anthropic.stream` -> `providers`; the root itself -> ''."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imports(path: Path, module: str) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            # `from woollama import x` names a layer, or an attribute of the root.
            if target == "woollama":
                found.extend(
                    (node.lineno, f"woollama.{alias.name}")
                    for alias in node.names
                    if alias.name in LAYERS
                )
            else:
                found.append((node.lineno, target))
    return sorted((line, name) for line, name in found if name.split(".")[0] == "woollama")


def violations(root: Path) -> list[str]:
    """Every import in the package at `root` that runs back up (or out of) the layers."""
    rank = {name: i for i, name in enumerate(LAYERS)}
    problems: list[str] = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        module = ".".join(parts)
        own = layer_of(module)
        if own in _ANYWHERE:
            continue
        if own not in rank:
            problems.append(f"{module}: not in any layer; add it to LAYERS and the docs")
            continue
        for line, target in _imports(path, module):
            other = layer_of(target)
            if other in _ANYWHERE:
                continue
            if other not in rank:
                problems.append(f"{path}:{line}: {target} is in no layer")
            elif rank[other] > rank[own]:
                problems.append(f"{path}:{line}: {own} must not import {other} ({target})")
    return problems


def test_imports_flow_one_way_through_the_layers():
    assert violations(Path(woollama.__file__).parent) == []


def test_the_check_fails_on_an_import_that_runs_back_up(tmp_path: Path):
    package = tmp_path / "woollama"
    (package / "providers").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "errors.py").write_text("")
    (package / "providers" / "__init__.py").write_text("")
    (package / "providers" / "bad.py").write_text(
        "from woollama.errors import x\n"
        "def later():\n"
        "    from woollama.routing.router import Router\n"
        "from ..surfaces import http\n"
    )
    found = violations(package)
    assert len(found) == 2
    assert "providers must not import routing (woollama.routing.router)" in found[0]
    assert "providers must not import surfaces (woollama.surfaces)" in found[1]


def test_a_module_outside_every_layer_is_reported(tmp_path: Path):
    package = tmp_path / "woollama"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "stray.py").write_text("")
    assert violations(package) == [
        "woollama.stray: not in any layer; add it to LAYERS and the docs"
    ]

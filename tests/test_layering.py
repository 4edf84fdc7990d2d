"""README "Layering": which subpackage may import which, checked on the source (lazy imports inside functions count)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "sr4det"
SUBPACKAGES = sorted(p.name for p in PKG.iterdir() if (p / "__init__.py").is_file())


def _imports(path: Path) -> set[str]:
    """The sr4det top-level names (subpackage or module) that ``path`` imports anywhere in its body."""
    own = ["sr4det", *path.relative_to(PKG).parts[:-1]]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = own[: len(own) - node.level + 1] if node.level else []
            parts = [*base, *(node.module.split(".") if node.module else [])]
            if parts[:1] != ["sr4det"]:
                continue
            found |= {parts[1]} if len(parts) > 1 else {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("sr4det.")}
    return found


def _uses(package: str) -> dict[str, set[str]]:
    return {str(p.relative_to(PKG)): _imports(p) - {package} for p in (PKG / package).rglob("*.py")}


# degradation/ was the base module degradation.py; it still imports nothing but base modules (checked below), so
# base modules (the shared CLI options in _options.py) may import it
BASE_LAYER_PACKAGES = {"degradation"}


def test_base_modules_import_no_subpackage():
    above = set(SUBPACKAGES) - BASE_LAYER_PACKAGES
    leaks = {p.name: sorted(_imports(p) & above) for p in PKG.glob("*.py") if p.name not in ("__init__.py", "cli.py")}
    assert not {k: v for k, v in leaks.items() if v}, leaks


# the lowest layers: nothing but the base modules (errors, _files, color, resize, ...)
@pytest.mark.parametrize("package", ["degradation", "models", "tiling"])
def test_the_lowest_layers_import_no_subpackage(package):
    leaks = {f: sorted(names & set(SUBPACKAGES)) for f, names in _uses(package).items() if names & set(SUBPACKAGES)}
    assert not leaks, leaks


def test_data_does_not_depend_on_evaluation_detectors_or_higher():
    # materialize's torchrun helpers come from the base module _distributed, not from evaluation
    higher = {"evaluation", "detectors", "hooks", "training", "mos", "commands"}
    leaks = {f: sorted(names & higher) for f, names in _uses("data").items() if names & higher}
    assert not leaks, leaks


def test_only_the_command_line_imports_commands():
    # no exceptions: the options CompareConfig.add_arguments shares with the CLI live in the base module _options
    leaks = sorted(
        f for package in SUBPACKAGES if package != "commands" for f, names in _uses(package).items() if "commands" in names
    )
    assert not leaks, leaks

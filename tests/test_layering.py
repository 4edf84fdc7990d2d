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
    higher = {"evaluation", "detectors", "integrations", "hooks", "training", "mos", "commands"}
    leaks = {f: sorted(names & higher) for f, names in _uses("data").items() if names & higher}
    assert not leaks, leaks


def test_only_the_command_line_imports_commands():
    # no exceptions: the options CompareConfig.add_arguments shares with the CLI live in the base module _options
    leaks = sorted(
        f for package in SUBPACKAGES if package != "commands" for f, names in _uses(package).items() if "commands" in names
    )
    assert not leaks, leaks


def _imported_modules(path: Path) -> set[str]:
    """The full sr4det module names (``sr4det.detectors.base``) that ``path`` imports anywhere in its body."""
    own = ["sr4det", *path.relative_to(PKG).parts[:-1]]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = own[: len(own) - node.level + 1] if node.level else []
            parts = [*base, *(node.module.split(".") if node.module else [])]
            if parts[:1] == ["sr4det"]:
                found.add(".".join(parts))
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("sr4det.")}
    return found


# integrations sit beside detectors: they build on the base modules and these packages, and of detectors only on the
# Detector contract (detectors.base); never on training, evaluation, mos, hooks or commands
INTEGRATION_BASES = {"degradation", "models", "tiling", "transforms", "data", "detectors"}


def test_integrations_build_on_the_layers_below_and_the_detector_contract():
    above = set(SUBPACKAGES) - INTEGRATION_BASES - {"integrations"}
    leaks = {f: sorted(names & above) for f, names in _uses("integrations").items() if names & above}
    assert not leaks, leaks
    detectors = {
        str(p.relative_to(PKG)): sorted(
            m for m in _imported_modules(p) if m.startswith("sr4det.detectors") and m != "sr4det.detectors.base"
        )
        for p in (PKG / "integrations").rglob("*.py")
    }
    assert not {f: m for f, m in detectors.items() if m}, detectors


def test_integrations_import_one_another_not():
    # ultralytics and torchvision are independent: neither subpackage imports the other
    for name, other in (("ultralytics", "torchvision"), ("torchvision", "ultralytics")):
        leaks = sorted(
            str(p.relative_to(PKG))
            for p in (PKG / "integrations" / name).rglob("*.py")
            if any(m.startswith(f"sr4det.integrations.{other}") for m in _imported_modules(p))
        )
        assert not leaks, leaks


# above the integrations only SR training (its frozen training detector and YOLO perceptual loss), the CLI and the
# deprecated alias package hooks import them; everything else reaches a detector through sr4det.detectors
INTEGRATION_USERS = {"training", "commands", "hooks"}
# below them, a module may name an integration only as a string that importlib resolves when used: the detector
# factory (sr4det.detectors' lazy names), the deprecated aliases kept in detectors/, and the dataset factory (a dataset
# YAML name that ultralytics resolves)
NAMED_BY_STRING = {
    "detectors/__init__.py",
    "detectors/offline.py",
    "detectors/recover.py",
    "detectors/trainable.py",
    "data/datasets.py",
}


def test_only_training_the_cli_and_aliases_import_the_integrations():
    base = {p.name: _imports(p) for p in PKG.glob("*.py") if p.name != "__init__.py"}
    leaks = sorted(f for f, names in base.items() if "integrations" in names)
    leaks += sorted(
        f
        for package in set(SUBPACKAGES) - INTEGRATION_USERS - {"integrations"}
        for f, names in _uses(package).items()
        if "integrations" in names
    )
    assert not leaks, leaks


def test_below_the_integrations_only_the_factories_name_them():
    named = sorted(
        str(p.relative_to(PKG))
        for p in PKG.rglob("*.py")
        if p.relative_to(PKG).parts[0] not in INTEGRATION_USERS | {"integrations"}
        and any(
            isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value.startswith("sr4det.integrations")
            for n in ast.walk(ast.parse(p.read_text()))
        )
    )
    assert named == sorted(NAMED_BY_STRING)


DEPRECATED_ALIASES = ["detectors/offline.py", "detectors/recover.py", "detectors/trainable.py", "hooks/__init__.py"]
DEPRECATED_ALIASES += ["hooks/ultralytics.py", "training/detector_losses.py"]


@pytest.mark.parametrize("alias", DEPRECATED_ALIASES)
def test_deprecated_aliases_hold_no_code(alias):
    # a module kept only for a path an earlier release documented re-exports names and defines nothing else
    tree = ast.parse((PKG / alias).read_text())
    defined = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name != "__getattr__"]
    assert not defined, defined
    assert "Deprecated alias" in (ast.get_docstring(tree) or "")


# ------------------------------------------------------------------------------------------ module graph
# Nodes are the modules of sr4det (``sr4det.evaluation.runner``; a package is its ``__init__``). An edge is an
# import anywhere in a module's body (a lazy import inside a function counts: it is how cycles hide), except under
# ``if TYPE_CHECKING:`` (annotations only, never executed).


def _module_name(path: Path) -> str:
    parts = ["sr4det", *path.relative_to(PKG).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PKG.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` outside ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)
            else:
                stack.append(child)


def _resolve(name: str) -> str | None:
    """The sr4det module ``name`` is (or is in: ``sr4det.a.b.X`` -> ``sr4det.a.b``), or None outside sr4det."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _module_imports(path: Path) -> list[tuple[str, str]]:
    """(imported module, imported name or "") of every runtime import of ``path`` inside sr4det."""
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out: list[tuple[str, str]] = []
    for node in _runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            if not module.startswith("sr4det"):
                continue
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                out.append((sub, "") if sub in MODULES else (module, alias.name))
        elif isinstance(node, ast.Import):
            out += [(a.name, "") for a in node.names if a.name.startswith("sr4det")]
    return out


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        targets = {_resolve(module) for module, _ in _module_imports(path)}
        graph[name] = {t for t in targets if t is not None and t != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_anywhere_in_sr4det():
    """No two modules import each other, directly or through others (a package counts as its ``__init__``, which
    its own modules must therefore not import: ``from . import x`` in ``pkg/y.py`` is an import of ``pkg.x`` only)."""
    import sys

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    assert _cycles(_graph()) == []


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_private_name_is_imported_across_packages():
    """A private name (``_x``, or anything from a private module ``_x.py``) is used only inside the package that
    defines it. The top-level ``sr4det/_*.py`` modules (``_files``, ``_progress``, ``_run_folder``, ...) are the
    package-internal helpers of sr4det itself, so every subpackage of sr4det may import them; a private module or
    name inside a subpackage (``evaluation/_cost.py``, ``tiling._device``) stays inside that subpackage."""
    leaks = []
    for name, path in MODULES.items():
        own = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for module, attr in _module_imports(path):
            target = _resolve(module)
            if target is None:
                continue
            home = target if MODULES[target].name == "__init__.py" else target.rpartition(".")[0]
            private_module = any(_private(part) for part in target.split(".")[1:])
            if home == "sr4det" and not _private(attr):
                continue  # a top-level helper module of sr4det: shared by all of sr4det
            if (private_module or _private(attr)) and not (own == home or own.startswith(home + ".")):
                leaks.append(f"{name} imports {module}{'.' + attr if attr else ''}")
    assert leaks == [], leaks

"""Weights are declared on the cards: ``list_models(pretrained=True)``, the shipped folder matches the declarations,
and the zoo modules are layered without an import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sr4det
from sr4det.models import get_card, list_models
from sr4det.models.weights import SHIPPED_DIR, shipped_weights


def test_list_models_pretrained_lists_models_with_declared_weights():
    pretrained = list_models(pretrained=True)
    for name in ("espcn", "srresnet", "rfdn_det", "imdn"):  # shipped (first three) and published (imdn)
        assert name in pretrained
    for name in ("rrdbnet", "fsrcnn_s", "bicubic"):  # an architecture without weights; interpolation has none
        assert name in list_models()
        assert name not in pretrained
    assert pretrained == sorted(pretrained)
    assert set(pretrained) == {n for n in list_models() if get_card(n).shipped or get_card(n).published}


def test_list_models_pretrained_with_pattern():
    assert list_models("rfdn*", pretrained=True) == ["rfdn", "rfdn_det", "rfdn_real"]


def test_pretrained_scales_union_of_shipped_and_published():
    assert get_card("espcn").pretrained_scales == (2, 4)
    assert get_card("edsr").pretrained_scales == (2, 3, 4)
    assert get_card("rrdbnet").pretrained_scales == ()


def test_every_declared_shipped_file_exists_and_every_shipped_file_is_declared():
    declared: dict[str, tuple[str, int]] = {}
    for name in list_models():
        card = get_card(name)
        for scale, filename in card.shipped.items():
            assert scale in card.scales, f"{name} declares shipped x{scale} but supports {card.scales}"
            assert filename not in declared, f"{filename} declared by both {declared[filename]} and {(name, scale)}"
            declared[filename] = (name, scale)
            assert (SHIPPED_DIR / filename).is_file(), f"{name} x{scale} declares {filename}, missing from {SHIPPED_DIR}"
            assert shipped_weights(card, scale) == SHIPPED_DIR / filename
    on_disk = {p.name for p in SHIPPED_DIR.iterdir() if p.is_file()}
    assert on_disk == set(declared), f"undeclared: {sorted(on_disk - set(declared))}"


def test_shipped_weights_reads_the_declaration_not_the_file_name(monkeypatch):
    card = get_card("espcn")
    assert shipped_weights(card, 3) is None  # no x3 declared
    renamed = card.replace(shipped={4: "srcnn_x4.pt"})  # the declaration, not "<name>_x<scale>.pt", decides
    assert shipped_weights(renamed, 4) == SHIPPED_DIR / "srcnn_x4.pt"
    assert shipped_weights(card.replace(shipped={4: "absent.pt"}), 4) is None


@pytest.mark.parametrize("name", ["espcn", "rfdn_det"])
def test_pretrained_loads_the_declared_file(name):
    model = sr4det.create_model(name, 4, pretrained=True)
    assert model.card.weights_source == "sr4det (shipped)"


def _module_level_imports(path: Path) -> set[str]:
    """Sibling modules of sr4det.models imported at module level (outside functions and TYPE_CHECKING blocks)."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.level == 1:
            found.update(alias.name for alias in node.names)
    return found


def test_zoo_layers_have_no_import_cycle():
    folder = Path(sr4det.models.__file__).parent
    graph = {p.stem: _module_level_imports(p) for p in folder.glob("*.py") if p.stem != "__init__"}
    assert "factory" not in graph["registry"] | graph["weights"] | graph["thirdparty"]
    assert not graph["registry"] & {"weights", "thirdparty", "loading", "wrapper"}  # the registry is pure
    assert "registry" not in graph["weights"]

    def reach(start: str, seen: set[str]) -> set[str]:
        for nxt in graph.get(start, ()):
            if nxt in graph and nxt not in seen:
                seen.add(nxt)
                reach(nxt, seen)
        return seen

    cycles = sorted(m for m in graph if m in reach(m, set()))
    assert not cycles, f"import cycle through {cycles}"

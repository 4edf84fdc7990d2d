"""The shared-data rule ($SR4DET_SHARED, else ../shared beside the checkout) lives with its users, not in the library:
eval/_shared.py, pipelines/_shared.py and tests/conftest.py must agree."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from conftest import shared_root as conftest_shared_root  # tests/conftest.py (tests/ is on sys.path)

ROOT = Path(__file__).resolve().parents[1]


def _load(folder: str):
    spec = importlib.util.spec_from_file_location(f"_shared_{folder}", ROOT / folder / "_shared.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("folder", ["eval", "pipelines"])
def test_script_locators_follow_the_tests_rule(folder, tmp_path, monkeypatch):
    module = _load(folder)
    monkeypatch.setenv("SR4DET_SHARED", str(tmp_path))
    assert module.shared_root() == conftest_shared_root() == tmp_path.resolve()
    assert module.shared_path("missing") is None
    (tmp_path / "data").mkdir()
    assert module.shared_path("data") == tmp_path.resolve() / "data"
    monkeypatch.delenv("SR4DET_SHARED")
    assert module.shared_root() == conftest_shared_root() == (ROOT.parent / "shared").resolve()


def test_the_library_locates_the_shared_folder_only_for_published_weights():
    assert not (ROOT / "sr4det" / "_shared.py").exists()
    hits = [p for p in (ROOT / "sr4det").rglob("*.py") if "SR4DET_SHARED" in p.read_text() or "_shared import" in p.read_text()]
    assert hits == [ROOT / "sr4det" / "models" / "weights.py"], hits


def test_the_weights_locator_follows_the_tests_rule(tmp_path, monkeypatch):
    from sr4det.models.weights import shared_state_dict_dir

    monkeypatch.setenv("SR4DET_SHARED", str(tmp_path))
    assert shared_state_dict_dir() is None  # no such folder there
    (tmp_path / "weights" / "sr" / "state_dict").mkdir(parents=True)
    assert shared_state_dict_dir() == conftest_shared_root() / "weights" / "sr" / "state_dict"
    monkeypatch.delenv("SR4DET_SHARED")
    expected = conftest_shared_root() / "weights" / "sr" / "state_dict"
    assert shared_state_dict_dir() == (expected if expected.is_dir() else None)

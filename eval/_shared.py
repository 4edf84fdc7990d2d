"""Where the read-only real data lives, for the scripts in this folder (run as ``python eval/SCRIPT.py``, so this
folder is on ``sys.path``): the one locator in ``pipelines/_shared.py``, loaded from there rather than copied.
The library itself never looks for this folder (tests/test_shared_locator.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "_pipelines_shared", Path(__file__).resolve().parents[1] / "pipelines" / "_shared.py"
)
assert _spec is not None and _spec.loader is not None
_locator = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_locator)

REPO_ROOT: Path = _locator.REPO_ROOT
shared_root = _locator.shared_root
shared_path = _locator.shared_path

"""The repository's own checks, run by the test command: ruff lint, ruff format and mypy (versions pinned in the
``dev`` extra, configuration in pyproject.toml). Skipped with a reason only when the tool is not installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return found


@pytest.mark.parametrize(
    "name,args",
    [("ruff", ["check", "."]), ("ruff", ["format", "--check", "."]), ("mypy", [])],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_tool_is_clean(name, args):
    proc = subprocess.run([_tool(name), *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{name} {' '.join(args)}:\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}"

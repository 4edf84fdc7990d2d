"""Every ```python block of README.md runs as written from the repo root (each block on its own, in a fresh process).

Blocks are run in a scratch copy of the repo root (its top-level entries linked, ``../shared`` linked next to it), so
relative paths resolve as they do for a user while files a snippet writes stay out of the worktree. A block is
skipped only when a ``../shared`` file it names is missing on this machine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SR4DET_SHARED") or ROOT.parent / "shared")
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
_SHARED_PATH = re.compile(r"""["'](\.\./shared/[^"']+)["']""")


def readme_blocks() -> list[tuple[int, str]]:
    text = (ROOT / "README.md").read_text()
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in _BLOCK.finditer(text)]


def test_readme_has_python_blocks():
    assert len(readme_blocks()) >= 4


@pytest.mark.parametrize("line,code", readme_blocks(), ids=[f"line{line}" for line, _ in readme_blocks()])
def test_readme_block_runs(line, code, tmp_path):
    missing = [p for p in _SHARED_PATH.findall(code) if not (SHARED / p[len("../shared/") :]).exists()]
    if missing:
        pytest.skip(f"README block at line {line} needs {missing[0]}, not on this machine")
    repo = tmp_path / "repo"
    repo.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in (".git", ".venv"):
            (repo / entry.name).symlink_to(entry)
    (tmp_path / "shared").symlink_to(SHARED.resolve())
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", "SR4DET_PROGRESS": "none"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"README block at line {line} failed:\n{code}\n--- stderr ---\n{proc.stderr[-3000:]}"

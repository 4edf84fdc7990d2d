"""Where the read-only real data lives: ``$SR4DET_SHARED`` if set, else ``../shared`` beside the checkout.

For the scripts in this folder (run as ``python pipelines/SCRIPT.py``, so this folder is on ``sys.path``). The library
itself never looks for this folder. pipelines/_shared.py and tests/conftest.py hold the same rule (eval/_shared.py loads the former)
(tests/test_shared_locator.py checks that they agree).
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_root() -> Path:
    """The shared data folder: ``$SR4DET_SHARED`` if set, else ``<repo>/../shared``. May not exist."""
    env = os.environ.get("SR4DET_SHARED")
    return Path(env).expanduser().resolve() if env else (REPO_ROOT.parent / "shared").resolve()


def shared_path(*parts: str) -> Path | None:
    """``shared_root()/parts`` if it exists, else None."""
    path = shared_root().joinpath(*parts)
    return path if path.exists() else None

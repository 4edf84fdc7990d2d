"""Locating the read-only real-data folder (``$SR4DET_SHARED``, default ``../shared`` beside the checkout)."""

from __future__ import annotations

import os
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_root() -> Path:
    """The shared data folder: ``$SR4DET_SHARED`` if set, else ``<repo>/../shared``. May not exist."""
    env = os.environ.get("SR4DET_SHARED")
    return Path(env).expanduser().resolve() if env else (_REPO_ROOT.parent / "shared").resolve()


def shared_path(*parts: str) -> Path | None:
    """``shared_root()/parts`` if it exists, else None."""
    path = shared_root().joinpath(*parts)
    return path if path.exists() else None

"""``__version__`` of sr4det, read from the package metadata (the one place the version is written is
pyproject.toml); a base module, so that modules inside sr4det read it without importing the package ``sr4det``."""

from __future__ import annotations


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sr4det")
    except PackageNotFoundError:  # a source tree on sys.path without `pip install`
        return "0+unknown"


__version__ = _version()

"""Deprecated alias of :mod:`sr4det.integrations.ultralytics.offline` (the offline ultralytics set-up, see there for
what :func:`configure_ultralytics` does) and of :func:`sr4det._files.sr4det_offline`, kept because earlier releases
documented ``sr4det.detectors.offline``; import from :mod:`sr4det.integrations.ultralytics.offline`. Reached by module
name, so ``sr4det.detectors`` imports no integration (``tests/test_layering.py``); nothing is imported or warned until a
name is used.
"""

from __future__ import annotations

from typing import Any

from .._files import sr4det_offline as sr4det_offline  # a base module: imported as it is

_TARGET = "sr4det.integrations.ultralytics.offline"

_NAMES = (
    "configure_ultralytics",
    "default_config_dir",
    "import_ultralytics",
)
__all__ = [*_NAMES, "sr4det_offline"]  # resolved by __getattr__ below


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        import importlib

        return getattr(importlib.import_module(_TARGET), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

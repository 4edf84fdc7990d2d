"""Deprecated alias of :mod:`sr4det.integrations.ultralytics.recover`, kept because earlier releases documented
``sr4det.detectors.recover``; import from :mod:`sr4det.integrations.ultralytics.recover`. Reached by module name, so
``sr4det.detectors`` imports no integration (``tests/test_layering.py``); nothing is imported or warned until a
name is used."""

from __future__ import annotations

from typing import Any

_TARGET = "sr4det.integrations.ultralytics.recover"

_NAMES = (
    "calibrate_batchnorm",
    "load_trainable_pt",
    "save_yolo_checkpoint",
    "trainable_yolo",
    "trainable_yolo_from_openvino",
    "yolo_from_openvino",
)
__all__ = list(_NAMES)  # resolved by __getattr__ below


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        import importlib

        return getattr(importlib.import_module(_TARGET), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

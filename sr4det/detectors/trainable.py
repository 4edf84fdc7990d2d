"""Deprecated alias of :mod:`sr4det.integrations.ultralytics.trainable`, kept because earlier releases documented
``sr4det.detectors.trainable``; import from :mod:`sr4det.integrations.ultralytics.trainable`. Reached by module name, so
``sr4det.detectors`` imports no integration (``tests/test_layering.py``); nothing is imported or warned until a
name is used."""

from __future__ import annotations

from typing import Any

_TARGET = "sr4det.integrations.ultralytics.trainable"

_NAMES = (
    "load_trainable_pt",
    "save_yolo_checkpoint",
    "trainable_class_names",
    "trainable_yolo",
    "trainable_yolo_from_openvino",
)
__all__ = list(_NAMES)  # resolved by __getattr__ below


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        import importlib

        return getattr(importlib.import_module(_TARGET), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

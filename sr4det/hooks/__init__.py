"""Detector-training hooks: ultralytics callbacks (:func:`attach`), SR dataset copies (:func:`materialize`) and
writable ultralytics datasets for read-only YOLO / COCO data (:func:`yolo_dataset`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_LAZY = {
    "attach": ("sr4det.hooks.ultralytics", "attach"),
    "SRHook": ("sr4det.hooks.ultralytics", "SRHook"),
    "materialize": ("sr4det.hooks.materialize", "materialize"),
    "yolo_dataset": ("sr4det.hooks.yolo_data", "yolo_dataset"),
}

if TYPE_CHECKING:
    from .materialize import materialize
    from .ultralytics import SRHook, attach
    from .yolo_data import yolo_dataset


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'sr4det.hooks' has no attribute {name!r}")


__all__ = ["SRHook", "attach", "materialize", "yolo_dataset"]

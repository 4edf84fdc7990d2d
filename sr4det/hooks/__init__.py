"""Detector-training hooks: ultralytics callbacks (:func:`attach`) and writable ultralytics datasets for read-only
YOLO / COCO data (:func:`yolo_dataset`). SR dataset copies are :func:`sr4det.data.materialize.materialize`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_LAZY = {
    "attach": ("sr4det.hooks.ultralytics", "attach"),
    "SRHook": ("sr4det.hooks.ultralytics", "SRHook"),
    "yolo_dataset": ("sr4det.hooks.yolo_data", "yolo_dataset"),
}

if TYPE_CHECKING:
    from .ultralytics import SRHook, attach
    from .yolo_data import yolo_dataset


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'sr4det.hooks' has no attribute {name!r}")


__all__ = ["SRHook", "attach", "yolo_dataset"]

"""Deprecated alias package: the ultralytics training hooks and writable YOLO datasets live in
:mod:`sr4det.integrations.ultralytics` (:func:`~sr4det.integrations.ultralytics.attach`,
:class:`~sr4det.integrations.ultralytics.SRHook`, :func:`~sr4det.integrations.ultralytics.yolo_dataset`).
``sr4det.hooks`` and ``sr4det.hooks.ultralytics`` stay because earlier releases documented them; neither warns, and
this package imports nothing until a name is used. SR dataset copies are :func:`sr4det.data.materialize.materialize`."""

from __future__ import annotations

from typing import Any

_LAZY = {
    "attach": "sr4det.integrations.ultralytics.hooks",
    "SRHook": "sr4det.integrations.ultralytics.hooks",
    "yolo_dataset": "sr4det.integrations.ultralytics.yolo_data",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sr4det.hooks' has no attribute {name!r}")


__all__ = ["SRHook", "attach", "yolo_dataset"]

"""Detector-training hooks: ultralytics callbacks (:func:`attach`) and SR dataset copies (:func:`materialize`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_LAZY = {
    "attach": ("sr4det.hooks.ultralytics", "attach"),
    "SRHook": ("sr4det.hooks.ultralytics", "SRHook"),
    "materialize": ("sr4det.hooks.materialize", "materialize"),
}

if TYPE_CHECKING:
    from .materialize import materialize
    from .ultralytics import SRHook, attach


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'sr4det.hooks' has no attribute {name!r}")


__all__ = ["SRHook", "attach", "materialize"]

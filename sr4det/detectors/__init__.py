"""Detector adapters behind one contract (:class:`Detector` -> :class:`Detections`).

Adapters load lazily so ``import sr4det.detectors`` does not import ultralytics or torchvision models::

    from sr4det.detectors import UltralyticsDetector, TorchvisionDetector, SRDetector, SlicedDetector
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Detections, Detector

_LAZY = {
    "UltralyticsDetector": ("sr4det.detectors.ultralytics", "UltralyticsDetector"),
    "TorchvisionDetector": ("sr4det.detectors.torchvision", "TorchvisionDetector"),
    "SRDetector": ("sr4det.detectors.sr", "SRDetector"),
    "SlicedDetector": ("sr4det.detectors.sliced", "SlicedDetector"),
    "SRSlicedDetector": ("sr4det.detectors.sr_sliced", "SRSlicedDetector"),
    "configure_ultralytics": ("sr4det.detectors.offline", "configure_ultralytics"),
}

if TYPE_CHECKING:
    from .offline import configure_ultralytics
    from .sliced import SlicedDetector
    from .sr import SRDetector
    from .sr_sliced import SRSlicedDetector
    from .torchvision import TorchvisionDetector
    from .ultralytics import UltralyticsDetector


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'sr4det.detectors' has no attribute {name!r}")


__all__ = [
    "Detections",
    "Detector",
    "SRDetector",
    "SRSlicedDetector",
    "SlicedDetector",
    "TorchvisionDetector",
    "UltralyticsDetector",
    "configure_ultralytics",
]

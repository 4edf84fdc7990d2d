"""Detectors behind one contract (:class:`Detector` -> :class:`Detections`), and the adapters built on it.

What lives here: :mod:`.base` (the :class:`Detector` protocol, :class:`Detections`, the image-batch check every adapter
uses), the framework-free adapters that wrap any detector - :class:`SRDetector` (:mod:`.sr`: SR, then detect, boxes
mapped back), :class:`SlicedDetector` (:mod:`.sliced`, with SAHI's geometry and merges in :mod:`.slicing`) and
:class:`SRSlicedDetector` (:mod:`.sr_sliced`) - and the lazy factory of the framework adapters, which live in
:mod:`sr4det.integrations`: ``UltralyticsDetector`` (:mod:`sr4det.integrations.ultralytics.detector`),
``TorchvisionDetector`` (:mod:`sr4det.integrations.torchvision.detector`) and ``configure_ultralytics``.

Only :mod:`.base` is imported with the package; every other name loads when first used (the integrations by module
name, so this package imports none of them), so ``import sr4det.detectors`` imports neither ultralytics nor
torchvision's models::

    from sr4det.detectors import UltralyticsDetector, TorchvisionDetector, SRDetector, SlicedDetector

Deprecated aliases, kept because earlier releases documented them: :mod:`sr4det.detectors.offline`,
:mod:`sr4det.detectors.recover` and :mod:`sr4det.detectors.trainable` (now in :mod:`sr4det.integrations.ultralytics`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Detections, Detector

_LAZY = {
    "UltralyticsDetector": ("sr4det.integrations.ultralytics.detector", "UltralyticsDetector"),
    "TorchvisionDetector": ("sr4det.integrations.torchvision.detector", "TorchvisionDetector"),
    "SRDetector": ("sr4det.detectors.sr", "SRDetector"),
    "SlicedDetector": ("sr4det.detectors.sliced", "SlicedDetector"),
    "SRSlicedDetector": ("sr4det.detectors.sr_sliced", "SRSlicedDetector"),
    "configure_ultralytics": ("sr4det.integrations.ultralytics.offline", "configure_ultralytics"),
}

if TYPE_CHECKING:  # the integrations are left out: to the type checker they are Any (see __getattr__)
    from .sliced import SlicedDetector
    from .sr import SRDetector
    from .sr_sliced import SRSlicedDetector


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

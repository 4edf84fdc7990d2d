"""torchvision's detection models behind the :class:`~sr4det.detectors.Detector` contract:

* :mod:`.detector` - :class:`TorchvisionDetector` (Faster R-CNN, RetinaNet, SSD, FCOS; a name with cached weights or a
  local state dict), with their internal resize (``min_size`` / ``max_size``, ``native_size=True``) exposed.

Training torchvision detectors on SR input needs no hook: the transforms in :mod:`sr4det.transforms` are torchvision
v2 transforms (``pipelines/train_torchvision_detector.py``). The name below loads lazily::

    from sr4det.integrations.torchvision import TorchvisionDetector
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .detector import TorchvisionDetector


def __getattr__(name: str) -> Any:
    if name == "TorchvisionDetector":
        from .detector import TorchvisionDetector

        return TorchvisionDetector
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["TorchvisionDetector"]

"""``SRDetector``: super-resolve, then detect; boxes mapped back to the low-resolution frame."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from .base import Detections, Detector, as_rgb_uint8


class SRDetector:
    """A Detector that upscales its input first.

    Args:
        sr: an :class:`~sr4det.transforms.SRTransform`, or anything ``SRTransform`` accepts as ``model``
            (an SRModel, a zoo name, a weight path); then ``tile="auto"``.
        detector: any :class:`~sr4det.detectors.base.Detector`.
        map_back: return boxes in the input (LR) frame (boxes / scale, ``image_size`` = input size); with
            False they stay in the SR frame (``image_size`` = SR size).

    Call with uint8 RGB (H, W, 3) arrays, like every detector; ``names`` are the detector's.
    """

    def __init__(self, sr: Any, detector: Detector, map_back: bool = True):
        from ..transforms import SRTransform

        if not callable(detector) or not hasattr(detector, "names"):
            raise InputError(f"detector must be a Detector (callable with .names), got {type(detector).__name__}")
        self.sr = sr if isinstance(sr, SRTransform) else SRTransform(sr)
        self.detector = detector
        self.map_back = bool(map_back)
        self.names: dict[int, str] = dict(detector.names)

    @property
    def scale(self) -> int:
        return self.sr.scale

    @property
    def config(self) -> dict[str, Any]:
        """Settings of both stages, for recording alongside results."""
        return {
            "type": "sr",
            "sr": {"model": self.sr.model_name, "scale": self.sr.scale, "tile": self.sr.tile},
            "detector": dict(getattr(self.detector, "config", {"type": type(self.detector).__name__})),
            "map_back": self.map_back,
        }

    def __repr__(self) -> str:
        return f"SRDetector({self.sr!r}, {self.detector!r}, map_back={self.map_back})"

    def upscale(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The SR stage alone: uint8 RGB (H, W, 3) arrays -> uint8 RGB (sH, sW, 3) arrays."""
        if isinstance(images, np.ndarray) and images.ndim in (2, 3):
            images = [images]
        return [self.sr(as_rgb_uint8(im, i)) for i, im in enumerate(images)]

    def __call__(self, images: Sequence[np.ndarray]) -> list[Detections]:
        if isinstance(images, np.ndarray) and images.ndim in (2, 3):
            images = [images]
        lr = [as_rgb_uint8(im, i) for i, im in enumerate(images)]
        sr = [self.sr(im) for im in lr]
        dets = self.detector(sr)
        if not self.map_back:
            return dets
        s = self.sr.scale
        return [d.rescaled(1 / s, image_size=tuple(im.shape[:2])) for d, im in zip(dets, lr, strict=True)]

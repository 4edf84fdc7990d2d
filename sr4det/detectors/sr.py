"""``SRDetector``: super-resolve, then detect; boxes mapped back to the low-resolution frame."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._digest import state_digest
from ..errors import InputError
from .base import Detections, Detector, as_rgb_batch


class SRDetector:
    """A Detector that upscales its input first.

    Args:
        sr: an :class:`~sr4det.transforms.SRTransform`, or anything ``SRTransform`` accepts as ``model``
            (an SRModel, a zoo name, a weight path); then ``tile="auto"``.
        detector: any :class:`~sr4det.detectors.base.Detector`.
        map_back: return boxes in the input (LR) frame (boxes / scale, ``image_size`` = input size); with
            False they stay in the SR frame (``image_size`` = SR size).
        imgsz: the detector's input size on the SR images, for detectors with an ``imgsz`` (ultralytics).
            ``"scale"`` (default): the detector's ``imgsz`` times the SR scale, so the SR image is framed as the
            detector would frame the LR image (a static export cannot change its size: it is kept, with a warning
            when its letterbox shrinks the SR image); ``"keep"``: as given; an int: that size.

    Call with uint8 RGB (H, W, 3) arrays, PIL images or paths, like every detector; ``names`` are the
    detector's. When the detector's letterbox would shrink an SR image back (SR side > its ``imgsz``), a
    warning says so once: that part of the SR is thrown away.
    """

    def __init__(self, sr: Any, detector: Detector, map_back: bool = True, imgsz: str | int = "scale"):
        from ..transforms import SRTransform

        if not callable(detector) or not hasattr(detector, "names"):
            raise InputError(f"detector must be a Detector (callable with .names), got {type(detector).__name__}")
        if imgsz not in ("scale", "keep") and not (isinstance(imgsz, int) and imgsz >= 32):
            raise InputError(f"imgsz must be 'scale', 'keep' or an int >= 32, got {imgsz!r}")
        self.sr = sr if isinstance(sr, SRTransform) else SRTransform(sr)
        self.map_back = bool(map_back)
        self.imgsz_mode = imgsz
        self.detector = self._sized(detector, imgsz)
        self.names: dict[int, str] = dict(detector.names)
        #: True once the letterbox shrink was reported (see :meth:`detect_sr`)
        self.shrink_warned = False

    def _sized(self, detector: Detector, imgsz: str | int) -> Detector:
        if imgsz == "keep" or not (hasattr(detector, "imgsz") and hasattr(detector, "with_imgsz")):
            return detector
        if imgsz == "scale":
            if getattr(detector, "fixed_imgsz", None) is not None:
                return detector  # a static export: the warning at call time tells what it costs
            return detector.with_imgsz(int(detector.imgsz) * self.scale)
        return detector.with_imgsz(int(imgsz))

    @property
    def scale(self) -> int:
        return self.sr.scale

    @property
    def detector_imgsz(self) -> int | None:
        """The size the detector letterboxes the SR images to (None: the detector has no ``imgsz``)."""
        fixed = getattr(self.detector, "fixed_imgsz", None) if hasattr(self.detector, "with_imgsz") else None
        size = fixed if fixed is not None else getattr(self.detector, "imgsz", None)
        return None if size is None else int(size)

    @property
    def config(self) -> dict[str, Any]:
        """Settings of both stages, for recording alongside results."""
        return {
            "type": "sr",
            # the weights' digest: two SR models of one name (checkpoints of a training run) are different detectors
            "sr": sr_stage_config(self.sr),
            "detector": dict(getattr(self.detector, "config", {"type": type(self.detector).__name__})),
            "map_back": self.map_back,
            "imgsz": self.imgsz_mode,
        }

    def __repr__(self) -> str:
        return f"SRDetector({self.sr!r}, {self.detector!r}, map_back={self.map_back})"

    def upscale(self, images: Sequence[Any]) -> list[np.ndarray]:
        """The SR stage alone: uint8 RGB (H, W, 3) arrays, PIL images or paths -> uint8 RGB (sH, sW, 3) arrays."""
        return [self.sr(im) for im in as_rgb_batch(images)]

    def shrink_note(self, sr_side: int) -> str | None:
        """What the detector's letterbox does to an SR image whose longer side is ``sr_side`` px: a sentence, or None
        when it does not shrink it (or the detector has no ``imgsz``)."""
        size = self.detector_imgsz
        if size is None or sr_side <= size:
            return None
        fixed = getattr(self.detector, "fixed_imgsz", None) is not None
        return (
            f"the detector letterboxes its input to imgsz {size}{' (a static export)' if fixed else ''}, so an "
            f"x{self.scale} SR image of side {sr_side} px is shrunk x{sr_side / size:.2f} back down before detection and "
            "that much of the SR is thrown away"
        )

    def detect_sr(self, sr_images: Sequence[np.ndarray]) -> list[Detections]:
        """The detection stage alone, on SR images (boxes in the SR frame); warns once when the letterbox shrinks
        them (unless ``shrink_warned`` is already True: a caller that said so itself)."""
        if not self.shrink_warned and len(sr_images):
            big = max(max(im.shape[:2]) for im in sr_images)
            note = self.shrink_note(big)
            if note is not None:
                self.shrink_warned = True
                warnings.warn(
                    f"{note}; use a detector that takes imgsz >= {big} (a .pt model or an export with dynamic=True; "
                    "SRDetector(imgsz='scale') sets it) or smaller inputs",
                    UserWarning,
                    stacklevel=3,
                )
        return self.detector(sr_images)

    def __call__(self, images: Sequence[Any]) -> list[Detections]:
        lr = as_rgb_batch(images)
        sr = [self.sr(im) for im in lr]
        dets = self.detect_sr(sr)
        if not self.map_back:
            return dets
        s = self.sr.scale
        return [d.rescaled(1 / s, image_size=tuple(im.shape[:2])) for d, im in zip(dets, lr, strict=True)]


def sr_stage_config(sr: Any) -> dict[str, Any]:
    """What decides an :class:`~sr4det.transforms.SRTransform`'s output, for detector configs (and so cache keys):
    model name, scale, tile, the weights' digest (two SR models of one name, e.g. checkpoints of a training run, are
    different detectors) and, for a compiled runtime, ``"runtime": "backend/precision"`` (its outputs differ from
    torch's by up to ~1e-5 in fp32, more in bf16; torch fp32 configs carry no entry, so their keys are unchanged)."""
    model = sr.model
    backend = getattr(model, "backend", "torch")
    return {
        "model": sr.model_name,
        "scale": sr.scale,
        "tile": sr.tile,  # exact bands for local models; a non-local model's seams depend on the tiles
        "weights_digest": state_digest(model),
        **({} if backend == "torch" else {"runtime": f"{backend}/{model.precision}"}),
    }

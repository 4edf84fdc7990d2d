"""``TorchvisionDetector``: torchvision's Faster R-CNN, RetinaNet, SSD and FCOS behind the Detector contract.

These models resize every image internally (``GeneralizedRCNNTransform``: shorter side to ``min_size``, longer
side at most ``max_size``; SSD: a fixed 300x300 or 320x320). That matters here: an SR gain vanishes when the
detector shrinks the upscaled image back. The adapter exposes ``min_size``, ``max_size`` and ``fixed_size``
and offers ``native_size=True`` (run every image at its own resolution).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..._digest import state_digest
from ..._files import sr4det_offline
from ...detectors.base import Detections, as_rgb_batch
from ...errors import DetectorError, InputError, WeightsNotAvailableError

_SKIP_NAMES = {"__background__", "N/A"}


def _coco_names() -> list[str]:
    from torchvision.models import _meta

    return list(_meta._COCO_CATEGORIES)


def _build(name: str, weights: Any, **kwargs: Any) -> tuple[nn.Module, list[str] | None]:
    import torchvision

    try:
        enum = torchvision.models.get_model_weights(name) if weights is not None else None
    except ValueError as exc:
        raise InputError(f"unknown torchvision model {name!r}: {exc}") from None
    w = None
    if enum is not None:
        w = enum.DEFAULT if weights == "DEFAULT" else (enum[weights] if isinstance(weights, str) else weights)
        cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(w.url)
        if sr4det_offline() and not cached.is_file():
            raise WeightsNotAvailableError(
                f"{name} weights {w} are not cached at {cached} and downloads are off (SR4DET_OFFLINE is set)"
            )
    try:
        model = torchvision.models.get_model(name, weights=w, **kwargs)
    except Exception as exc:
        raise DetectorError(f"torchvision could not build {name} (weights={w}): {type(exc).__name__}: {exc}") from exc
    return model, (list(w.meta["categories"]) if w is not None and "categories" in w.meta else None)


class TorchvisionDetector:
    """A torchvision detection model (Faster R-CNN, RetinaNet, SSD, FCOS, Mask R-CNN boxes) as a Detector.

    Args:
        model: a built model (``torchvision.models.detection.*``), or a builder name for
            ``torchvision.models.get_model`` (e.g. ``"fasterrcnn_resnet50_fpn_v2"``) loaded with ``weights``.
        weights: for builder names: ``"DEFAULT"``, a weight enum member name, an enum, or None (random).
        min_size, max_size: override the model's internal resize (shorter side to ``min_size``, longer side
            capped at ``max_size``). Setting either on an SSD (fixed-size resize) switches it to min/max resizing.
        native_size: run each image at its own resolution (no internal up/down-scaling).
        names: class index -> name; default: the weights' categories, else torchvision's COCO list (label
            index = COCO category id, 1-90).
        score_thresh: override the model's post-processing score threshold (use a low value for mAP).
        device: where the model runs (default: CUDA when available, else CPU).
        batch_size: images per forward pass.
        **build_kwargs: passed to ``get_model`` for builder names (e.g. ``weights_backbone=None``).

    Call with a list of uint8 RGB (H, W, 3) arrays; boxes come back xyxy in each image's own pixel frame.
    """

    def __init__(
        self,
        model: nn.Module | str,
        *,
        weights: Any = "DEFAULT",
        min_size: int | None = None,
        max_size: int | None = None,
        native_size: bool = False,
        names: dict[int, str] | None = None,
        score_thresh: float | None = None,
        device: str | torch.device | None = None,
        batch_size: int = 4,
        **build_kwargs: Any,
    ):
        categories = None
        if isinstance(model, str):
            source = model
            model, categories = _build(model, weights, **build_kwargs)
        elif isinstance(model, nn.Module):
            source = type(model).__name__
        else:
            raise InputError(f"model must be a torchvision detection model or a builder name, got {type(model).__name__}")
        if not hasattr(model, "transform") or not hasattr(model.transform, "min_size"):
            raise InputError(f"{source} has no GeneralizedRCNNTransform (.transform); not a torchvision detection model")
        if int(batch_size) < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        self.device = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model = model.to(self.device).eval()
        self.batch_size = int(batch_size)
        self.native_size = bool(native_size)
        if min_size is not None:
            self.min_size = min_size
        if max_size is not None:
            self.max_size = max_size
        if score_thresh is not None:
            self.score_thresh = score_thresh
        if names is None:
            names = {i: n for i, n in enumerate(categories or _coco_names()) if n not in _SKIP_NAMES}
        self.names: dict[int, str] = {int(k): str(v) for k, v in names.items()}
        self._source = source

    # ---- the internal resize, exposed
    @property
    def _transform(self) -> Any:
        """The model's ``GeneralizedRCNNTransform`` (Any: torchvision ships no type information)."""
        return self.model.transform

    @property
    def min_size(self) -> int:
        """Shorter side the model resizes every image to (at inference: ``transform.min_size[-1]``)."""
        return int(self._transform.min_size[-1])

    @min_size.setter
    def min_size(self, value: int) -> None:
        if int(value) < 1:
            raise InputError(f"min_size must be positive, got {value}")
        self._transform.min_size = (int(value),)
        self._transform.fixed_size = None

    @property
    def max_size(self) -> int:
        """Cap on the longer side after the internal resize."""
        return int(self._transform.max_size)

    @max_size.setter
    def max_size(self, value: int) -> None:
        if int(value) < 1:
            raise InputError(f"max_size must be positive, got {value}")
        self._transform.max_size = int(value)
        self._transform.fixed_size = None

    @property
    def fixed_size(self) -> tuple[int, int] | None:
        """SSD-style fixed (W, H) resize, or None when min/max resizing is used."""
        fs = self._transform.fixed_size
        return None if fs is None else tuple(fs)

    @property
    def score_thresh(self) -> float:
        return float(self._score_owner().score_thresh)

    @score_thresh.setter
    def score_thresh(self, value: float) -> None:
        if not 0 <= value <= 1:
            raise InputError(f"score_thresh must lie in [0, 1], got {value}")
        self._score_owner().score_thresh = float(value)

    def _score_owner(self) -> Any:
        # Faster/Mask R-CNN keep it on roi_heads; RetinaNet, FCOS and SSD on the model
        owner = getattr(self.model, "roi_heads", self.model)
        if not hasattr(owner, "score_thresh"):
            raise DetectorError(f"{type(self.model).__name__} has no score_thresh")
        return owner

    @property
    def config(self) -> dict[str, Any]:
        """Settings, for recording alongside results and as the detector's cache identity: the source names only
        the architecture (a built model is its class name), so the weights' digest and the post-processing
        settings are part of it; two fine-tuned models of one class never share cached detections."""
        owner = getattr(self.model, "roi_heads", self.model)
        return {
            "type": "torchvision",
            "model": self._source,
            "weights_digest": state_digest(self.model),
            "min_size": None if self.native_size else self.min_size,
            "max_size": None if self.native_size else self.max_size,
            "fixed_size": None if self.native_size else self.fixed_size,
            "native_size": self.native_size,
            "score_thresh": self.score_thresh,
            "nms_thresh": _number(getattr(owner, "nms_thresh", None)),
            "detections_per_img": _number(getattr(owner, "detections_per_img", None)),
            "topk_candidates": _number(getattr(self.model, "topk_candidates", None)),
            "device": str(self.device),
        }

    def __repr__(self) -> str:
        return f"TorchvisionDetector({self._source!r}, min_size={self.min_size}, max_size={self.max_size}, native_size={self.native_size})"

    def __call__(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect objects in uint8 RGB (H, W, 3) arrays; one :class:`Detections` per image."""
        rgb = as_rgb_batch(images)
        out: list[Detections | None] = [None] * len(rgb)
        if self.native_size:  # one resize setting per size group, so group images by size
            groups: dict[tuple[int, int], list[int]] = defaultdict(list)
            for i, im in enumerate(rgb):
                groups[im.shape[:2]].append(i)
            for (h, w), idx in groups.items():
                with _native(self._transform, h, w):
                    self._run(rgb, idx, out)
        else:
            self._run(rgb, list(range(len(rgb))), out)
        return out  # type: ignore[return-value]

    def _run(self, rgb: list[np.ndarray], idx: list[int], out: list) -> None:
        for start in range(0, len(idx), self.batch_size):
            chunk = idx[start : start + self.batch_size]
            tensors = [torch.from_numpy(rgb[i]).permute(2, 0, 1).to(self.device, torch.float32).div_(255) for i in chunk]
            try:
                with torch.inference_mode():
                    preds = self.model(tensors)
            except Exception as exc:
                raise DetectorError(f"{self!r} failed: {type(exc).__name__}: {exc}") from exc
            for i, p in zip(chunk, preds, strict=True):
                out[i] = Detections(
                    boxes=p["boxes"].float().cpu().numpy(),
                    scores=p["scores"].float().cpu().numpy(),
                    labels=p["labels"].cpu().numpy(),
                    names=dict(self.names),
                    image_size=tuple(rgb[i].shape[:2]),
                )


def _number(value: Any) -> float | int | None:
    """A post-processing setting as a JSON number (None when the model has no such setting)."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class _native:
    """Temporarily make a GeneralizedRCNNTransform keep an (h, w) image at its size (scale factor exactly 1)."""

    def __init__(self, transform: Any, h: int, w: int):
        self.t, self.h, self.w = transform, h, w

    def __enter__(self) -> None:
        self.saved = (self.t.min_size, self.t.max_size, self.t.fixed_size)
        self.t.min_size, self.t.max_size, self.t.fixed_size = (min(self.h, self.w),), max(self.h, self.w), None

    def __exit__(self, *exc: Any) -> None:
        self.t.min_size, self.t.max_size, self.t.fixed_size = self.saved

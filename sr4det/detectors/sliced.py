"""``SlicedDetector``: run any Detector on overlapping slices of each image (SAHI's sliced inference), optionally on the
whole image too, map the boxes back to the image and merge them. Geometry and merging: :mod:`.slicing`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from .base import Detections, Detector, as_rgb_batch
from .slicing import DEFAULT_MERGE, Merge, _check_geometry, slice_windows

#: one crop's detections in the frame it was cut from: boxes float32 (N, 4) xyxy, scores float32 (N,), labels int64 (N,)
_Found = tuple[np.ndarray, np.ndarray, np.ndarray]


class SlicedDetector:
    """A Detector that detects on overlapping ``slice`` x ``slice`` windows of each image and merges the boxes.

    Args:
        detector: any :class:`~sr4det.detectors.base.Detector` (e.g. an ``UltralyticsDetector`` at imgsz 640: each
            slice is then seen at its native resolution).
        slice: window side in pixels (SAHI's ``slice_height`` = ``slice_width``).
        overlap: overlap of neighbouring windows as a fraction of ``slice`` (SAHI's ``overlap_*_ratio``).
        merge: a :class:`~sr4det.detectors.slicing.Merge` or its spec (``"nms"``, ``"greedynmm:ios:0.5"``, ...); the
            default :data:`~sr4det.detectors.slicing.DEFAULT_MERGE` (class-aware NMS, IoU 0.5) keeps AP at low
            confidence, SAHI's own default (``greedynmm:ios:0.5``) does not (see :mod:`.slicing`).
        full_image: also detect on the whole image (SAHI's ``perform_standard_pred``): finds objects larger than a
            slice. Skipped for images that fit one slice (the slice *is* the whole image).
        batch: slices per detector call (slices of several images are batched together).

    Returns per image :class:`Detections` in that image's own pixel frame, by descending score (an image that is one
    crop gets the detector's own detections, unmerged); ``names`` are the detector's. ``config`` records everything that changes the boxes (not ``batch``).
    """

    def __init__(
        self,
        detector: Detector,
        slice: int = 640,
        overlap: float = 0.2,
        merge: Merge | str = DEFAULT_MERGE,
        full_image: bool = True,
        batch: int = 8,
    ):
        if not callable(detector) or not hasattr(detector, "names"):
            raise InputError(f"detector must be a Detector (callable with .names), got {type(detector).__name__}")
        _check_geometry(slice, overlap)
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise InputError(f"batch must be a positive number of slices per detector call, got {batch!r}")
        self.detector = detector
        self.slice = int(slice)
        self.overlap = float(overlap)
        self.merge = Merge.parse(merge)
        self.full_image = bool(full_image)
        self.batch = batch
        self.names: dict[int, str] = dict(detector.names)

    @property
    def config(self) -> dict[str, Any]:
        """The settings that decide the boxes, for recording alongside results (and cache keys)."""
        return {
            "type": "sliced",
            "slice": self.slice,
            "overlap": self.overlap,
            "merge": str(self.merge),
            "full_image": self.full_image,
            "detector": dict(getattr(self.detector, "config", {"type": type(self.detector).__name__})),
        }

    def __repr__(self) -> str:
        return (
            f"SlicedDetector({self.detector!r}, slice={self.slice}, overlap={self.overlap:g}, merge={str(self.merge)!r}, "
            f"full_image={self.full_image})"
        )

    def windows(self, height: int, width: int) -> np.ndarray:
        """The slice windows of a ``height`` x ``width`` image: int64 (S, 4) ``x1, y1, x2, y2``."""
        return slice_windows(height, width, self.slice, self.overlap)

    def detect_crops(self, crops: Sequence[np.ndarray], offsets: Sequence[tuple[int, int]]) -> list[_Found]:
        """Run the detector on ``crops`` (uint8 (h, w, 3) arrays) in batches of :attr:`batch`; each crop's boxes shifted
        by its ``(x, y)`` offset into the frame it was cut from. Returns one (boxes float32 (N, 4), scores, labels)
        per crop."""
        out: list[_Found] = []
        for start in range(0, len(crops), self.batch):
            part = [np.ascontiguousarray(c) for c in crops[start : start + self.batch]]
            dets = self.detector(part)
            if len(dets) != len(part):
                raise InputError(
                    f"the detector returned {len(dets)} results for {len(part)} slices; a Detector returns one per image"
                )
            for (x, y), d in zip(offsets[start : start + self.batch], dets, strict=True):
                shift = np.array([x, y, x, y], dtype=np.float32)
                out.append((d.boxes + shift, d.scores, d.labels))
        return out

    def merged(self, found: Sequence[_Found], image_size: tuple[int, int]) -> Detections:
        """The merged :class:`Detections` of one image from its crops' boxes (one crop: unmerged, the detector's own)."""
        boxes = np.concatenate([p[0] for p in found]) if found else np.zeros((0, 4), np.float32)
        scores = np.concatenate([p[1] for p in found]) if found else np.zeros(0, np.float32)
        labels = np.concatenate([p[2] for p in found]) if found else np.zeros(0, np.int64)
        # one crop (an image within one slice, no extra whole-image pass): the detector's own output, unmerged
        b, s, c = self.merge(boxes, scores, labels) if len(found) > 1 else (boxes, scores, labels)
        return Detections(b, s, c, dict(self.names), (int(image_size[0]), int(image_size[1])))

    def __call__(self, images: Sequence[Any]) -> list[Detections]:
        arrays = as_rgb_batch(images)
        # every (image, window) crop; the whole image is one more "window" when asked for and not already one slice
        jobs: list[tuple[int, np.ndarray]] = []
        for i, im in enumerate(arrays):
            h, w = im.shape[:2]
            wins = self.windows(h, w)
            jobs.extend((i, win) for win in wins)
            if self.full_image and len(wins) > 1:
                jobs.append((i, np.array([0, 0, w, h], dtype=np.int64)))
        found: list[list[_Found]] = [[] for _ in arrays]
        # whole images and slices go to the detector in separate calls: a detector letterboxes a batch to one size
        for whole in (False, True):
            group = [(i, win) for i, win in jobs if _is_whole(win, arrays[i]) == whole]
            crops = [arrays[i][y1:y2, x1:x2] for i, (x1, y1, x2, y2) in group]
            results = self.detect_crops(crops, [(int(win[0]), int(win[1])) for _, win in group])
            for (i, _), r in zip(group, results, strict=True):
                found[i].append(r)
        return [self.merged(f, im.shape[:2]) for im, f in zip(arrays, found, strict=True)]


def _is_whole(win: np.ndarray, image: np.ndarray) -> bool:
    h, w = image.shape[:2]
    return bool(win[0] == 0 and win[1] == 0 and win[2] == w and win[3] == h)

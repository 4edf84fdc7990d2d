"""The detector contract: what every adapter returns, and explicit mapping between pixel frames."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass
class Detections:
    """Detections of one image.

    Attributes:
        boxes: float32 (N, 4), absolute ``x1, y1, x2, y2`` in the pixel frame of the image that was given.
        scores: float32 (N,), confidence in [0, 1].
        labels: int64 (N,), class indices in the detector's own class space (see ``names``).
        names: class index -> class name of the detector.
        image_size: (height, width) of the frame the boxes are in.
    """

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    names: dict[int, str] = field(default_factory=dict)
    image_size: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        n = len(self.boxes)
        if len(self.scores) != n or len(self.labels) != n:
            raise ValueError(f"boxes ({n}), scores ({len(self.scores)}) and labels ({len(self.labels)}) differ in length")

    def __len__(self) -> int:
        return len(self.boxes)

    def rescaled(self, factor_x: float, factor_y: float | None = None, image_size: tuple[int, int] | None = None) -> Detections:
        """Boxes multiplied by ``factor`` (x and y), e.g. 1/scale to map SR-frame boxes back to the LR frame."""
        fy = factor_x if factor_y is None else factor_y
        boxes = self.boxes * np.array([factor_x, fy, factor_x, fy], dtype=np.float32)
        size = image_size or (round(self.image_size[0] * fy), round(self.image_size[1] * factor_x))
        return Detections(boxes, self.scores.copy(), self.labels.copy(), dict(self.names), size)


@runtime_checkable
class Detector(Protocol):
    """Anything that turns images into :class:`Detections`.

    ``images``: a sequence of uint8 RGB arrays, shape (H, W, 3). Returns one ``Detections`` per image,
    boxes in that image's own pixel frame.
    """

    names: dict[int, str]

    def __call__(self, images: Sequence[np.ndarray]) -> list[Detections]: ...

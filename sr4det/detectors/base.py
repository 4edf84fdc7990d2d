"""The detector contract: what every adapter returns, and explicit mapping between pixel frames."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import InputError


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


def as_rgb_uint8(image: Any, index: int = 0) -> np.ndarray:
    """Check one detector input and return it as a contiguous uint8 (H, W, 3) RGB array.

    Accepts uint8 (H, W, 3); gray (H, W) / (H, W, 1) is replicated to 3 channels and RGBA (H, W, 4) loses
    its alpha. Anything else raises :class:`InputError`.
    """
    if not isinstance(image, np.ndarray):
        raise InputError(f"image {index}: expected a numpy uint8 (H, W, 3) RGB array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InputError(f"image {index}: expected dtype uint8 (0-255), got {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise InputError(f"image {index}: expected shape (H, W, 3) RGB, got {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InputError(f"image {index}: empty image of shape {image.shape}")
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3]
    return np.ascontiguousarray(image)


def as_rgb_batch(images: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    """A detector's input (a list of images, or one uint8 array) as checked uint8 (H, W, 3) RGB arrays."""
    if isinstance(images, np.ndarray) and images.ndim in (2, 3) and images.dtype == np.uint8:
        images = [images]
    return [as_rgb_uint8(im, i) for i, im in enumerate(images)]

"""The detector contract: what every adapter returns, and explicit mapping between pixel frames."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..errors import InputError


def label_font_size(height: int, width: int) -> int:
    """Pixel size of the box labels :meth:`Detections.draw` writes on a ``height`` x ``width`` image: 2% of its longer
    side, at least 11 (the labels keep their share of a large image instead of shrinking to specks)."""
    return max(11, round(0.02 * max(height, width)))


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
        self.labels = _integer_labels(self.labels)
        n = len(self.boxes)
        if len(self.scores) != n or len(self.labels) != n:
            raise ValueError(f"boxes ({n}), scores ({len(self.scores)}) and labels ({len(self.labels)}) differ in length")
        _check_detections(self.boxes, self.scores)

    def __len__(self) -> int:
        return len(self.boxes)

    def rescaled(self, factor_x: float, factor_y: float | None = None, image_size: tuple[int, int] | None = None) -> Detections:
        """Boxes multiplied by ``factor`` (x and y), e.g. 1/scale to map SR-frame boxes back to the LR frame."""
        fy = factor_x if factor_y is None else factor_y
        boxes = self.boxes * np.array([factor_x, fy, factor_x, fy], dtype=np.float32)
        size = image_size or (round(self.image_size[0] * fy), round(self.image_size[1] * factor_x))
        return Detections(boxes, self.scores.copy(), self.labels.copy(), dict(self.names), size)

    def filter(self, conf: float = 0.0) -> Detections:
        """The detections with score >= ``conf`` (e.g. a display threshold over mAP-evaluation detections)."""
        keep = self.scores >= conf
        return Detections(self.boxes[keep], self.scores[keep], self.labels[keep], dict(self.names), self.image_size)

    def to_json(self) -> str:
        """The detections as JSON text (as ultralytics' ``Results.to_json``): a list of :meth:`summary`'s dicts."""
        import json

        return json.dumps(self.summary())

    def summary(self) -> list[dict[str, Any]]:
        """One dict per detection: ``box`` (x1, y1, x2, y2 in pixels of ``image_size``), ``score``, ``label``, ``name``."""
        return [
            {
                "box": [round(float(v), 2) for v in b],
                "score": round(float(s), 5),
                "label": int(c),
                "name": self.names.get(int(c), str(c)),
            }
            for b, s, c in zip(self.boxes, self.scores, self.labels, strict=True)
        ]

    def to_yolo(self) -> str:
        """YOLO txt lines ``class cx cy w h conf`` (box normalised by ``image_size``), as ultralytics' ``save_txt``."""
        h, w = self.image_size
        if not h or not w:
            raise ValueError("to_yolo needs image_size (height, width) to normalise the boxes")
        lines = []
        for (x1, y1, x2, y2), s, c in zip(self.boxes, self.scores, self.labels, strict=True):
            lines.append(
                f"{int(c)} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f} {s:.5f}"
            )
        return "".join(line + "\n" for line in lines)

    def draw(self, image: Any, *, conf: float = 0.0, line_width: int | None = None, labels: bool = True) -> np.ndarray:
        """A copy of ``image`` (uint8 RGB array, PIL image or path; the frame the boxes are in) with the boxes drawn.

        One colour per class, ``name score`` above each box (``labels=False``: boxes only); detections below ``conf``
        are left out. Returns a uint8 (H, W, 3) RGB array; see :meth:`plot` for a matplotlib figure.
        """
        from PIL import Image, ImageDraw, ImageFont

        arr = as_rgb_uint8(image)
        h, w = arr.shape[:2]
        if self.image_size not in ((0, 0), (h, w)):
            raise InputError(
                f"the boxes are in a {self.image_size[0]}x{self.image_size[1]} frame, the image is {h}x{w}; "
                f"draw them on the image they were detected in (or rescale them with .rescaled())"
            )
        pil = Image.fromarray(arr)
        pen = ImageDraw.Draw(pil)
        lw = line_width or max(1, round(max(h, w) / 400))
        try:
            font = ImageFont.load_default(size=label_font_size(h, w))
        except TypeError:  # Pillow < 10.1: one fixed-size bitmap font
            font = ImageFont.load_default()
        order = np.argsort(self.scores)  # the most confident last, on top
        for i in order:
            if self.scores[i] < conf:
                continue
            x1, y1, x2, y2 = (float(v) for v in self.boxes[i])
            color = _color(int(self.labels[i]))
            pen.rectangle([x1, y1, x2, y2], outline=color, width=lw)
            if labels:
                text = f"{self.names.get(int(self.labels[i]), self.labels[i])} {self.scores[i]:.2f}"
                tx1, ty1, tx2, ty2 = pen.textbbox((0, 0), text, font=font)
                tw, th = tx2 - tx1, ty2 - ty1
                top = y1 - th - 2 if y1 - th - 2 >= 0 else y1
                pen.rectangle([x1, top, x1 + tw + 4, top + th + 2], fill=color)
                pen.text((x1 + 2, top - ty1 + 1), text, fill=(255, 255, 255), font=font)
        return np.asarray(pil)

    def plot(self, image: Any, *, conf: float = 0.0, ax: Any = None, **kw: Any) -> Any:
        """Show :meth:`draw`'s picture on a matplotlib axes (a new figure when ``ax`` is None); returns the axes."""
        import matplotlib.pyplot as plt

        drawn = self.draw(image, conf=conf, **kw)
        if ax is None:
            _, ax = plt.subplots(figsize=(8, 8 * drawn.shape[0] / drawn.shape[1]))
        ax.imshow(drawn)
        ax.set_axis_off()
        ax.set_title(f"{int((self.scores >= conf).sum())} detections (conf >= {conf:g})")
        return ax


#: scores may overshoot [0, 1] and boxes have a negative extent by this much (float rounding) and still count as valid
_TOLERANCE = 1e-3


def _integer_labels(labels: Any) -> np.ndarray:
    """int64 (N,) class indices; fractional values are refused (a cast would silently truncate 0.7 to class 0)."""
    raw = np.asarray(labels).reshape(-1)
    if raw.dtype.kind == "f" and raw.size and not bool(np.all(np.isfinite(raw) & (raw == np.round(raw)))):
        raise InputError(
            f"detection labels must be integer class indices, got {raw[:5].tolist()}; pass the detector's class index "
            "per box (e.g. labels.round().astype(int) if they are integral floats), not scores or probabilities"
        )
    return raw.astype(np.int64)


def _check_detections(boxes: np.ndarray, scores: np.ndarray) -> None:
    """Refuse detections that COCO evaluation would score silently wrong: NaN/Inf (pycocotools matches a NaN box to
    every object), scores that are not confidences, boxes that are not x1, y1, x2, y2."""
    if not (bool(np.isfinite(boxes).all()) and bool(np.isfinite(scores).all())):
        bad = int((~np.isfinite(boxes)).any(axis=1).sum() + (~np.isfinite(scores)).sum())
        raise InputError(
            f"{bad} detection(s) have NaN/Inf boxes or scores; drop them before building Detections "
            "(e.g. keep = np.isfinite(boxes).all(1) & np.isfinite(scores)); pycocotools would count a NaN box as a match"
        )
    if scores.size and (float(scores.min()) < -_TOLERANCE or float(scores.max()) > 1 + _TOLERANCE):
        raise InputError(
            f"detection scores must be confidences in [0, 1], got [{float(scores.min()):.4g}, {float(scores.max()):.4g}]; "
            "apply the sigmoid/softmax to logits (conf thresholds and the examples figure read scores as confidences)"
        )
    if boxes.size:
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        wrong = (w < -_TOLERANCE) | (h < -_TOLERANCE)
        if wrong.any():
            i = int(np.argmax(wrong))
            raise InputError(
                f"{int(wrong.sum())} detection box(es) have x2 < x1 or y2 < y1, e.g. {boxes[i].tolist()}; Detections "
                "boxes are absolute x1, y1, x2, y2: convert xywh / cxcywh with "
                "torchvision.ops.box_convert(boxes, 'xywh', 'xyxy') (normalised boxes: multiply by the image size too)"
            )


_PALETTE = [
    (255, 56, 56),
    (255, 157, 151),
    (255, 112, 31),
    (255, 178, 29),
    (207, 210, 49),
    (72, 249, 10),
    (146, 204, 23),
    (61, 219, 134),
    (26, 147, 52),
    (0, 212, 187),
    (44, 153, 168),
    (0, 194, 255),
    (52, 69, 147),
    (100, 115, 255),
    (0, 24, 236),
    (132, 56, 255),
    (82, 0, 133),
    (203, 56, 255),
    (255, 149, 200),
    (255, 55, 199),
]


def _color(label: int) -> tuple[int, int, int]:
    return _PALETTE[label % len(_PALETTE)]


@runtime_checkable
class Detector(Protocol):
    """Anything that turns images into :class:`Detections`.

    ``images``: a sequence of uint8 RGB arrays, shape (H, W, 3) (sr4det's adapters also take PIL images and paths,
    see :func:`as_rgb_batch`). Returns one ``Detections`` per image, boxes in that image's own pixel frame.
    """

    names: dict[int, str]

    def __call__(self, images: Sequence[np.ndarray]) -> list[Detections]: ...


def as_rgb_uint8(image: Any, index: int = 0) -> np.ndarray:
    """Check one detector input and return it as a contiguous uint8 (H, W, 3) RGB array.

    Accepts uint8 (H, W, 3); gray (H, W) / (H, W, 1) is replicated to 3 channels and RGBA (H, W, 4) loses
    its alpha. A PIL image is converted to RGB; a path (``str`` or ``Path``) is read with
    :func:`sr4det.data.io.read_image` (EXIF orientation applied, 16-bit rounded to 8). Anything else raises
    :class:`InputError`.
    """
    if isinstance(image, (str, Path)):
        from ..data.io import read_image, to_rgb8

        return to_rgb8(read_image(image)[0])
    if _is_pil(image):
        image = np.asarray(image.convert("RGB"))
    if not isinstance(image, np.ndarray):
        raise InputError(
            f"image {index}: expected a uint8 (H, W, 3) RGB array, a PIL image or a path, got {type(image).__name__}"
        )
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


def _is_pil(image: Any) -> bool:
    return type(image).__module__.startswith("PIL.") and hasattr(image, "convert")


def as_rgb_batch(images: Sequence[Any] | Any) -> list[np.ndarray]:
    """A detector's input (a list of images, or one image: uint8 array, PIL image or path) as checked uint8
    (H, W, 3) RGB arrays."""
    if (
        (isinstance(images, np.ndarray) and images.ndim in (2, 3) and images.dtype == np.uint8)
        or isinstance(images, (str, Path))
        or _is_pil(images)
    ):
        images = [images]
    return [as_rgb_uint8(im, i) for i, im in enumerate(images)]

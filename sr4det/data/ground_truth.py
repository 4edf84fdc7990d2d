"""The ground-truth representation every dataset reader produces: :class:`ImageGT` per image, :class:`GroundTruth`
per dataset.

Boxes are absolute ``x1, y1, x2, y2`` float64 in the pixel frame of the (HR) image. :meth:`GroundTruth.mod_crop`
crops every image to a multiple of the SR scale (top-left kept, as the SR literature does) and clips the boxes;
:meth:`GroundTruth.content_hash` identifies the evaluated data (annotations and image bytes, :func:`file_sha256`).
"""

from __future__ import annotations

import hashlib
import json
import numbers
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .._files import sha256_file
from ..errors import DataError, InputError


@dataclass
class ImageGT:
    """Ground truth of one image.

    Attributes:
        id: image id (COCO ``id``; for YOLO data the position in the sorted file list).
        file_name: name relative to the image folder.
        path: absolute path of the image file.
        height, width: image size in pixels (after :meth:`GroundTruth.mod_crop`: the cropped size).
        boxes: float64 (N, 4) absolute ``x1, y1, x2, y2`` in this image's pixel frame.
        category_ids: int64 (N,) dataset category ids.
        iscrowd: uint8 (N,) COCO crowd flags (crowd regions are "ignore" regions in COCO evaluation).
        area: float64 (N,) object area in pixels (COCO: mask area; YOLO: box area); decides small/medium/large.
    """

    id: int
    file_name: str
    path: Path
    height: int
    width: int
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    category_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    iscrowd: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    area: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        self.category_ids = np.asarray(self.category_ids, dtype=np.int64).reshape(-1)
        self.iscrowd = np.asarray(self.iscrowd, dtype=np.uint8).reshape(-1)
        self.area = np.asarray(self.area, dtype=np.float64).reshape(-1)
        n = len(self.boxes)
        if not (len(self.category_ids) == len(self.iscrowd) == len(self.area) == n):
            raise DataError(f"image {self.file_name}: boxes, category_ids, iscrowd and area differ in length")
        if n and not (np.isfinite(self.boxes).all() and np.isfinite(self.area).all()):
            raise DataError(
                f"image {self.file_name}: boxes or areas with NaN/Inf; fix or drop those annotations "
                "(COCO evaluation would match a NaN box to every detection)"
            )
        if n and ((self.boxes[:, 2] < self.boxes[:, 0]) | (self.boxes[:, 3] < self.boxes[:, 1])).any():
            raise DataError(
                f"image {self.file_name}: boxes with x2 < x1 or y2 < y1; ImageGT boxes are absolute x1, y1, x2, y2 "
                "(convert COCO [x, y, width, height] with x2 = x + width, y2 = y + height)"
            )

    def __len__(self) -> int:
        return len(self.boxes)


@dataclass
class GroundTruth:
    """Boxes of a detection dataset in the HR pixel frame, one :class:`ImageGT` per image.

    Attributes:
        images: per image ground truth, in a fixed order (sorted by file name for YOLO, json order for COCO).
        categories: ``{category_id: name}`` of the dataset.
        source: where it was read from (json or yaml path).
        format: ``"coco"`` or ``"yolo"``.
        crop_multiple: the multiple the images were mod-cropped to (1 = not cropped).
        dropped_boxes: number of boxes removed by mod-cropping (they fell entirely into the cropped margin).
    """

    images: list[ImageGT]
    categories: dict[int, str]
    source: str = ""
    format: str = ""
    crop_multiple: int = 1
    dropped_boxes: int = 0

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_boxes(self) -> int:
        return int(sum(len(im) for im in self.images))

    def subset(self, ids: Iterable[int]) -> GroundTruth:
        """The images whose id is in ``ids`` (order kept)."""
        keep = set(int(i) for i in ids)
        return replace(self, images=[im for im in self.images if im.id in keep])

    def head(self, n: int | None) -> GroundTruth:
        """The first ``n`` images (all if ``n`` is None).

        Raises:
            InputError: ``n`` is not a positive integer (0 would leave nothing to evaluate, and a negative ``n`` would
                silently mean "all but the last ``-n``").
        """
        if n is None:
            return self
        check_limit(n)
        return replace(self, images=self.images[: int(n)])

    def mod_crop(self, multiple: int) -> GroundTruth:
        """Crop every image to ``(H - H % m, W - W % m)`` (top-left kept) and clip the boxes to it.

        A clipped box keeps the fraction of its ``area`` that its clipped box keeps; boxes that vanish
        (zero width or height after clipping) are dropped and counted in ``dropped_boxes``. Boxes that reach more than
        0.5 px outside their (uncropped) image are annotation errors: they are clipped the same way, with one warning
        that counts them. Images smaller than
        ``multiple`` (or of unknown size, 0) get size 0, which marks them unusable (the evaluator skips them).
        """
        m = int(multiple)
        if m < 1:
            raise DataError(f"mod-crop multiple must be >= 1, got {multiple}")
        if m == 1:
            return self
        images, dropped = [], 0
        outside: list[tuple[str, int]] = []
        for im in self.images:
            h, w = im.height - im.height % m, im.width - im.width % m
            if h == 0 or w == 0:
                # unreadable (size unknown) or smaller than the scale: size 0 marks it unusable; the runner skips it
                images.append(replace(im, height=0, width=0))
                continue
            n_out = _count_outside(im.boxes, im.height, im.width)
            if n_out:
                outside.append((im.file_name, n_out))
            b = im.boxes.copy()
            b[:, [0, 2]] = b[:, [0, 2]].clip(0, w)
            b[:, [1, 3]] = b[:, [1, 3]].clip(0, h)
            old = _box_area(im.boxes)
            new = _box_area(b)
            keep = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
            dropped += int((~keep).sum())
            ratio = np.divide(new, old, out=np.ones_like(new), where=old > 0)
            images.append(
                replace(
                    im,
                    height=h,
                    width=w,
                    boxes=b[keep],
                    category_ids=im.category_ids[keep],
                    iscrowd=im.iscrowd[keep],
                    area=(im.area * ratio)[keep],
                )
            )
        if outside:
            n = sum(k for _, k in outside)
            examples = ", ".join(f"{name} ({k})" for name, k in outside[:3])
            warnings.warn(
                f"{self.source}: {n} annotated box(es) in {len(outside)} image(s) reach more than {_OUTSIDE_TOL} px outside "
                f"their image, e.g. {examples}; they are clipped to the image (as ultralytics does; boxes left empty are "
                "dropped and counted in dropped_boxes). Check the annotations' image sizes and box coordinates",
                stacklevel=2,
            )
        return replace(self, images=images, crop_multiple=self.crop_multiple * m, dropped_boxes=self.dropped_boxes + dropped)

    def to_coco(self) -> dict[str, Any]:
        """A COCO ground-truth dict (``images``, ``annotations`` with xywh ``bbox``, ``categories``) for pycocotools."""
        images, anns = [], []
        ann_id = 1
        for im in self.images:
            images.append({"id": int(im.id), "file_name": im.file_name, "height": int(im.height), "width": int(im.width)})
            for box, cat, crowd, area in zip(im.boxes, im.category_ids, im.iscrowd, im.area, strict=True):
                x1, y1, x2, y2 = (float(v) for v in box)
                anns.append(
                    {
                        "id": ann_id,
                        "image_id": int(im.id),
                        "category_id": int(cat),
                        "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "area": float(area),
                        "iscrowd": int(crowd),
                    }
                )
                ann_id += 1
        cats = [{"id": int(k), "name": v} for k, v in sorted(self.categories.items())]
        return {"images": images, "annotations": anns, "categories": cats}

    def content_hash(self) -> str:
        """sha256 of the annotations and of every image file's bytes: identifies the evaluated data."""
        h = hashlib.sha256()
        h.update(json.dumps(self.to_coco(), sort_keys=True).encode())
        for im in self.images:
            h.update(im.file_name.encode())
            h.update(file_sha256(im.path).encode() if im.path.is_file() else b"missing")
        return h.hexdigest()


#: boxes may overshoot their image by this many pixels (float rounding in annotation tools) without a warning
_OUTSIDE_TOL = 0.5


def _count_outside(b: np.ndarray, height: int, width: int) -> int:
    """How many boxes (xyxy) reach more than :data:`_OUTSIDE_TOL` px outside a ``height`` x ``width`` image."""
    if not len(b):
        return 0
    t = _OUTSIDE_TOL
    out = (b[:, 0] < -t) | (b[:, 1] < -t) | (b[:, 2] > width + t) | (b[:, 3] > height + t)
    return int(out.sum())


def check_limit(n: Any, what: str = "limit") -> None:
    """Raise :class:`InputError` unless ``n`` (a number of images to keep) is a positive integer."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise InputError(
            f"{what} must be a positive number of images (or None / omitted for all of them), got {n!r}; "
            "a negative value would silently drop images from the end"
        )


def _box_area(b: np.ndarray) -> np.ndarray:
    return (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)


_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes (memoised per path, size and mtime)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _FILE_HASHES:
        _FILE_HASHES[key] = sha256_file(p)
    return _FILE_HASHES[key]


def _check_not_empty(gt: GroundTruth) -> None:
    if not gt.images:
        raise DataError(f"{gt.source}: the dataset has no images")
    if gt.num_boxes == 0:
        raise DataError(f"{gt.source}: the ground truth is empty (no annotations in {len(gt.images)} images); AP is undefined")

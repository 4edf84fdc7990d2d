"""Detection datasets read into one ground-truth representation (:class:`GroundTruth`).

Two converters, one output:

* :func:`load_coco` - a COCO ``instances_*.json`` plus its image folder (boxes ``xywh``, ``iscrowd``, ``area``
  and category ids taken as they are);
* :func:`load_yolo` - an ultralytics dataset YAML with YOLO ``cls cx cy w h`` label files (category id =
  class index, ``iscrowd`` = 0, ``area`` = box area: YOLO labels carry neither crowd flags nor mask areas).

Boxes are absolute ``x1, y1, x2, y2`` float64 in the pixel frame of the (HR) image. :meth:`GroundTruth.mod_crop`
crops every image to a multiple of the SR scale (top-left kept, as the SR literature does) and clips the boxes.
:class:`ClassMap` is the checked mapping detector class index <-> dataset category id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .io import IMAGE_EXTENSIONS

log = logging.getLogger(__name__)


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
        """The first ``n`` images (all if ``n`` is None)."""
        return self if n is None else replace(self, images=self.images[: int(n)])

    def mod_crop(self, multiple: int) -> GroundTruth:
        """Crop every image to ``(H - H % m, W - W % m)`` (top-left kept) and clip the boxes to it.

        A clipped box keeps the fraction of its ``area`` that its clipped box keeps; boxes that vanish
        (zero width or height after clipping) are dropped and counted in ``dropped_boxes``. Images smaller than
        ``multiple`` (or of unknown size, 0) get size 0, which marks them unusable (the evaluator skips them).
        """
        m = int(multiple)
        if m < 1:
            raise DataError(f"mod-crop multiple must be >= 1, got {multiple}")
        if m == 1:
            return self
        images, dropped = [], 0
        for im in self.images:
            h, w = im.height - im.height % m, im.width - im.width % m
            if h == 0 or w == 0:
                # unreadable (size unknown) or smaller than the scale: size 0 marks it unusable; the runner skips it
                images.append(replace(im, height=0, width=0))
                continue
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


def _box_area(b: np.ndarray) -> np.ndarray:
    return (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)


_FILE_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes (memoised per path, size and mtime)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _FILE_HASHES:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _FILE_HASHES[key] = h.hexdigest()
    return _FILE_HASHES[key]


# --------------------------------------------------------------------------------------------- class mapping


def _norm(name: str) -> str:
    return " ".join(str(name).lower().replace("_", " ").replace("-", " ").split())


@dataclass(frozen=True)
class ClassMap:
    """Detector class index <-> dataset category id, checked when built.

    Attributes:
        index_to_category: ``{detector index: category id}``; detector classes without a dataset category
            are absent (their detections are not evaluated and are counted as ``unmapped``).
    """

    index_to_category: Mapping[int, int]

    @property
    def category_to_index(self) -> dict[int, int]:
        return {c: i for i, c in self.index_to_category.items()}

    def map_labels(self, labels: np.ndarray) -> np.ndarray:
        """Category ids of detector labels (int64 (N,)); -1 where a label has no category."""
        lut = self.index_to_category
        return np.array([lut.get(int(v), -1) for v in np.asarray(labels).reshape(-1)], dtype=np.int64)

    @classmethod
    def build(cls, detector_names: Mapping[int, str], gt: GroundTruth, how: str = "names") -> ClassMap:
        """Build and check the mapping.

        Args:
            detector_names: ``{index: name}`` of the detector (``detector.names``).
            gt: the ground truth whose ``categories`` are mapped to.
            how: ``"names"`` (match class names, case/space-insensitive), ``"index"`` (index i -> category id i,
                YOLO data) or ``"sorted"`` (index i -> i-th smallest category id, the classic COCO-80 mapping).

        Raises:
            DataError: a category that occurs in the ground truth has no detector class, or names match ambiguously.
        """
        names = {int(k): str(v) for k, v in dict(detector_names).items()}
        cats = dict(gt.categories)
        if how == "names":
            by_name: dict[str, int] = {}
            for cid, cname in cats.items():
                if _norm(cname) in by_name:
                    raise DataError(f"category name {cname!r} occurs twice in {gt.source}; use class_map='sorted' or 'index'")
                by_name[_norm(cname)] = cid
            mapping = {i: by_name[_norm(n)] for i, n in names.items() if _norm(n) in by_name}
        elif how == "index":
            mapping = {i: i for i in names if i in cats}
        elif how == "sorted":
            ordered = sorted(cats)
            mapping = {i: ordered[i] for i in names if 0 <= i < len(ordered)}
        else:
            raise DataError(f"unknown class mapping {how!r}; use 'names', 'index' or 'sorted'")
        used = {int(c) for im in gt.images for c in im.category_ids}
        missing = sorted(used - set(mapping.values()))
        if missing:
            labels = ", ".join(f"{c} ({cats.get(c, '?')})" for c in missing[:10])
            raise DataError(
                f"{len(missing)} ground-truth categories have no detector class under class_map={how!r}: {labels}; "
                "the detector cannot find them, so the comparison would be meaningless. Check that the detector and "
                "dataset share classes, or choose another class_map"
            )
        if len(set(mapping.values())) != len(mapping):
            raise DataError(f"class_map={how!r} maps several detector classes to one category")
        return cls(dict(sorted(mapping.items())))


# --------------------------------------------------------------------------------------------- COCO json


def _find_image_dir(json_path: Path) -> Path:
    """Guess the image folder of ``root/annotations/instances_<split>.json``: ``root/images/<split>``, ``root/<split>``."""
    split = json_path.stem.split("_", 1)[-1]
    root = json_path.parent.parent if json_path.parent.name == "annotations" else json_path.parent
    for cand in (root / "images" / split, root / split, root / "images", root):
        if cand.is_dir() and any(p.suffix.lower() in IMAGE_EXTENSIONS for p in cand.iterdir()):
            return cand
    raise DataError(f"cannot find the image folder of {json_path}; pass images=PATH")


def load_coco(annotations: str | Path, images: str | Path | None = None) -> GroundTruth:
    """Read a COCO ``instances`` json (and its image folder) into :class:`GroundTruth`.

    Args:
        annotations: the json file.
        images: the image folder (default: guessed, ``root/images/<split>`` or ``root/<split>``).

    Raises:
        DataError: unreadable json, annotations with unknown category or image ids, bad boxes, no annotations.
    """
    path = Path(annotations)
    if not path.is_file():
        raise DataError(f"COCO annotation file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read COCO json {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise DataError(
            f"{path}: the top level is a {type(data).__name__}, not a COCO instances object "
            "{'images': [...], 'annotations': [...], 'categories': [...]} (a results/detections file is not ground truth)"
        )
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DataError(f"{path} is not a COCO instances file: no '{key}' list")
    image_dir = Path(images) if images is not None else _find_image_dir(path)
    if not image_dir.is_dir():
        raise DataError(f"image folder not found: {image_dir}")
    categories: dict[int, str] = {}
    for i, c in enumerate(data["categories"]):
        what = f"{path}: categories[{i}]"
        cid = _coco_int(_coco_field(c, "id", what), f"{what} 'id'")
        if cid in categories:
            raise DataError(f"{path}: category id {cid} is listed twice in 'categories'; ids must be unique")
        categories[cid] = str(c.get("name", cid))
    image_info: list[tuple[int, str, int, int]] = []
    seen: set[int] = set()
    duplicates: set[int] = set()
    for i, im in enumerate(data["images"]):
        what = f"{path}: images[{i}]"
        iid = _coco_int(_coco_field(im, "id", what), f"{what} 'id'")
        what = f"{path}: image id {iid}"
        name = _coco_field(im, "file_name", what)
        if not isinstance(name, str) or not name:
            raise DataError(f"{what}: 'file_name' must be a non-empty string, got {name!r}")
        h = _coco_int(_coco_field(im, "height", what), f"{what} ({name}) 'height'", minimum=1)
        w = _coco_int(_coco_field(im, "width", what), f"{what} ({name}) 'width'", minimum=1)
        (duplicates if iid in seen else seen).add(iid)
        image_info.append((iid, name, h, w))
    if duplicates:
        raise DataError(
            f"{path}: image ids listed more than once in 'images': {sorted(duplicates)[:20]}; each image must appear once "
            "(duplicates would be evaluated twice and inflate the counts)"
        )
    per_image: dict[int, list[tuple[list[float], int, int, float]]] = {}
    bad_cat, bad_img = set(), set()
    for i, ann in enumerate(data["annotations"]):
        what = f"{path}: annotations[{i}]" + (f" (id {ann['id']})" if isinstance(ann, dict) and "id" in ann else "")
        cid = _coco_int(_coco_field(ann, "category_id", what), f"{what} 'category_id'")
        iid = _coco_int(_coco_field(ann, "image_id", what), f"{what} 'image_id'")
        bbox = _coco_field(ann, "bbox", what)
        if (
            not isinstance(bbox, (list, tuple))
            or len(bbox) != 4
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)
        ):
            raise DataError(f"{what}: 'bbox' must be 4 numbers [x, y, width, height], got {bbox!r}")
        if not all(np.isfinite(bbox)) or bbox[2] < 0 or bbox[3] < 0:
            raise DataError(f"{what}: 'bbox' {bbox!r} has negative size or non-finite values")
        area = ann.get("area", float(bbox[2]) * float(bbox[3]))
        if not isinstance(area, (int, float)) or isinstance(area, bool) or not np.isfinite(area) or area < 0:
            raise DataError(f"{what}: 'area' must be a non-negative number, got {area!r}")
        crowd = ann.get("iscrowd", 0)
        if crowd not in (0, 1):
            raise DataError(f"{what}: 'iscrowd' must be 0 or 1, got {crowd!r}")
        if cid not in categories:
            bad_cat.add(cid)
        if iid not in seen:
            bad_img.add(iid)
        per_image.setdefault(iid, []).append(([float(v) for v in bbox], cid, int(crowd), float(area)))
    if bad_cat:
        raise DataError(f"{path}: annotations use category ids not listed in 'categories': {sorted(bad_cat)[:20]}")
    if bad_img:
        raise DataError(f"{path}: annotations refer to image ids not listed in 'images': {sorted(bad_img)[:20]}")
    out = []
    for iid, name, h, w in image_info:
        anns = per_image.get(iid, [])
        xywh = np.array([a[0] for a in anns], dtype=np.float64).reshape(-1, 4)
        boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        out.append(
            ImageGT(
                id=iid,
                file_name=name,
                path=image_dir / name,
                height=h,
                width=w,
                boxes=boxes,
                category_ids=np.array([a[1] for a in anns], dtype=np.int64),
                iscrowd=np.array([a[2] for a in anns], dtype=np.uint8),
                area=np.array([a[3] for a in anns], dtype=np.float64),
            )
        )
    gt = GroundTruth(out, categories, source=str(path), format="coco")
    _check_not_empty(gt)
    return gt


def _coco_field(obj: Any, key: str, what: str) -> Any:
    if not isinstance(obj, dict):
        raise DataError(f"{what} is a {type(obj).__name__}, not an object")
    if key not in obj:
        raise DataError(f"{what} has no {key!r}")
    return obj[key]


def _coco_int(value: Any, what: str, minimum: int | None = None) -> int:
    """An integer field (ints, or floats with no fraction as some writers produce); strings and bools are errors."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (isinstance(value, float) and not value.is_integer()):
        raise DataError(f"{what} must be an integer, got {value!r} ({type(value).__name__}); COCO ids and sizes are numbers")
    if minimum is not None and value < minimum:
        raise DataError(f"{what} must be >= {minimum}, got {value!r}")
    return int(value)


def _check_not_empty(gt: GroundTruth) -> None:
    if not gt.images:
        raise DataError(f"{gt.source}: the dataset has no images")
    if gt.num_boxes == 0:
        raise DataError(f"{gt.source}: the ground truth is empty (no annotations in {len(gt.images)} images); AP is undefined")


# --------------------------------------------------------------------------------------------- ultralytics yaml


def _yaml_names(names: Any) -> dict[int, str]:
    if isinstance(names, Mapping):
        return {int(k): str(v) for k, v in names.items()}
    if isinstance(names, (list, tuple)):
        return {i: str(v) for i, v in enumerate(names)}
    raise DataError(f"dataset yaml 'names' must be a list or a mapping, got {type(names).__name__}")


def _label_path(image: Path) -> Path:
    """ultralytics' rule: the last ``/images/`` in the path becomes ``/labels/``, the suffix ``.txt``."""
    s = str(image)
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    if sa in s:
        head, tail = s.rsplit(sa, 1)
        return Path(head + sb + tail).with_suffix(".txt")
    return image.with_suffix(".txt")


def _image_size(path: Path) -> tuple[int, int] | None:
    """(height, width) from the file header with EXIF orientation applied (as read_image returns the pixels and
    ultralytics sizes its labels), or None when the file cannot be opened."""
    from .io import image_size

    return image_size(path)


def load_yolo(yaml_path: str | Path, split: str = "val") -> GroundTruth:
    """Read an ultralytics dataset YAML (``path``, ``train``/``val``/``test``, ``names``) with YOLO labels.

    The root is ``path`` (absolute, or relative to the yaml's folder) or the yaml's folder itself when absent.
    ``split`` may be a folder, a ``.txt`` list of images or a list of either. Images without a label file are
    background images (no boxes). Polygon labels (segmentation format) become their bounding boxes.

    Raises:
        DataError: unreadable yaml, missing split, class ids outside ``names``, malformed label lines.
    """
    import yaml

    path = Path(yaml_path)
    if not path.is_file():
        raise DataError(f"dataset yaml not found: {path}")
    try:
        cfg = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DataError(f"cannot read dataset yaml {path}: {exc}") from exc
    if "names" not in cfg:
        raise DataError(f"{path} has no 'names'")
    names = _yaml_names(cfg["names"])
    root = Path(cfg["path"]) if cfg.get("path") else path.parent
    if not root.is_absolute():
        root = (path.parent / root) if (path.parent / root).exists() else root.resolve()
    if cfg.get(split) is None:
        raise DataError(f"{path} has no '{split}' split")
    entries = cfg[split] if isinstance(cfg[split], list) else [cfg[split]]
    files: list[Path] = []
    for entry in entries:
        p = Path(entry) if Path(entry).is_absolute() else root / entry
        if p.is_dir():
            files += sorted(q for q in p.rglob("*") if q.suffix.lower() in IMAGE_EXTENSIONS)
        elif p.is_file() and p.suffix == ".txt":
            for line in p.read_text().splitlines():
                if line.strip():
                    q = Path(line.strip())
                    files.append(q if q.is_absolute() else (p.parent / q).resolve())
        else:
            raise DataError(f"{path}: split '{split}' entry {entry!r} is neither a folder nor a .txt list ({p})")
    if not files:
        raise DataError(f"{path}: no images in split '{split}'")
    out = []
    base = os.path.commonpath([str(f.parent) for f in files])
    for i, f in enumerate(files):
        size = _image_size(f)
        h, w = size if size is not None else (0, 0)  # unreadable: the runner skips it with a warning
        boxes, cls = _read_yolo_labels(_label_path(f), w, h, names)
        out.append(
            ImageGT(
                id=i,
                file_name=os.path.relpath(f, base),
                path=f,
                height=h,
                width=w,
                boxes=boxes,
                category_ids=cls,
                iscrowd=np.zeros(len(cls), np.uint8),
                area=_box_area(boxes),
            )
        )
    gt = GroundTruth(out, names, source=str(path), format="yolo")
    _check_not_empty(gt)
    return gt


_YOLO_TOL = 1e-6  # float rounding in label writers (e.g. 1.0000001)


def _read_yolo_labels(label: Path, w: int, h: int, names: Mapping[int, str]) -> tuple[np.ndarray, np.ndarray]:
    if not label.is_file():
        return np.zeros((0, 4)), np.zeros(0, np.int64)
    boxes, cls = [], []
    for n, line in enumerate(label.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        where = f"{label}:{n}"
        try:
            c_float, vals = float(parts[0]), [float(v) for v in parts[1:]]
        except ValueError as exc:
            raise DataError(f"{where}: not a YOLO label line: {line!r}") from exc
        if not c_float.is_integer():  # int(float("0.7")) would silently make it class 0
            raise DataError(
                f"{where}: class id {parts[0]!r} is not an integer; YOLO lines are 'cls cx cy w h' with an integer cls"
            )
        c = int(c_float)
        if c not in names:
            raise DataError(f"{where}: class id {c} is not in the dataset's names (0..{max(names)})")
        if len(vals) != 4 and not (len(vals) >= 6 and len(vals) % 2 == 0):
            raise DataError(f"{where}: expected 'cls cx cy w h' or a polygon, got {len(vals)} values")
        # ultralytics' rule: every coordinate is normalised to [0, 1]; boxes must not be empty
        if not all(math.isfinite(v) and -_YOLO_TOL <= v <= 1 + _YOLO_TOL for v in vals):
            raise DataError(
                f"{where}: coordinates must be normalised to [0, 1] (divide pixel values by the image width/height), got {line!r}"
            )
        if len(vals) == 4:
            cx, cy, bw, bh = vals
            x1, y1, x2, y2 = cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2
        else:  # polygon: x1 y1 x2 y2 ...
            xs, ys = vals[0::2], vals[1::2]
            x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
        if not (x2 > x1 and y2 > y1):
            raise DataError(f"{where}: the box has zero or negative width/height ({line!r}); fix or delete the line")
        boxes.append([x1 * w, y1 * h, x2 * w, y2 * h])
        cls.append(c)
    return np.array(boxes, dtype=np.float64).reshape(-1, 4), np.array(cls, dtype=np.int64)


# --------------------------------------------------------------------------------------------- entry point


def load_dataset(data: str | Path, images: str | Path | None = None, split: str = "val") -> GroundTruth:
    """Read ``data``: a COCO json (``images`` = folder), a dataset YAML, or a folder holding
    ``annotations/instances_*.json`` (preferred: real COCO annotations) or a single ``*.yaml``.

    A YAML name that is not a local file (``"coco128.yaml"``) is resolved - and downloaded if needed -
    by ultralytics' ``check_det_dataset``, unless ``SR4DET_OFFLINE`` is set.
    """
    p = Path(data).expanduser()
    if p.is_dir():
        jsons = sorted((p / "annotations").glob("instances_*.json")) if (p / "annotations").is_dir() else []
        yamls = sorted(p.glob("*.yaml")) + sorted(p.glob("*.yml"))
        if len(jsons) == 1:
            return load_coco(jsons[0], images)
        if len(yamls) == 1:
            return load_yolo(yamls[0], split)
        raise DataError(
            f"{p}: expected one annotations/instances_*.json or one dataset .yaml, found {len(jsons)} and {len(yamls)}"
        )
    if p.suffix.lower() == ".json":
        return load_coco(p, images)
    if p.suffix.lower() in (".yaml", ".yml"):
        if p.is_file():
            return load_yolo(p, split)
        return _ultralytics_dataset(str(data), split)
    raise DataError(f"unsupported dataset {data!r}: give a COCO .json, a dataset .yaml or a folder")


def _ultralytics_dataset(name: str, split: str) -> GroundTruth:
    from .._offline import import_ultralytics, sr4det_offline

    if sr4det_offline():
        raise DataError(f"dataset {name!r} is not a local file and downloads are off (SR4DET_OFFLINE); pass a local path")
    import_ultralytics()
    from ultralytics.data.utils import check_det_dataset

    try:
        info = check_det_dataset(name)  # downloads when needed; returns absolute split paths and names
    except Exception as exc:  # ultralytics raises SyntaxError/FileNotFoundError/ConnectionError for bad or unreachable data
        raise DataError(f"ultralytics cannot resolve dataset {name!r}: {type(exc).__name__}: {exc}") from exc
    if info.get(split) is None:
        raise DataError(f"dataset {name!r} has no '{split}' split")
    import tempfile

    import yaml

    with tempfile.TemporaryDirectory() as tmp:
        entries = info[split] if isinstance(info[split], list) else [info[split]]
        y = Path(tmp) / "data.yaml"
        y.write_text(yaml.safe_dump({"names": dict(_yaml_names(info["names"])), split: [str(e) for e in entries]}))
        gt = load_yolo(y, split)
    return replace(gt, source=name)

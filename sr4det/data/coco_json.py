"""COCO ``instances_*.json`` (plus its image folder) -> :class:`~sr4det.data.ground_truth.GroundTruth`: boxes ``xywh``,
``iscrowd``, ``area`` and category ids taken as they are, every field checked (:func:`load_coco`)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .ground_truth import GroundTruth, ImageGT, _check_not_empty
from .io import IMAGE_EXTENSIONS


def _find_image_dir(json_path: Path) -> Path:
    """Guess the image folder of ``root/annotations/instances_<split>.json``: ``root/images/<split>``, ``root/<split>``."""
    split = json_path.stem.split("_", 1)[-1]
    root = json_path.parent.parent if json_path.parent.name == "annotations" else json_path.parent
    for cand in (root / "images" / split, root / split, root / "images", root):
        if cand.is_dir() and any(p.suffix.lower() in IMAGE_EXTENSIONS for p in cand.iterdir()):
            return cand
    tried = ", ".join(str(c) for c in (root / "images" / split, root / split, root / "images", root))
    raise DataError(
        f"cannot find the image folder of {json_path} (looked for images in {tried}); name it: "
        "`--images DIR` (sr4det compare, pipelines/coco_map_compare.py), `images: DIR` in a YAML config, "
        "or load_coco(json, images=DIR)"
    )


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
        data = json.loads(path.read_text(encoding="utf-8-sig"))  # -sig: a byte-order mark (Windows editors) is skipped
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
    gt = _coco_ground_truth(data, path, image_dir)
    _check_not_empty(gt)
    return gt


#: an object's area (its mask, inside its box) may exceed the box area by this factor (+1 px) for rounding only
AREA_TOLERANCE = 1.05


def _coco_ground_truth(data: dict[str, Any], path: Path, image_dir: Path) -> GroundTruth:
    """The checked ground truth of a parsed COCO instances dict (every field; images and annotations may be empty).
    :func:`load_coco` and :mod:`sr4det.data.materialize` (before any image is processed) read COCO through it."""
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
    bad_area: list[str] = []
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
        box_area = float(bbox[2]) * float(bbox[3])
        if box_area > 0 and (area == 0 or area > box_area * AREA_TOLERANCE + 1):
            bad_area.append(f"{what}: area {area!r}, box {bbox[2]}x{bbox[3]}")
            area = box_area
        per_image.setdefault(iid, []).append(([float(v) for v in bbox], cid, int(crowd), float(area)))
    if bad_area:
        warnings.warn(
            f"{path}: {len(bad_area)} of {len(data['annotations'])} annotations have an 'area' no object in their box "
            f"can have (0, or larger than the box; e.g. {bad_area[0]}); their box area is used instead, as it decides "
            "the small/medium/large APs. Fix 'area' in the json to silence this",
            stacklevel=3,
        )
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
    return GroundTruth(out, categories, source=str(path), format="coco")


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

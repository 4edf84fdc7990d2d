"""VisDrone-DET (``images/*.jpg`` + ``annotations/<stem>.txt``) -> :class:`~sr4det.data.ground_truth.GroundTruth` in
COCO class names (:func:`load_visdrone`).

Each annotation line is ``x,y,w,h,score,category,truncation,occlusion`` (pixels, top-left corner; the official
VisDrone2019-DET format). Categories 1 pedestrian and 2 people become COCO ``person``, 4 car and 5 van ``car``, 3
``bicycle``, 6 ``truck``, 9 ``bus`` and 10 motor ``motorcycle`` (:data:`VISDRONE_TO_COCO`). Ignored regions (score 0 or
category 0) and the categories without a COCO class (7 tricycle, 8 awning-tricycle, 11 others) are *ignore regions*:
COCO crowd boxes (``iscrowd`` 1) repeated once per evaluated category, because VisDrone's ignore regions hold for every
class while COCO's crowd boxes only ignore detections of their own category. A detection inside one is then neither
a true nor a false positive (pycocotools matches detections to crowd boxes by intersection over the detection's area).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from .ground_truth import GroundTruth, ImageGT, _check_not_empty
from .io import IMAGE_EXTENSIONS

#: COCO category id and name of each evaluated class (ids as in COCO's instances json)
COCO_CATEGORIES: dict[int, str] = {1: "person", 2: "bicycle", 3: "car", 4: "motorcycle", 6: "bus", 8: "truck"}

#: VisDrone category -> COCO category id; categories not listed (0 ignored, 7 tricycle, 8 awning-tricycle,
#: 11 others) are ignore regions
VISDRONE_TO_COCO: dict[int, int] = {1: 1, 2: 1, 3: 2, 4: 3, 5: 3, 6: 8, 9: 6, 10: 4}

_FIELDS = 8  # x, y, w, h, score, category, truncation, occlusion


def is_visdrone_folder(path: str | Path) -> bool:
    """True for a folder holding ``annotations/*.txt`` and an ``images`` folder (and no COCO json)."""
    p = Path(path)
    ann = p / "annotations"
    return (p / "images").is_dir() and ann.is_dir() and any(ann.glob("*.txt")) and not any(ann.glob("*.json"))


def load_visdrone(root: str | Path) -> GroundTruth:
    """Read a VisDrone-DET folder (``root/images/*.jpg``, ``root/annotations/<stem>.txt``) into COCO-named ground truth.

    Images are taken in sorted file-name order with ids 1, 2, ...; an image without an annotation file is refused
    (VisDrone writes one per image; a missing one is a copying error, not an empty image).

    Returns:
        A :class:`GroundTruth` with ``format="visdrone"``, ``categories`` = :data:`COCO_CATEGORIES`, boxes xyxy float64
        in image pixels, ``area`` = box area, and the ignore regions as crowd boxes (``iscrowd`` 1) of every category.

    Raises:
        DataError: missing folders or annotation files, a malformed line (names the file and line), an unreadable image.
    """
    from PIL import Image, UnidentifiedImageError

    base = Path(root).expanduser()
    img_dir, ann_dir = base / "images", base / "annotations"
    if not img_dir.is_dir() or not ann_dir.is_dir():
        raise DataError(f"{base} is not a VisDrone-DET folder: it needs images/ and annotations/ (one <stem>.txt per image)")
    files = sorted(p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise DataError(f"{img_dir}: no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    missing = [p.name for p in files if not (ann_dir / f"{p.stem}.txt").is_file()]
    if missing:
        raise DataError(
            f"{ann_dir}: no annotation file for {len(missing)} image(s), e.g. {missing[:3]}; VisDrone has one <stem>.txt "
            "per image (an empty file for an image without objects)"
        )
    images = []
    for i, path in enumerate(files, start=1):
        try:
            with Image.open(path) as im:
                width, height = im.size
        except (OSError, UnidentifiedImageError) as exc:
            raise DataError(f"cannot read image {path}: {exc}") from exc
        boxes, cats, crowd = parse_visdrone_annotations(ann_dir / f"{path.stem}.txt")
        images.append(
            ImageGT(
                id=i,
                file_name=path.name,
                path=path,
                height=height,
                width=width,
                boxes=boxes,
                category_ids=cats,
                iscrowd=crowd,
                area=(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]),
            )
        )
    gt = GroundTruth(images, dict(COCO_CATEGORIES), source=str(base), format="visdrone")
    _check_not_empty(gt)
    return gt


def parse_visdrone_annotations(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One VisDrone annotation file -> (boxes float64 (N, 4) xyxy, COCO category ids int64 (N,), iscrowd uint8 (N,)).

    Objects of a mapped category give one row; an ignore region gives one crowd row per COCO category.

    Raises:
        DataError: a line without 8 comma-separated integers, a negative width or height, a score other than 0/1 or
            a category outside 0-11; the message names the file and line.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read VisDrone annotations {p}: {exc}") from exc
    boxes: list[list[float]] = []
    cats: list[int] = []
    crowd: list[int] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        x, y, w, h, score, cat = _parse_line(line, p, n)
        box = [float(x), float(y), float(x + w), float(y + h)]
        coco = VISDRONE_TO_COCO.get(cat) if score else None
        if coco is None:
            for cid in COCO_CATEGORIES:
                boxes.append(box)
                cats.append(cid)
                crowd.append(1)
        else:
            boxes.append(box)
            cats.append(coco)
            crowd.append(0)
    return (
        np.array(boxes, dtype=np.float64).reshape(-1, 4),
        np.array(cats, dtype=np.int64),
        np.array(crowd, dtype=np.uint8),
    )


def _parse_line(line: str, path: Path, n: int) -> tuple[int, int, int, int, int, int]:
    fields = [f.strip() for f in line.strip().rstrip(",").split(",")]
    where = f"{path}:{n}"
    if len(fields) != _FIELDS:
        raise DataError(
            f"{where}: {len(fields)} field(s) in {line.strip()!r}; a VisDrone-DET line has 8: "
            "x,y,w,h,score,category,truncation,occlusion (pixels, top-left corner)"
        )
    try:
        values = [int(f) for f in fields]
    except ValueError:
        raise DataError(f"{where}: {line.strip()!r} holds a non-integer field; VisDrone-DET fields are integers") from None
    x, y, w, h, score, cat = values[:6]
    if w < 0 or h < 0:
        raise DataError(f"{where}: negative box size w={w}, h={h} in {line.strip()!r}; fields 3 and 4 are width and height")
    if score not in (0, 1):
        raise DataError(f"{where}: score {score} in {line.strip()!r}; ground-truth score is 1 (evaluated) or 0 (ignored)")
    if not 0 <= cat <= 11:
        raise DataError(f"{where}: category {cat} in {line.strip()!r}; VisDrone-DET categories are 0 (ignored) to 11")
    return x, y, w, h, score, cat

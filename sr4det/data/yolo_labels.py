"""An ultralytics dataset YAML with YOLO ``cls cx cy w h`` label files -> :class:`~sr4det.data.ground_truth.GroundTruth`
(:func:`load_yolo`): category id = class index, ``iscrowd`` = 0, ``area`` = box area (YOLO labels carry neither crowd
flags nor mask areas); polygon labels become their bounding boxes. :func:`label_path` is ultralytics' image ->
label path rule (also used by :mod:`sr4det.data.materialize` and :mod:`sr4det.integrations.ultralytics.yolo_data`)."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .._yaml_file import dataset_names, read_dataset_yaml
from ..errors import ConfigError, DataError
from .ground_truth import GroundTruth, ImageGT, _box_area, _check_not_empty
from .io import IMAGE_EXTENSIONS


def label_path(image: Path) -> Path:
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
    background images (no boxes). Polygon labels (segmentation format) become their bounding boxes. Repeated
    identical lines of one label file are removed with one warning for the dataset (as ultralytics does).

    Raises:
        DataError: unreadable yaml, missing split, class ids outside ``names``, malformed label lines.
    """
    path = Path(yaml_path)
    if not path.is_file():
        raise DataError(f"dataset yaml not found: {path}")
    cfg = read_dataset_yaml(path)  # ConfigError (a DataError) with file, line and column
    names = dataset_names(cfg["names"], path)
    root = Path(cfg["path"]) if cfg.get("path") else path.parent
    if not root.is_absolute():
        root = (path.parent / root) if (path.parent / root).exists() else root.resolve()
    if cfg.get(split) is None:
        present = [s for s in ("train", "val", "test") if cfg.get(s)]
        raise ConfigError(f"{path} has no '{split}' split (it has {present or 'none'}); add it, or choose one of those")
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
    if not any(f.is_file() for f in files):
        raise DataError(
            f"{path}: none of the {len(files)} images of split '{split}' exists (e.g. {files[0]}); relative paths in a "
            ".txt list are resolved against the list's folder: fix the paths or the dataset root"
        )
    out: list[ImageGT] = []
    base = os.path.commonpath([str(f.parent) for f in files])
    duplicates: list[tuple[Path, int]] = []
    unreadable: list[Path] = []
    for f in files:
        size = _image_size(f)
        if size is None:  # no size, so its normalised labels have no pixel boxes: left out, counted and named
            unreadable.append(f)
            continue
        h, w = size
        boxes, cls, dup = _read_yolo_labels(label_path(f), w, h, names)
        if dup:
            duplicates.append((label_path(f), dup))
        out.append(
            ImageGT(
                id=len(out),
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
    if duplicates:
        n = sum(d for _, d in duplicates)
        examples = ", ".join(f"{p} ({d})" for p, d in duplicates[:3])
        warnings.warn(
            f"{path}: removed {n} duplicate label line(s) in {len(duplicates)} label file(s), as ultralytics does "
            f"(a repeated box would count as a missed object), e.g. {examples}; delete them from the files to silence this",
            stacklevel=2,
        )
    if unreadable:
        if not out:
            raise DataError(f"{path}: none of the {len(files)} images of split '{split}' can be read (e.g. {unreadable[0]})")
        warnings.warn(
            f"{path}: left out {len(unreadable)} of {len(files)} image(s) of split '{split}' that cannot be read (missing, "
            f"empty or corrupt, e.g. {unreadable[0]}): without their size their labels have no pixel boxes; replace or "
            "remove them",
            stacklevel=2,
        )
    gt = GroundTruth(out, names, source=str(path), format="yolo")
    _check_not_empty(gt)
    return gt


_YOLO_TOL = 1e-6  # float rounding in label writers (e.g. 1.0000001)


def _read_yolo_labels(label: Path, w: int, h: int, names: Mapping[int, str]) -> tuple[np.ndarray, np.ndarray, int]:
    """(boxes xyxy in pixels, class ids, number of duplicate lines removed) of one label file."""
    if not label.is_file():
        return np.zeros((0, 4)), np.zeros(0, np.int64), 0
    try:
        text = label.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{label}: not a UTF-8 text file ({exc.reason} at byte {exc.start}); YOLO label files are plain text lines "
            "'cls cx cy w h': re-save it as UTF-8/ASCII"
        ) from exc
    boxes, cls = [], []
    seen: set[tuple[float, ...]] = set()
    duplicates = 0
    for n, line in enumerate(text.splitlines(), 1):
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
        row = (float(c), *vals)
        if row in seen:  # ultralytics drops repeated label rows too (np.unique over the rows)
            duplicates += 1
            continue
        seen.add(row)
        boxes.append([x1 * w, y1 * h, x2 * w, y2 * h])
        cls.append(c)
    return np.array(boxes, dtype=np.float64).reshape(-1, 4), np.array(cls, dtype=np.int64), duplicates

"""A writable ultralytics dataset (``data.yaml``) for a YOLO dataset or a COCO json, without copying images.

ultralytics' ``train()`` / ``val()`` write ``labels/<split>.cache`` beside the label files, so they cannot run on
a read-only dataset (``../shared``) without either a warning or, as root, a write into it. And a COCO json
(``coco_train160``) has no YOLO label files at all. :func:`yolo_dataset` builds, in a folder of your choice::

    out/images/<split>/<file>   symlinks to the original images (absolute targets)
    out/labels/<split>/<stem>.txt   YOLO labels: copied (YOLO source) or written from the json (COCO source)
    out/data.yaml               absolute ``path: out``, the splits, ``names``

COCO: crowd annotations are left out (ultralytics has no ignore regions), class index = the detector class whose
name matches the category name (``class_map="names"``; ``"sorted"``: the i-th smallest category id, the classic
COCO-80 order), every image becomes both ``train`` and ``val`` (a training split; evaluate elsewhere).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

import yaml

from ..._files import atomic_write
from ..._yaml_file import read_dataset_yaml
from ...data.datasets import ClassMap, GroundTruth, load_coco, load_yolo
from ...data.io import image_size
from ...data.yolo_labels import label_path
from ...errors import ConfigError, DataError, InputError


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(os.path.abspath(target), link)


def _coco_labels(gt: GroundTruth, names: Mapping[int, str], class_map: str, out: Path, split: str) -> None:
    to_index = ClassMap.build(names, gt, class_map).category_to_index
    for im in gt.images:
        if not im.path.is_file() or not im.width or not im.height:
            raise DataError(f"{im.path}: missing or of unknown size")
        size = image_size(im.path)  # header only, EXIF orientation applied as ultralytics does
        if size is not None and size != (im.height, im.width):
            # the labels are normalised by the json's size: for another real size they would land on other pixels
            raise DataError(
                f"{im.path} is {size[1]}x{size[0]} (EXIF orientation applied) but {gt.source} says "
                f"{im.width}x{im.height}; fix the json's width/height (or the image) so its boxes match the pixels"
            )
        rel = Path(im.file_name)
        _link(im.path, out / "images" / split / rel)
        lines = []
        for box, cat, crowd in zip(im.boxes, im.category_ids, im.iscrowd, strict=True):
            if crowd:
                continue
            x1, y1, x2, y2 = (float(v) for v in box)
            x1, x2 = max(0.0, x1), min(float(im.width), x2)
            y1, y2 = max(0.0, y1), min(float(im.height), y2)
            if x2 <= x1 or y2 <= y1:
                continue
            cx, cy = (x1 + x2) / 2 / im.width, (y1 + y2) / 2 / im.height
            lines.append(f"{to_index[int(cat)]} {cx:.6f} {cy:.6f} {(x2 - x1) / im.width:.6f} {(y2 - y1) / im.height:.6f}")
        label = (out / "labels" / split / rel).with_suffix(".txt")
        atomic_write(label, "".join(f"{line}\n" for line in lines))


def yolo_dataset(
    data: str | Path,
    out: str | Path,
    *,
    names: Mapping[int, str] | None = None,
    class_map: str = "names",
    images: str | Path | None = None,
    limit: int | None = None,
) -> Path:
    """Build ``out/data.yaml`` for ultralytics from an ultralytics dataset ``.yaml`` or a COCO instances ``.json``.

    Args:
        data: the source dataset (left untouched: images are linked, labels copied or written under ``out``).
        out: a writable folder (created); existing files of the same names are replaced.
        names: ``{index: class name}`` of the detector to train (COCO: required unless ``class_map="sorted"``,
            then the categories in id order; YOLO: must equal the yaml's names when given).
        class_map: COCO only, ``"names"`` or ``"sorted"`` (see :class:`sr4det.data.datasets.ClassMap`).
        images: COCO only, the image folder (default: guessed from the json's location).
        limit: keep only the first ``limit`` images of each split (tests, quick checks).

    Returns:
        The path of ``out/data.yaml``.

    Raises:
        DataError: unreadable source, categories without a detector class, images missing.
        InputError: an unknown source type, or YOLO ``names`` that differ from the detector's.
    """
    src = Path(data).expanduser()
    out = Path(out).expanduser().resolve()
    if not src.is_file():
        raise DataError(f"dataset not found: {src}")
    out.mkdir(parents=True, exist_ok=True)
    cfg: dict = {"path": str(out)}
    if src.suffix.lower() == ".json":
        gt = load_coco(src, images).head(limit)
        if names is None:
            if class_map != "sorted":
                raise InputError("a COCO json needs the detector's names=... (or class_map='sorted')")
            names = {i: gt.categories[c] for i, c in enumerate(sorted(gt.categories))}
        names = {int(k): str(v) for k, v in names.items()}
        _coco_labels(gt, names, class_map, out, "train")
        cfg.update(train="images/train", val="images/train")
    elif src.suffix.lower() in (".yaml", ".yml"):
        source_cfg = read_dataset_yaml(src)  # ConfigError with file, line and column
        if not source_cfg.get("train"):
            present = [s for s in ("val", "test") if source_cfg.get(s)]
            raise ConfigError(
                f"{src} has no 'train' split (it has {present or 'none'}); training needs one: add e.g. "
                "'train: images/train' (never train on the evaluation split)"
            )
        yaml_names = load_yolo(src, "train").categories
        if names is not None and {int(k): str(v) for k, v in names.items()} != yaml_names:
            raise InputError(f"{src}: its class names differ from the detector's; train on a dataset with the same classes")
        names = yaml_names
        for split in ("train", "val", "test"):
            if not source_cfg.get(split):
                continue
            gt = load_yolo(src, split).head(limit)
            base = Path(os.path.commonpath([str(im.path.parent) for im in gt.images]))
            for im in gt.images:
                rel = im.path.relative_to(base)
                _link(im.path, out / "images" / split / rel)
                label = label_path(im.path)
                target = (out / "labels" / split / rel).with_suffix(".txt")
                target.parent.mkdir(parents=True, exist_ok=True)
                if label.is_file():
                    shutil.copyfile(label, target)
                elif target.exists():
                    target.unlink()
            cfg[split] = f"images/{split}"
        cfg.setdefault("val", cfg["train"])  # ultralytics needs a val entry (as for a COCO json: the training split)
    else:
        raise InputError(f"{src}: expected an ultralytics dataset .yaml or a COCO instances .json")
    cfg["names"] = dict(sorted(names.items()))
    target = out / "data.yaml"
    atomic_write(target, yaml.safe_dump(cfg, sort_keys=False))
    return target

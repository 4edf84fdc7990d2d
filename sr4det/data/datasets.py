"""Detection datasets read into one ground-truth representation (:class:`GroundTruth`).

Three converters, one output (each in its own module, re-exported here):

* :func:`load_coco` (:mod:`.coco_json`) - a COCO ``instances_*.json`` plus its image folder (boxes ``xywh``,
  ``iscrowd``, ``area`` and category ids taken as they are);
* :func:`load_yolo` (:mod:`.yolo_labels`) - an ultralytics dataset YAML with YOLO ``cls cx cy w h`` label files
  (category id = class index, ``iscrowd`` = 0, ``area`` = box area: YOLO labels carry neither crowd flags nor mask
  areas);
* :func:`load_visdrone` (:mod:`.visdrone`) - a VisDrone-DET folder (``images/``, ``annotations/<stem>.txt``) in COCO
  class names, its ignored regions as crowd (ignore) boxes.

Boxes are absolute ``x1, y1, x2, y2`` float64 in the pixel frame of the (HR) image. :meth:`GroundTruth.mod_crop`
crops every image to a multiple of the SR scale (top-left kept, as the SR literature does) and clips the boxes
(:mod:`.ground_truth`). :class:`ClassMap` (:mod:`.class_map`) is the checked mapping detector class index <-> dataset
category id. This module holds the entry point, :func:`load_dataset`, which picks the converter.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import DataError
from .class_map import ClassMap
from .coco_json import load_coco
from .ground_truth import GroundTruth, ImageGT, file_sha256
from .visdrone import is_visdrone_folder, load_visdrone
from .yolo_labels import load_yolo

__all__ = ["ClassMap", "GroundTruth", "ImageGT", "file_sha256", "load_coco", "load_dataset", "load_visdrone", "load_yolo"]

log = logging.getLogger(__name__)


def load_dataset(data: str | Path, images: str | Path | None = None, split: str = "val") -> GroundTruth:
    """Read ``data``: a COCO json (``images`` = folder), a dataset YAML, or a folder holding
    ``annotations/instances_*.json`` (preferred: real COCO annotations), a single ``*.yaml``, or VisDrone-DET
    ``images/`` + ``annotations/<stem>.txt`` (:func:`load_visdrone`).

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
        if not jsons and not yamls and is_visdrone_folder(p):
            return load_visdrone(p)
        raise DataError(
            f"{p}: expected one annotations/instances_*.json, one dataset .yaml or a VisDrone-DET folder (images/, "
            f"annotations/<stem>.txt), found {len(jsons)} json and {len(yamls)} yaml files"
        )
    if p.suffix.lower() == ".json":
        return load_coco(p, images)
    if not p.exists() and p.suffix.lower() not in (".yaml", ".yml"):
        raise DataError(f"dataset not found: {p} (give an existing COCO .json, dataset .yaml or folder)")
    if p.suffix.lower() in (".yaml", ".yml"):
        if p.is_file():
            return load_yolo(p, split)
        return _ultralytics_dataset(str(data), split)
    raise DataError(f"unsupported dataset {data!r}: give a COCO .json, a dataset .yaml or a folder")


def _ultralytics_dataset(name: str, split: str) -> GroundTruth:
    """A dataset YAML name that is not a local file, resolved by ultralytics
    (:func:`sr4det.integrations.ultralytics.datasets.ultralytics_dataset`). Reached by module name, lazily: ``data``
    sits below the integrations and imports none of them (``tests/test_layering.py``)."""
    import importlib

    module = importlib.import_module("sr4det.integrations.ultralytics.datasets")
    return module.ultralytics_dataset(name, split)

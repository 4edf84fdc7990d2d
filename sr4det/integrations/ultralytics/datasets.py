"""Dataset names that ultralytics resolves (and downloads when needed): ``load_dataset("coco128.yaml")`` when no such
local file exists. :func:`sr4det.data.load_dataset` reaches this module by name, lazily."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..._files import sr4det_offline
from ..._yaml_file import dataset_names
from ...data.ground_truth import GroundTruth
from ...data.yolo_labels import load_yolo
from ...errors import DataError
from .offline import import_ultralytics


def ultralytics_dataset(name: str, split: str) -> GroundTruth:
    """The ``split`` of the dataset YAML ``name`` (``"coco128.yaml"``) that ultralytics' ``check_det_dataset`` resolves
    (downloading it when needed), read by :func:`~sr4det.data.load_yolo`; ``source`` is ``name``.

    Raises:
        DataError: downloads are off (``SR4DET_OFFLINE``), ultralytics cannot resolve ``name``, or there is no ``split``.
    """
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
        y.write_text(yaml.safe_dump({"names": dict(dataset_names(info["names"], name)), split: [str(e) for e in entries]}))
        gt = load_yolo(y, split)
    return replace(gt, source=name)

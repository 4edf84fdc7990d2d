"""Dataset YAML names resolved by ultralytics' check_det_dataset (sr4det.integrations.ultralytics.datasets)."""

from __future__ import annotations

import numpy as np
import pytest

from sr4det.data import load_yolo
from sr4det.data.io import write_image
from sr4det.errors import DataError
from sr4det.integrations.ultralytics.datasets import ultralytics_dataset


def _yolo(tmp_path):
    root = tmp_path / "yds"
    (root / "images" / "val").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    for i, (h, w) in enumerate(((40, 80), (60, 60), (30, 30))):
        write_image(root / "images" / "val" / f"im{i}.png", np.full((h, w, 3), 100 + i, np.uint8))
    (root / "labels" / "val" / "im0.txt").write_text("1 0.5 0.5 0.5 0.25\n")
    (root / "labels" / "val" / "im2.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    y = root / "data.yaml"
    y.write_text("train: images/val\nval: images/val\nnames:\n  0: person\n  1: car\n  2: dog\n")
    return y


def test_dataset_names_resolved_by_ultralytics(tmp_path, monkeypatch):
    y = _yolo(tmp_path)
    # offline, a name that is not a local file is an error (no silent download)
    monkeypatch.setenv("SR4DET_OFFLINE", "1")
    with pytest.raises(DataError, match="downloads are off"):
        ultralytics_dataset("no_such_dataset.yaml", "val")
    # online, ultralytics' check_det_dataset resolves the yaml (here a local one, so nothing is downloaded)
    monkeypatch.setenv("SR4DET_OFFLINE", "0")
    via = ultralytics_dataset(str(y), "val")
    direct = load_yolo(y)
    assert via.source == str(y)
    assert [im.path.resolve() for im in via.images] == [im.path.resolve() for im in direct.images]
    for a, b in zip(via.images, direct.images, strict=True):
        np.testing.assert_allclose(a.boxes, b.boxes)
        assert a.category_ids.tolist() == b.category_ids.tolist()
    with pytest.raises(DataError, match="no 'test' split"):
        ultralytics_dataset(str(y), "test")

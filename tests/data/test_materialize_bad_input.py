"""materialize checks labels and annotations as load_yolo / load_coco do, before any image is processed: its own
rescaling used to clip pixel-coordinate YOLO labels and negative-width COCO boxes away without a word."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sr4det.data.io import write_image
from sr4det.data.materialize import materialize
from sr4det.errors import DataError


def _image(path, h=40, w=60, seed=0):
    rng = np.random.default_rng(seed)
    write_image(path, rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


def _yolo(tmp_path, label: str):
    root = tmp_path / "ds"
    (root / "images" / "val").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    _image(root / "images" / "val" / "a.png")
    (root / "labels" / "val" / "a.txt").write_text(label)
    (root / "data.yaml").write_text("path: .\nval: images/val\nnames: [thing]\n")
    return root / "data.yaml"


def _run(data, out, **kw):
    return materialize(data, out, degrade=2, sr=None, progress=False, **kw)


def _written_images(out):
    return [p for p in out.rglob("*.png")] if out.exists() else []


@pytest.mark.parametrize(
    ("label", "match"),
    [
        ("0 30 20 10 8\n", "normalised to \\[0, 1\\]"),  # pixels, not fractions: was clipped to the edge and dropped
        ("3 0.5 0.5 0.2 0.2\n", "not in the dataset's names"),  # was copied with a class the yaml does not have
        ("0 0.5 0.5 0.2\n", "expected 'cls cx cy w h'"),
        ("0 0.5 0.5 0 0.2\n", "zero or negative width"),
    ],
)
def test_bad_yolo_labels_fail_before_any_image_is_written(tmp_path, label, match):
    out = tmp_path / "out"
    with pytest.raises(DataError, match=match):
        _run(_yolo(tmp_path, label), out)
    assert _written_images(out) == []


def test_good_yolo_labels_still_materialize(tmp_path):
    out = tmp_path / "out"
    _run(_yolo(tmp_path, "0 0.5 0.5 0.2 0.2\n"), out)
    assert (out / "labels" / "val" / "a.txt").read_text().split() == ["0", "0.500000", "0.500000", "0.200000", "0.200000"]


def _coco(tmp_path, *, bbox=(10, 10, 20, 8), category=1, size=(40, 60)):
    images = tmp_path / "imgs"
    images.mkdir()
    _image(images / "a.png")
    im = {"id": 1, "file_name": "a.png"}
    if size is not None:
        im.update(height=size[0], width=size[1])
    coco = {
        "images": [im],
        "annotations": [{"id": 1, "image_id": 1, "category_id": category, "bbox": list(bbox), "area": 80, "iscrowd": 0}],
        "categories": [{"id": 1, "name": "thing"}],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(coco))
    return path, images


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"bbox": (30, 10, -10, 8)}, "negative size"),  # was dropped silently by the clip
        ({"category": 7}, "category ids not listed"),  # was copied although no category 7 exists
        ({"size": (20, 60)}, "is 60x40 but the json says 60x20"),  # was found only after every image's SR
    ],
)
def test_bad_coco_json_fails_before_any_image_is_written(tmp_path, kw, match):
    data, images = _coco(tmp_path, **kw)
    out = tmp_path / "out"
    with pytest.raises(DataError, match=match):
        _run(data, out, images=images)
    assert _written_images(out) == []


def test_coco_json_without_image_sizes_is_still_accepted(tmp_path):
    data, images = _coco(tmp_path, size=None)
    new = json.loads(_run(data, tmp_path / "out", images=images).read_text())
    assert (new["images"][0]["height"], new["images"][0]["width"]) == (20, 30)
    np.testing.assert_allclose(new["annotations"][0]["bbox"], [5, 5, 10, 4])

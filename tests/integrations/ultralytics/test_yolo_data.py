"""yolo_dataset: a writable ultralytics dataset (linked images, YOLO labels) from a read-only YOLO yaml or a COCO json."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from sr4det.data.datasets import load_coco, load_yolo
from sr4det.errors import DataError, InputError
from sr4det.integrations.ultralytics.yolo_data import yolo_dataset


@pytest.mark.shared
def test_coco_json_becomes_yolo_labels_with_the_same_boxes(shared, tmp_path):
    json_path = shared("data", "coco_train160", "annotations", "instances_train2017.json")
    names = yaml.safe_load(shared("data", "coco128", "coco128.yaml").read_text())["names"]
    out = yolo_dataset(json_path, tmp_path / "ds", names=names, limit=5)
    cfg = yaml.safe_load(out.read_text())
    assert cfg["path"] == str((tmp_path / "ds").resolve())
    assert cfg["train"] == cfg["val"] == "images/train"
    ours = load_yolo(out, "train")
    coco = load_coco(json_path).head(5)
    assert len(ours) == 5
    by_name = {im.file_name: im for im in coco.images}
    for im in ours.images:
        ref = by_name[im.file_name]
        keep = ref.iscrowd == 0
        assert im.path.is_symlink()
        assert im.path.resolve() == ref.path.resolve()
        assert len(im) == int(keep.sum())
        np.testing.assert_allclose(im.boxes, ref.boxes[keep], atol=0.01 * max(im.width, im.height) / 100)
        assert [names[int(c)] for c in im.category_ids] == [coco.categories[int(c)] for c in ref.category_ids[keep]]


@pytest.mark.shared
def test_yolo_yaml_is_linked_and_its_labels_copied(shared, tmp_path):
    out = yolo_dataset(shared("data", "coco128", "coco128.yaml"), tmp_path / "ds", limit=3)
    cfg = yaml.safe_load(out.read_text())
    assert cfg["train"] == "images/train"
    assert cfg["val"] == "images/val"
    assert len(cfg["names"]) == 80
    labels = sorted((tmp_path / "ds" / "labels" / "val").glob("*.txt"))
    assert len(labels) == 3
    src = shared("data", "coco128", "labels", "train2017", labels[0].name)
    assert labels[0].read_bytes() == src.read_bytes()
    with pytest.raises(InputError, match="class names differ"):
        yolo_dataset(shared("data", "coco128", "coco128.yaml"), tmp_path / "ds2", names={0: "cat"})


def test_bad_sources(tmp_path):
    with pytest.raises(DataError):
        yolo_dataset(tmp_path / "nope.json", tmp_path / "out")
    other = tmp_path / "data.csv"
    other.write_text("x")
    with pytest.raises(InputError, match="yaml"):
        yolo_dataset(other, tmp_path / "out")


def test_coco_json_whose_sizes_differ_from_the_images_is_refused(tmp_path):
    # the labels are normalised by the json's width/height: for images of another size they land on other pixels
    import json

    from sr4det.data.io import write_image

    (tmp_path / "imgs").mkdir()
    write_image(tmp_path / "imgs" / "a.png", np.zeros((40, 60, 3), np.uint8))
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "height": 80, "width": 120}],  # annotated before a 2x resize
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 20], "area": 800, "iscrowd": 0}],
        "categories": [{"id": 1, "name": "thing"}],
    }
    (tmp_path / "i.json").write_text(json.dumps(coco))
    with pytest.raises(DataError, match="60x40 .* says 120x80"):
        yolo_dataset(tmp_path / "i.json", tmp_path / "ds", images=tmp_path / "imgs", names={0: "thing"})

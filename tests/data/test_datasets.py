"""Dataset converters (COCO json, ultralytics YAML) into GroundTruth, mod-crop, and the class mapping."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sr4det.data.datasets import ClassMap, GroundTruth, ImageGT, load_coco, load_dataset, load_yolo
from sr4det.data.io import write_image
from sr4det.errors import DataError


def _write_images(folder, sizes):
    folder.mkdir(parents=True, exist_ok=True)
    for i, (h, w) in enumerate(sizes):
        write_image(folder / f"im{i}.png", np.full((h, w, 3), 100 + i, np.uint8))


def _coco(tmp_path, anns=None, cats=None, sizes=((50, 70), (41, 63))):
    root = tmp_path / "ds"
    _write_images(root / "images" / "val", sizes)
    data = {
        "images": [{"id": 10 + i, "file_name": f"im{i}.png", "height": h, "width": w} for i, (h, w) in enumerate(sizes)],
        "annotations": anns
        if anns is not None
        else [
            {"id": 1, "image_id": 10, "category_id": 3, "bbox": [5, 6, 20, 10], "area": 150.0, "iscrowd": 0},
            {"id": 2, "image_id": 11, "category_id": 7, "bbox": [50, 30, 13, 11], "area": 100.0, "iscrowd": 1},
        ],
        "categories": cats if cats is not None else [{"id": 3, "name": "cat"}, {"id": 7, "name": "Traffic light"}],
    }
    (root / "annotations").mkdir()
    path = root / "annotations" / "instances_val.json"
    path.write_text(json.dumps(data))
    return path


def test_load_coco_boxes_and_folder_guess(tmp_path):
    gt = load_coco(_coco(tmp_path))
    assert [im.id for im in gt.images] == [10, 11]
    assert gt.format == "coco"
    a, b = gt.images
    np.testing.assert_array_equal(a.boxes, [[5, 6, 25, 16]])  # xywh -> xyxy
    assert a.category_ids.tolist() == [3]
    assert a.area.tolist() == [150.0]
    assert b.iscrowd.tolist() == [1]
    assert a.path.is_file()
    assert a.path.parent.name == "val"
    assert gt.categories == {3: "cat", 7: "Traffic light"}
    # to_coco is a faithful round trip of boxes, crowd flags and areas
    d = gt.to_coco()
    assert d["annotations"][1]["bbox"] == [50.0, 30.0, 13.0, 11.0]
    assert d["annotations"][1]["iscrowd"] == 1
    assert load_dataset(tmp_path / "ds").images[0].file_name == "im0.png"  # folder with annotations/


def test_coco_bad_input(tmp_path):
    with pytest.raises(DataError, match="category ids not listed"):
        load_coco(_coco(tmp_path / "a", anns=[{"id": 1, "image_id": 10, "category_id": 99, "bbox": [0, 0, 5, 5], "area": 25}]))
    with pytest.raises(DataError, match="image ids not listed"):
        load_coco(_coco(tmp_path / "b", anns=[{"id": 1, "image_id": 5, "category_id": 3, "bbox": [0, 0, 5, 5], "area": 25}]))
    with pytest.raises(DataError, match="ground truth is empty"):
        load_coco(_coco(tmp_path / "c", anns=[]))
    with pytest.raises(DataError, match="negative size"):
        load_coco(_coco(tmp_path / "d", anns=[{"id": 1, "image_id": 10, "category_id": 3, "bbox": [0, 0, -5, 5], "area": 25}]))
    with pytest.raises(DataError, match="not found"):
        load_coco(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match="cannot read"):
        load_coco(bad)


def _yolo(tmp_path, labels, names=("person", "car", "dog"), sizes=((40, 80), (60, 60), (30, 30))):
    root = tmp_path / "yds"
    _write_images(root / "images" / "val", sizes)
    (root / "labels" / "val").mkdir(parents=True)
    for i, text in labels.items():
        (root / "labels" / "val" / f"im{i}.txt").write_text(text)
    y = root / "data.yaml"
    y.write_text("train: images/val\nval: images/val\nnames:\n" + "".join(f"  {i}: {n}\n" for i, n in enumerate(names)))
    return y


def test_load_yolo(tmp_path):
    y = _yolo(tmp_path, {0: "1 0.5 0.5 0.5 0.25\n0 0.1 0.2 0.1 0.2\n", 1: "2 0.1 0.1 0.3 0.1 0.3 0.5 0.1 0.5\n"})
    gt = load_yolo(y)
    assert [im.file_name for im in gt.images] == ["im0.png", "im1.png", "im2.png"]
    assert gt.format == "yolo"
    a, b, c = gt.images
    assert (a.height, a.width) == (40, 80)
    np.testing.assert_allclose(a.boxes, [[20, 15, 60, 25], [4, 4, 12, 12]])
    assert a.category_ids.tolist() == [1, 0]
    assert a.iscrowd.tolist() == [0, 0]
    np.testing.assert_allclose(a.area, [400, 64])
    np.testing.assert_allclose(b.boxes, [[6, 6, 18, 30]])  # polygon -> its bounding box
    assert len(c) == 0  # no label file: a background image
    assert gt.categories == {0: "person", 1: "car", 2: "dog"}


def test_yolo_bad_input(tmp_path):
    with pytest.raises(DataError, match="class id 5"):
        load_yolo(_yolo(tmp_path / "a", {0: "5 0.5 0.5 0.1 0.1\n"}))
    with pytest.raises(DataError, match="expected 'cls cx cy w h'"):
        load_yolo(_yolo(tmp_path / "b", {0: "1 0.5 0.5 0.1\n"}))
    with pytest.raises(DataError, match="ground truth is empty"):
        load_yolo(_yolo(tmp_path / "c", {}))
    with pytest.raises(DataError, match="no 'test' split"):
        load_yolo(_yolo(tmp_path / "d", {0: "1 0.5 0.5 0.1 0.1\n"}), split="test")


def test_mod_crop_clips_and_drops_boxes():
    im = ImageGT(
        1,
        "a.png",
        None,
        43,
        66,
        boxes=[[0, 0, 10, 10], [60, 30, 66, 43], [64.5, 1, 66, 5]],
        category_ids=[1, 1, 2],
        iscrowd=[0, 0, 0],
        area=[100, 60, 6],
    )
    gt = GroundTruth([im], {1: "a", 2: "b"}).mod_crop(4)
    out = gt.images[0]
    assert (out.height, out.width) == (40, 64)
    assert gt.crop_multiple == 4
    np.testing.assert_allclose(out.boxes, [[0, 0, 10, 10], [60, 30, 64, 40]])
    # the clipped box keeps the fraction of its area that its clipped box keeps: 40/78
    np.testing.assert_allclose(out.area, [100, 60 * 40 / 78])
    assert out.category_ids.tolist() == [1, 1]
    assert gt.dropped_boxes == 1


def test_class_map(tmp_path):
    gt = load_coco(_coco(tmp_path))  # categories 3 "cat", 7 "Traffic light"
    by_name = ClassMap.build({0: "traffic_light", 1: "cat", 2: "zebra"}, gt, "names")
    assert by_name.index_to_category == {0: 7, 1: 3}
    assert by_name.map_labels(np.array([1, 0, 2])).tolist() == [3, 7, -1]
    assert ClassMap.build({0: "x", 1: "y"}, gt, "sorted").index_to_category == {0: 3, 1: 7}
    with pytest.raises(DataError, match="no detector class"):
        ClassMap.build({0: "cat"}, gt, "names")  # "Traffic light" occurs in the GT but the detector lacks it
    with pytest.raises(DataError, match="unknown class mapping"):
        ClassMap.build({0: "cat"}, gt, "alphabetical")


def test_coco128_both_formats_agree(shared):
    root = shared("data", "coco128")
    coco = load_dataset(root / "annotations" / "instances_train2017.json")
    yolo = load_dataset(root / "coco128.yaml", split="val")
    assert len(coco) == 128 == len(yolo)
    assert coco.num_boxes == 939
    assert sum(int(im.iscrowd.sum()) for im in coco.images) == 10
    assert yolo.num_boxes == 929  # YOLO labels drop the crowd boxes
    # detector names in ultralytics' order map to the sorted COCO ids, whether matched by name or by order
    names = {i: n for i, n in sorted(yolo.categories.items())}
    assert ClassMap.build(names, coco, "names") == ClassMap.build(names, coco, "sorted")
    # per image, the non-crowd COCO boxes and the YOLO boxes agree to label precision (6 decimals)
    by_name = {im.file_name: im for im in coco.images}
    for im in yolo.images:
        c = by_name[im.file_name]
        keep = c.iscrowd == 0
        assert sorted(names[k] for k in im.category_ids) == sorted(coco.categories[k] for k in c.category_ids[keep])
        a, b = np.sort(c.boxes[keep], axis=0), np.sort(im.boxes, axis=0)
        np.testing.assert_allclose(a, b, atol=0.01 * max(im.height, im.width))


def test_a_dataset_name_offline_is_refused_through_the_integration():
    # a YAML name that is no local file goes to sr4det.integrations.ultralytics.datasets (its test: the online path)
    with pytest.raises(DataError, match="downloads are off"):
        load_dataset("no_such_dataset.yaml")

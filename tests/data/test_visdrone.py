"""VisDrone-DET folders -> GroundTruth in COCO names, ignore regions as crowd boxes of every category."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sr4det.data import load_dataset, load_visdrone
from sr4det.data.visdrone import COCO_CATEGORIES, parse_visdrone_annotations
from sr4det.errors import DataError
from sr4det.evaluation.coco import evaluate


def _folder(tmp_path, lines: dict[str, str], size=(200, 100)):
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations").mkdir()
    for stem, text in lines.items():
        Image.new("RGB", size).save(tmp_path / "images" / f"{stem}.jpg")
        (tmp_path / "annotations" / f"{stem}.txt").write_text(text)
    return tmp_path


def test_classes_map_to_coco_and_ignored_regions_become_crowd_of_every_category(tmp_path):
    text = (
        "10,20,5,8,1,1,0,0\n"  # pedestrian -> person
        "30,20,6,9,1,2,0,1\n"  # people -> person
        "50,50,20,10,1,5,0,0\n"  # van -> car
        "0,0,40,30,0,0,0,0\n"  # ignored region
        "100,60,10,10,1,7,0,0\n"  # tricycle: no COCO class -> ignored
        "120,60,10,10,1,10,0,0,\n"  # motor -> motorcycle (trailing comma as some writers add)
    )
    gt = load_visdrone(_folder(tmp_path, {"a": text}))
    im = gt.images[0]
    assert (im.height, im.width) == (100, 200) and gt.format == "visdrone"
    real = im.iscrowd == 0
    assert im.category_ids[real].tolist() == [1, 1, 3, 4]
    np.testing.assert_allclose(im.boxes[real][0], [10, 20, 15, 28])
    np.testing.assert_allclose(im.area[real], [40, 54, 200, 100])
    # 2 ignore regions, each once per evaluated category
    assert int(im.iscrowd.sum()) == 2 * len(COCO_CATEGORIES)
    assert sorted(im.category_ids[im.iscrowd == 1].tolist()) == sorted(list(COCO_CATEGORIES) * 2)
    assert gt.categories == COCO_CATEGORIES


def test_detections_in_ignored_regions_are_neither_tp_nor_fp(tmp_path):
    gt = load_visdrone(_folder(tmp_path, {"a": "10,20,5,8,1,1,0,0\n100,40,60,40,0,0,0,0\n"}))
    coco = gt.to_coco()
    hit = {"image_id": 1, "category_id": 1, "bbox": [10, 20, 5, 8], "score": 0.5}
    # a confident person inside the ignored region (category 0: it ignores every class): not an FP
    inside = {"image_id": 1, "category_id": 1, "bbox": [110, 45, 10, 10], "score": 0.9}
    outside = {"image_id": 1, "category_id": 1, "bbox": [50, 5, 10, 10], "score": 0.9}
    ap_ignored = evaluate(coco, [hit, inside]).metrics["AP50"]
    ap_fp = evaluate(coco, [hit, outside]).metrics["AP50"]
    assert ap_ignored == pytest.approx(1.0)
    assert ap_fp is not None and ap_fp < 0.99  # the same detection outside the region is a ranked-first FP


def test_load_dataset_recognises_a_visdrone_folder(tmp_path):
    gt = load_dataset(_folder(tmp_path, {"b": "1,1,4,4,1,4,0,0\n", "a": "2,2,4,4,1,6,0,0\n"}))
    assert [im.file_name for im in gt.images] == ["a.jpg", "b.jpg"] and [im.id for im in gt.images] == [1, 2]
    assert [im.category_ids.tolist() for im in gt.images] == [[8], [3]]


@pytest.mark.parametrize(
    "line,needle",
    [
        ("1,2,3,4,1,1,0\n", r"7 field\(s\)"),
        ("1,2,3,4,1,1,0,0,5\n", r"9 field\(s\)"),
        ("1,2,x,4,1,1,0,0\n", "non-integer"),
        ("1,2,3.5,4,1,1,0,0\n", "non-integer"),
        ("1,2,-3,4,1,1,0,0\n", "negative box size"),
        ("1,2,3,4,2,1,0,0\n", "score 2"),
        ("1,2,3,4,1,12,0,0\n", "category 12"),
    ],
)
def test_malformed_lines_raise_data_error_naming_file_and_line(tmp_path, line, needle):
    p = tmp_path / "x.txt"
    p.write_text("1,1,2,2,1,1,0,0\n" + line)
    with pytest.raises(DataError, match=needle) as info:
        parse_visdrone_annotations(p)
    assert f"{p}:2" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_missing_annotation_file_and_folders_are_errors(tmp_path):
    root = _folder(tmp_path, {"a": "1,1,2,2,1,1,0,0\n"})
    Image.new("RGB", (8, 8)).save(root / "images" / "b.jpg")
    with pytest.raises(DataError, match=r"no annotation file for 1 image"):
        load_visdrone(root)
    with pytest.raises(DataError, match="images/ and annotations/"):
        load_visdrone(tmp_path / "nowhere")


def test_an_image_with_only_ignored_regions_keeps_them(tmp_path):
    root = _folder(tmp_path, {"a": "1,1,2,2,0,0,0,0\n"})
    assert parse_visdrone_annotations(root / "annotations" / "a.txt")[2].all()
    assert load_visdrone(root).num_boxes == len(COCO_CATEGORIES)


def test_shared_visdrone_val(shared):
    gt = load_dataset(shared("data", "visdrone_val"))
    assert len(gt) == 137 and gt.format == "visdrone"
    im = gt.images[0]
    assert im.file_name == "0000001_03999_d_0000007.jpg" and (im.width, im.height) == (1920, 1080)
    real = sum(int((i.iscrowd == 0).sum()) for i in gt.images)
    ignored = sum(int(i.iscrowd.sum()) for i in gt.images)
    # SOURCES.md §1d: 10,518 lines; 396 ignored regions (score 0 / category 0, 11) and 391 tricycles -> 787 ignored
    assert real == 10518 - 787
    assert ignored == 787 * len(COCO_CATEGORIES)
    assert set(np.concatenate([i.category_ids for i in gt.images]).tolist()) == set(COCO_CATEGORIES)

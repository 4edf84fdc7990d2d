"""Hostile dataset files (issue 26, items 4-5): YAML that does not parse or carries !!python tags, wrong field types,
nc disagreeing with names, a missing split, COCO areas no object can have, unreadable images, symlink loops. Each
is a typed error naming file (and line/column) or a correct result with a warning and a count - never a traceback,
never a silently wrong number."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sr4det.data.datasets import load_coco, load_yolo
from sr4det.data.io import write_image
from sr4det.errors import ConfigError, DataError


def _yolo(tmp_path, yaml_text="val: images/val\nnames: [person, car]\n", n=2):
    root = tmp_path / "yds"
    for i in range(n):
        write_image(root / "images" / "val" / f"im{i}.png", np.full((32, 48, 3), 90, np.uint8))
        (root / "labels" / "val").mkdir(parents=True, exist_ok=True)
        (root / "labels" / "val" / f"im{i}.txt").write_text("1 0.5 0.5 0.5 0.5\n")
    y = root / "data.yaml"
    y.write_text(yaml_text)
    return y


@pytest.mark.parametrize(
    ("yaml_text", "match"),
    [
        ("val: images/val\nnames: [person, car\n", r"data\.yaml:3:1: invalid YAML"),  # unclosed list: line, column
        ("val: images/val\nnames: !!python/object/apply:os.system ['touch RAN']\n", r"data\.yaml:2:8: invalid YAML.*never"),
        ("val: images/val\nnc: 3\nnames: [person, car]\n", r"'nc: 3' but 'names' lists 2 classes"),
        ("path: 123\nval: images/val\nnames: [person, car]\n", r"'path' must be a folder name \(text\), got 123"),
        ("val: 7\nnames: [person, car]\n", r"'val' must be a folder"),
        ("train: images/val\nnames: [person, car]\n", r"has no 'val' split \(it has \['train'\]\)"),
        ("val: images/val\nnames: [person, car]\n\xff", r"cannot read dataset yaml"),
    ],
)
def test_a_dataset_yaml_that_cannot_be_used_is_a_config_error_naming_file_and_fix(tmp_path, monkeypatch, yaml_text, match):
    y = _yolo(tmp_path)
    y.write_bytes(yaml_text.encode("latin-1"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=match) as err:
        load_yolo(y)
    assert isinstance(err.value, DataError)  # handlers of bad data catch it
    assert not (tmp_path / "RAN").exists()  # the tag was never constructed


def test_adapting_on_a_yaml_without_a_train_split_is_a_config_error(tmp_path):
    from sr4det.integrations.ultralytics.yolo_data import yolo_dataset

    y = _yolo(tmp_path)  # val only (used to be an untyped KeyError / StopIteration in adapt-detector)
    with pytest.raises(ConfigError, match=r"no 'train' split \(it has \['val'\]\)"):
        yolo_dataset(y, tmp_path / "out", names={0: "person", 1: "car"})


def test_unreadable_images_are_left_out_with_a_count_not_kept_as_0x0(tmp_path):
    y = _yolo(tmp_path, n=3)
    (y.parent / "images" / "val" / "im1.png").write_bytes(b"\x89PNG broken")
    with pytest.warns(UserWarning, match=r"left out 1 of 3 image\(s\).*im1\.png"):
        gt = load_yolo(y)
    assert [im.file_name for im in gt.images] == ["im0.png", "im2.png"]
    assert all(im.height == 32 and im.width == 48 for im in gt.images)
    assert gt.num_boxes == 2


@pytest.mark.parametrize("area", [0, 1e12])
def test_coco_areas_no_object_can_have_use_the_box_area_with_a_warning(tmp_path, area):
    root = tmp_path / "cds"
    write_image(root / "images" / "im0.png", np.zeros((64, 64, 3), np.uint8))
    anns = [
        {"id": i + 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 10 + i, 10], "area": area, "iscrowd": 0} for i in range(3)
    ] + [{"id": 9, "image_id": 1, "category_id": 1, "bbox": [20, 20, 40, 40], "area": 900.0, "iscrowd": 0}]
    path = root / "instances.json"
    data = {"images": [{"id": 1, "file_name": "im0.png", "height": 64, "width": 64}], "annotations": anns}
    path.write_text(json.dumps({**data, "categories": [{"id": 1, "name": "a"}]}))
    with pytest.warns(UserWarning, match=r"3 of 4 annotations have an 'area' no object in their box can have"):
        gt = load_coco(path, images=root / "images")
    # small/medium/large now follow the boxes (all 0: every AP_s was n/a; 1e12: everything was "large")
    assert gt.images[0].area.tolist() == [100.0, 110.0, 120.0, 900.0]


def test_symlink_loops_in_an_input_folder_fail_those_files_only(tmp_path, capsys):
    from sr4det.cli import main

    src = tmp_path / "in"
    write_image(src / "ok.png", np.zeros((8, 8, 3), np.uint8))
    (src / "self.png").symlink_to("self.png")
    (src / "x.png").symlink_to("y.png")
    (src / "y.png").symlink_to("x.png")
    assert main(["upscale", str(src), "-o", str(tmp_path / "out"), "-m", "bicubic", "-s", "2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("symbolic link that loops or points nowhere") == 3
    assert (tmp_path / "out" / "ok.png").is_file()

"""Malformed COCO json and YOLO labels raise DataError naming the file, line or annotation - never a raw
KeyError/TypeError, and never a silently changed class or dropped box."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sr4det.data.datasets import load_coco, load_yolo
from sr4det.data.io import write_image
from sr4det.errors import DataError


def _images(folder, n=2, size=(32, 48)):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_image(folder / f"im{i}.png", np.full((*size, 3), 90 + i, np.uint8))


# --------------------------------------------------------------------------------------------- YOLO


def _yolo(tmp_path, label_text):
    root = tmp_path / "yds"
    _images(root / "images" / "val", n=1)
    (root / "labels" / "val").mkdir(parents=True)
    (root / "labels" / "val" / "im0.txt").write_text(label_text)
    y = root / "data.yaml"
    y.write_text("val: images/val\nnames:\n  0: person\n  1: car\n")
    return y


def test_fractional_class_id_is_not_truncated(tmp_path):
    with pytest.raises(DataError, match=r"im0\.txt:2: class id '0\.7' is not an integer"):
        load_yolo(_yolo(tmp_path, "1 0.5 0.5 0.2 0.2\n0.7 0.5 0.5 0.2 0.2\n"))


def test_integral_float_class_id_is_accepted(tmp_path):
    gt = load_yolo(_yolo(tmp_path, "1.0 0.5 0.5 0.25 0.5\n"))
    assert gt.images[0].category_ids.tolist() == [1]


@pytest.mark.parametrize(
    "line",
    [
        "0 1.5 0.5 0.2 0.2",  # centre outside the image
        "0 0.5 0.5 -0.2 0.2",  # negative width
        "0 24 16 10 10",  # pixel coordinates, not normalised
        "0 0.5 nan 0.2 0.2",  # non-finite
        "0 0.1 0.1 0.5 1.2 0.3 0.5",  # polygon point outside
    ],
)
def test_out_of_range_yolo_box_is_an_error_not_a_drop(tmp_path, line):
    with pytest.raises(DataError, match=r"im0\.txt:1: .*normalised"):
        load_yolo(_yolo(tmp_path, line + "\n"))


@pytest.mark.parametrize("line", ["0 0.5 0.5 0 0.2", "0 0.5 0.5 0.2 0.0", "0 0.2 0.3 0.2 0.5 0.2 0.9"])
def test_empty_yolo_box_is_an_error(tmp_path, line):
    with pytest.raises(DataError, match=r"im0\.txt:1: the box has zero or negative width/height"):
        load_yolo(_yolo(tmp_path, line + "\n"))


# --------------------------------------------------------------------------------------------- COCO


def _ann(**kw):
    return {"id": 7, "image_id": 1, "category_id": 3, "bbox": [1, 2, 10, 8], "area": 80.0, "iscrowd": 0, **kw}


def _coco(tmp_path, *, images=None, anns=None, cats=None, raw=None):
    root = tmp_path / "cds"
    _images(root / "images", n=2)
    data = {
        "images": images
        if images is not None
        else [
            {"id": 1, "file_name": "im0.png", "height": 32, "width": 48},
            {"id": 2, "file_name": "im1.png", "height": 32, "width": 48},
        ],
        "annotations": anns if anns is not None else [_ann()],
        "categories": cats if cats is not None else [{"id": 3, "name": "cat"}],
    }
    path = root / "instances_val.json"
    path.write_text(json.dumps(raw if raw is not None else data))
    return path


def _load(path):
    return load_coco(path, images=path.parent / "images")


def test_valid_coco_fixture_loads(tmp_path):
    gt = _load(_coco(tmp_path))
    assert len(gt) == 2
    assert gt.num_boxes == 1


def test_duplicate_image_ids(tmp_path):
    images = [
        {"id": 1, "file_name": "im0.png", "height": 32, "width": 48},
        {"id": 1, "file_name": "im1.png", "height": 32, "width": 48},
    ]
    with pytest.raises(DataError, match=r"image ids listed more than once.*\[1\]"):
        _load(_coco(tmp_path, images=images))


def test_duplicate_category_ids(tmp_path):
    with pytest.raises(DataError, match="category id 3 is listed twice"):
        _load(_coco(tmp_path, cats=[{"id": 3, "name": "cat"}, {"id": 3, "name": "dog"}]))


def test_top_level_list(tmp_path):
    with pytest.raises(DataError, match="top level is a list"):
        _load(_coco(tmp_path, raw=[_ann()]))


@pytest.mark.parametrize("bbox", [[1, 2, 3], [1, 2, 3, 4, 5], "1 2 3 4", [1, "2", 3, 4], None, [1, 2, True, 4]])
def test_bbox_of_wrong_length_or_type(tmp_path, bbox):
    with pytest.raises(DataError, match=r"annotations\[0\] \(id 7\): 'bbox' must be 4 numbers"):
        _load(_coco(tmp_path, anns=[_ann(bbox=bbox)]))


@pytest.mark.parametrize("field", ["bbox", "image_id", "category_id"])
def test_annotation_missing_a_field(tmp_path, field):
    ann = _ann()
    del ann[field]
    with pytest.raises(DataError, match=rf"annotations\[0\] \(id 7\) has no '{field}'"):
        _load(_coco(tmp_path, anns=[ann]))


@pytest.mark.parametrize("field", ["height", "width", "file_name", "id"])
def test_image_missing_a_field(tmp_path, field):
    images = [{"id": 1, "file_name": "im0.png", "height": 32, "width": 48}]
    del images[0][field]
    with pytest.raises(DataError, match=f"has no '{field}'"):
        _load(_coco(tmp_path, images=images))


def test_string_image_ids(tmp_path):
    images = [{"id": "1", "file_name": "im0.png", "height": 32, "width": 48}]
    with pytest.raises(DataError, match=r"images\[0\] 'id' must be an integer, got '1'"):
        _load(_coco(tmp_path, images=images, anns=[_ann(image_id="1")]))


def test_string_image_id_in_annotation(tmp_path):
    with pytest.raises(DataError, match=r"annotations\[0\] \(id 7\) 'image_id' must be an integer"):
        _load(_coco(tmp_path, anns=[_ann(image_id="1")]))


@pytest.mark.parametrize("ann", [_ann(area="big"), _ann(iscrowd=2), "not an object"])
def test_other_bad_annotation_fields(tmp_path, ann):
    with pytest.raises(DataError, match=r"annotations\[0\]"):
        _load(_coco(tmp_path, anns=[ann]))


def test_zero_image_size(tmp_path):
    images = [{"id": 1, "file_name": "im0.png", "height": 0, "width": 48}]
    with pytest.raises(DataError, match="'height' must be >= 1"):
        _load(_coco(tmp_path, images=images))


# ------------------------------------------------------------------------- YOLO files and yaml, boxes, limits


def test_duplicate_yolo_lines_are_removed_with_one_warning_like_ultralytics(tmp_path):
    with pytest.warns(UserWarning, match=r"removed 2 duplicate label line\(s\) in 1 label file\(s\)"):
        gt = load_yolo(_yolo(tmp_path, "0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n1 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n"))
    assert gt.images[0].category_ids.tolist() == [0, 1]


def test_yolo_crlf_blank_lines_and_bom_are_read(tmp_path):
    y = _yolo(tmp_path, "")
    (tmp_path / "yds" / "labels" / "val" / "im0.txt").write_bytes(b"\xef\xbb\xbf0 0.5 0.5 0.2 0.2\r\n\r\n1 0.3 0.3 0.1 0.1\r\n")
    assert load_yolo(y).images[0].category_ids.tolist() == [0, 1]


@pytest.mark.parametrize("raw", ["0 0.5 0.5 0.2 0.2\n".encode("utf-16"), b"0 0.5 0.5 0.2 0.2 \xe9\n"])
def test_non_utf8_yolo_label_is_a_data_error(tmp_path, raw):
    y = _yolo(tmp_path, "")
    (tmp_path / "yds" / "labels" / "val" / "im0.txt").write_bytes(raw)
    with pytest.raises(DataError, match=r"im0\.txt: not a UTF-8 text file.*re-save it as UTF-8"):
        load_yolo(y)


@pytest.mark.parametrize(
    ("yaml_text", "match"),
    [
        ("- a\n- b\n", "top level is a list, not an ultralytics dataset mapping"),
        ("val: images/val\nnames: {a: person}\n", r"'names' keys must be class indices.*write the names as a list"),
        ("val: images/val\nnc: 2\n", r"has no 'names'; add the class names"),
    ],
)
def test_malformed_dataset_yaml_is_a_data_error_naming_the_fix(tmp_path, yaml_text, match):
    y = _yolo(tmp_path, "0 0.5 0.5 0.2 0.2\n")
    y.write_text(yaml_text)
    with pytest.raises(DataError, match=match):
        load_yolo(y)


def test_yolo_names_with_digit_string_keys_are_indices(tmp_path):
    y = _yolo(tmp_path, "1 0.5 0.5 0.2 0.2\n")
    y.write_text("val: images/val\nnames:\n  '0': person\n  '1': car\n")
    assert load_yolo(y).categories == {0: "person", 1: "car"}


@pytest.mark.parametrize("bbox", [[40, 2, 20, 8], [-6, -4, 10, 8], [60, 40, 5, 5]])
def test_coco_boxes_outside_their_image_are_clipped_with_a_counted_warning(tmp_path, bbox):
    gt = _load(_coco(tmp_path, anns=[_ann(), _ann(id=8, bbox=bbox)]))  # images are 48x32
    with pytest.warns(UserWarning, match=r"1 annotated box\(es\) in 1 image\(s\) reach more than 0.5 px outside"):
        cropped = gt.mod_crop(4)
    boxes = cropped.images[0].boxes
    assert (boxes[:, [0, 2]] <= 48).all()
    assert (boxes[:, [1, 3]] <= 32).all()
    assert (boxes >= 0).all()


def test_boxes_inside_their_image_give_no_warning(tmp_path):
    import warnings

    gt = _load(_coco(tmp_path, anns=[_ann(bbox=[0, 0, 48, 32])]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gt.mod_crop(4)


@pytest.mark.parametrize("limit", [0, -3, 2.5, True])
def test_head_refuses_a_limit_that_is_not_a_positive_int(tmp_path, limit):
    from sr4det.errors import InputError

    gt = _load(_coco(tmp_path))
    with pytest.raises(InputError, match="must be a positive number of images"):
        gt.head(limit)


# ------------------------------------------------------------------------------------- second audit


def test_coco_json_with_a_byte_order_mark_is_read(tmp_path):
    _images(tmp_path / "images")
    data = {
        "images": [{"id": 1, "file_name": "im0.png", "width": 48, "height": 32}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}],
        "categories": [{"id": 1, "name": "person"}],
    }
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(data).encode())
    assert load_coco(path, tmp_path / "images").num_boxes == 1


def test_missing_dataset_path_says_not_found(tmp_path):
    from sr4det.data.datasets import load_dataset

    with pytest.raises(DataError, match="dataset not found"):
        load_dataset(tmp_path / "no_such_folder")


def test_a_txt_split_whose_images_all_are_missing_says_so(tmp_path):
    (tmp_path / "val.txt").write_text("images/a.jpg\nimages/b.jpg\n")
    (tmp_path / "data.yaml").write_text("path: .\nval: val.txt\nnames: {0: cat}\n")
    with pytest.raises(DataError, match="none of the 2 images of split 'val' exists"):
        load_yolo(tmp_path / "data.yaml")
    write_image(tmp_path / "images" / "a.jpg", np.zeros((8, 8, 3), np.uint8))  # one exists: not this error
    with pytest.raises(DataError, match="ground truth is empty"):
        load_yolo(tmp_path / "data.yaml")


# --------------------------------------------------------------------------------------------- ImageGT


@pytest.mark.parametrize(("box", "match"), [([float("nan"), 0, 5, 5], "NaN/Inf"), ([10, 10, 4, 30], "x2 < x1")])
def test_image_gt_refuses_boxes_coco_evaluation_would_score_wrong(tmp_path, box, match):
    from sr4det.data.ground_truth import ImageGT

    with pytest.raises(DataError, match=match):
        ImageGT(1, "a.png", tmp_path / "a.png", 32, 32, boxes=[box], category_ids=[1], iscrowd=[0], area=[10.0])

"""materialize: SR'd copies of YOLO and COCO datasets whose labels still align with the scaled originals."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
import yaml

from sr4det.cli import main
from sr4det.data.io import read_image, write_image
from sr4det.data.materialize import materialize
from sr4det.errors import InputError
from sr4det.transforms import Degrade, SRTransform

# objects (x0, y0, x1, y1) in HR pixels; the second one runs into the mod-cropped strip of a 43x30 image
OBJECTS = [(4, 5, 20, 17), (30, 8, 43, 30)]


def _image(h: int, w: int) -> np.ndarray:
    img = np.full((h, w, 3), 30, np.uint8)
    for x0, y0, x1, y1 in OBJECTS:
        img[y0:y1, x0:x1] = 220
    return img


@pytest.fixture
def yolo_data(tmp_path):
    root = tmp_path / "src"
    for split, (h, w) in (("train", (30, 43)), ("val", (32, 40))):
        write_image(root / "images" / split / f"{split}_a.png", _image(h, w))
        lines = [
            f"{i} {(x0 + x1) / 2 / w} {(y0 + y1) / 2 / h} {(x1 - x0) / w} {(y1 - y0) / h}"
            for i, (x0, y0, x1, y1) in enumerate(OBJECTS)
        ]
        (root / "labels" / split).mkdir(parents=True)
        (root / "labels" / split / f"{split}_a.txt").write_text("\n".join(lines) + "\n")
    data = root / "data.yaml"
    data.write_text(yaml.safe_dump({"train": "images/train", "val": "images/val", "names": ["a", "b"]}))
    return data


def _abs_boxes(label_file, h, w):
    rows = np.loadtxt(label_file, ndmin=2)
    cx, cy, bw, bh = rows[:, 1] * w, rows[:, 2] * h, rows[:, 3] * w, rows[:, 4] * h
    return np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)


def test_yolo_round_trip_labels_align(yolo_data, tmp_path):
    out = tmp_path / "out"
    new_yaml = materialize(yolo_data, out, degrade=Degrade(4), sr=SRTransform("bicubic", scale=4, tile=None), progress=False)
    cfg = yaml.safe_load(new_yaml.read_text())
    assert cfg["path"] == str(out.resolve())
    assert cfg["train"] == "images/train"
    assert cfg["names"] == ["a", "b"]
    img, _ = read_image(out / "images" / "train" / "train_a.png")
    assert img.shape == (28, 40, 3)  # 30x43 mod-cropped to 28x40, /4, x4
    boxes = _abs_boxes(out / "labels" / "train" / "train_a.txt", 28, 40)
    expected = np.array([[4, 5, 20, 17], [30, 8, 40, 28]], float)  # the second clamped to the 40x28 frame
    np.testing.assert_allclose(boxes, expected, atol=1e-3)
    for x0, y0, x1, y1 in expected.astype(int):  # pixels: the objects are where the labels say
        assert img[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2].mean() > 180
    assert img[20:, :25].mean() < 60  # background stays background
    val_img, _ = read_image(out / "images" / "val" / "val_a.png")
    assert val_img.shape == (32, 40, 3)


def test_lr_only_scales_labels_down(yolo_data, tmp_path):
    out = tmp_path / "lr"
    materialize(yolo_data, out, degrade=4, sr=None, progress=False)
    img, _ = read_image(out / "images" / "train" / "train_a.png")
    assert img.shape == (7, 10, 3)
    boxes = _abs_boxes(out / "labels" / "train" / "train_a.txt", 7, 10)
    np.testing.assert_allclose(boxes, np.array([[4, 5, 20, 17], [30, 8, 40, 28]]) / 4, atol=1e-4)


def test_resumes_and_guards_settings(yolo_data, tmp_path):
    out = tmp_path / "out"
    sr = SRTransform("bicubic", scale=4, tile=None)
    materialize(yolo_data, out, degrade=4, sr=sr, progress=False)
    target = out / "images" / "train" / "train_a.png"
    os.utime(target, (1, 1))
    materialize(yolo_data, out, degrade=4, sr=sr, progress=False)
    assert target.stat().st_mtime == 1  # existing outputs are kept
    with pytest.raises(InputError, match="other settings"):
        materialize(yolo_data, out, degrade=Degrade(4, noise_std=3), sr=sr, progress=False)
    materialize(yolo_data, out, degrade=Degrade(4, noise_std=3), sr=sr, progress=False, overwrite=True)
    assert target.stat().st_mtime > 1


def test_coco_round_trip(tmp_path):
    from pycocotools import mask as mask_utils

    images = tmp_path / "imgs"
    write_image(images / "a.jpg", _image(30, 43))
    rle_mask = np.zeros((30, 43), np.uint8)
    rle_mask[5:17, 4:20] = 1
    rle = mask_utils.encode(np.asfortranarray(rle_mask))
    rle["counts"] = rle["counts"].decode()
    coco = {
        "images": [{"id": 1, "file_name": "a.jpg", "height": 30, "width": 43}],
        "categories": [{"id": 1, "name": "a"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [4, 5, 16, 12],
                "area": 192.0,
                "iscrowd": 0,
                "segmentation": [[4, 5, 20, 5, 20, 17, 4, 17]],
            },
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [4, 5, 16, 12], "area": 192.0, "iscrowd": 1, "segmentation": rle},
            {"id": 3, "image_id": 1, "category_id": 1, "bbox": [41, 28, 2, 2], "area": 4.0, "iscrowd": 0},  # in the cropped strip
        ],
    }
    src = tmp_path / "instances.json"
    src.write_text(json.dumps(coco))
    out_json = main(
        [
            "materialize",
            "--data",
            str(src),
            "--images",
            str(images),
            "-o",
            str(tmp_path / "out"),
            "--degrade",
            "4",
            "--sr",
            "none",
            "--quiet",
        ]
    )
    assert out_json == 0
    new = json.loads((tmp_path / "out" / "annotations.json").read_text())
    assert new["images"][0]["file_name"] == "a.png"
    assert (new["images"][0]["height"], new["images"][0]["width"]) == (7, 10)
    assert [a["id"] for a in new["annotations"]] == [1, 2]  # the object in the cropped strip is gone
    np.testing.assert_allclose(new["annotations"][0]["bbox"], [1, 1.25, 4, 3])
    np.testing.assert_allclose(new["annotations"][0]["area"], 12.0)
    np.testing.assert_allclose(new["annotations"][0]["segmentation"][0], [1, 1.25, 5, 1.25, 5, 4.25, 1, 4.25])
    m = mask_utils.decode(new["annotations"][1]["segmentation"])
    assert m.shape == (7, 10)
    assert m.sum() > 0
    img, _ = read_image(tmp_path / "out" / "images" / "a.png")
    assert img.shape == (7, 10, 3)


@pytest.mark.shared
def test_cli_on_coco128_images(shared, tmp_path):
    """Real images through the CLI; the output loads with sr4det's own YOLO reader and boxes match."""
    from sr4det.data.datasets import load_yolo

    root = shared("data", "coco128")
    src = tmp_path / "src"
    for stem in ("000000000025", "000000000036"):  # 640x426 (mod-crop) and 481x640 (mod-crop)
        (src / "images" / "val").mkdir(parents=True, exist_ok=True)
        (src / "labels" / "val").mkdir(parents=True, exist_ok=True)
        shutil.copy(root / "images" / "train2017" / f"{stem}.jpg", src / "images" / "val")
        shutil.copy(root / "labels" / "train2017" / f"{stem}.txt", src / "labels" / "val")
    names = yaml.safe_load((root / "coco128.yaml").read_text())["names"]
    (src / "d.yaml").write_text(yaml.safe_dump({"val": "images/val", "names": names}))
    rc = main(
        [
            "materialize",
            "--data",
            str(src / "d.yaml"),
            "-o",
            str(tmp_path / "out"),
            "--sr",
            "bicubic",
            "--tile",
            "none",
            "--quiet",
        ]
    )
    assert rc == 0
    before, after = load_yolo(src / "d.yaml", "val"), load_yolo(tmp_path / "out" / "data.yaml", "val")
    for a, b in zip(before.images, after.images, strict=True):
        assert (b.height, b.width) == (a.height - a.height % 4, a.width - a.width % 4)
        clamped = np.clip(a.boxes, 0, [b.width, b.height, b.width, b.height])
        np.testing.assert_allclose(b.boxes, clamped, atol=0.01)
        np.testing.assert_array_equal(b.category_ids, a.category_ids)


def test_a_compiled_sr_runtime_is_part_of_the_settings(yolo_data, tmp_path):
    pytest.importorskip("openvino")
    out = tmp_path / "out"
    args = ["materialize", "--data", str(yolo_data), "-o", str(out), "--sr", "espcn", "--quiet"]
    assert main([*args, "--backend", "openvino"]) == 0
    img, _ = read_image(out / "images" / "train" / "train_a.png")
    assert img.shape == (28, 40, 3)
    with pytest.raises(InputError, match="other settings"):  # torch outputs would be mixed with openvino ones
        materialize(yolo_data, out, degrade=4, sr=SRTransform("espcn", scale=4), progress=False)

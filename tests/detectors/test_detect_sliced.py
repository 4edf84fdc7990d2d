"""`sr4det detect --slice`: sliced detection (and SR + sliced detection) writing merged boxes on the native image."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from sr4det.cli import main

pytest.importorskip("openvino")

IMAGE = ("data", "visdrone_val", "images", "0000021_00500_d_0000002.jpg")  # 960 x 540


def _detect(tmp_path, name, *args):
    out = tmp_path / name
    assert main(["detect", *args, "-o", str(out), "--quiet"]) == 0
    return out, json.loads((out / "detections.json").read_text())


def test_detect_slice_writes_the_sliced_detectors_boxes_on_the_native_image(shared, tmp_path):
    from sr4det.detectors import SlicedDetector, UltralyticsDetector

    image = shared(*IMAGE)
    weights = str(shared("weights", "yolo11n_int8_openvino_model"))
    _, whole = _detect(tmp_path, "whole", str(image), "--detector", weights)
    out, sliced = _detect(tmp_path, "sliced", str(image), "--detector", weights, "--slice", "512:0.25")
    settings = sliced["settings"]["detector"]
    assert settings["type"] == "sliced" and settings["slice"] == 512 and settings["overlap"] == 0.25
    assert settings["merge"] == "nms:iou:0.5" and settings["detector"]["conf"] == 0.25
    (rec,) = sliced["images"]
    assert rec["image_size"] == [540, 960] and Image.open(out / f"{image.stem}.png").size == (960, 540)
    boxes = np.array([d["box"] for d in rec["detections"]])
    assert len(boxes) > len(whole["images"][0]["detections"])  # small objects: more found on slices
    assert (boxes >= -0.5).all() and (boxes[:, [0, 2]] <= 960.5).all() and (boxes[:, [1, 3]] <= 540.5).all()
    ref = SlicedDetector(UltralyticsDetector(weights, conf=0.25), slice=512, overlap=0.25)([image])[0]
    np.testing.assert_allclose(boxes, ref.boxes, atol=0.01)


def test_detect_sr_then_slices_reports_boxes_in_the_input_frame(shared, tmp_path):
    image = shared(*IMAGE)
    weights = str(shared("weights", "yolo11n_int8_openvino_model"))
    common = [str(image), "--detector", weights, "--sr", "bicubic", "--scale", "2", "--slice", "640"]
    out, lr = _detect(tmp_path, "lr", *common)
    _, sr = _detect(tmp_path, "sr", *common, "--frame", "sr")
    assert lr["settings"]["detector"]["type"] == "sliced" and lr["settings"]["sr"]["scale"] == 2
    assert lr["images"][0]["image_size"] == [540, 960] and sr["images"][0]["image_size"] == [1080, 1920]
    assert Image.open(out / f"{image.stem}.png").size == (960, 540)
    a = np.array([d["box"] for d in lr["images"][0]["detections"]])
    b = np.array([d["box"] for d in sr["images"][0]["detections"]])
    assert len(a) == len(b) > 0
    np.testing.assert_allclose(a * 2, b, atol=0.05)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--slice", "640:1.5"], "overlap"),
        (["--slice", "big"], "SIZE"),
        (["--slice", "640", "--merge", "soft"], "merge"),
        (["--merge", "greedynmm:ios"], "--slice"),
    ],
)
def test_detect_bad_slice_options_fail_before_loading(tmp_path, capsys, args, needle):
    img = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(img)
    assert main(["detect", str(img), "--detector", "missing.pt", *args, "-o", str(tmp_path / "o")]) == 2
    assert needle in capsys.readouterr().err

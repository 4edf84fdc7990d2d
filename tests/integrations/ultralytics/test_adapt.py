"""`sr4det adapt-detector` / pipelines/adapt_detector.py: the shared YOLO11n export, rebuilt trainable, fine-tuned one
epoch on 4 bicubic x4 coco_train160 images at imgsz 64; UltralyticsDetector loads the result; bad detectors fail
before anything is written."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

from sr4det.cli import main
from sr4det.errors import InputError, WeightsError, WeightsNotAvailableError
from sr4det.integrations.ultralytics.adapt import adapt_detector

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_cli_adapts_one_epoch_and_the_detector_loads(shared, tmp_path, capsys):
    from sr4det.detectors import UltralyticsDetector

    out = tmp_path / "adapted"
    rc = main(
        [
            "adapt-detector",
            "--detector",
            str(shared("weights", "yolo11n_int8_openvino_model")),
            "--data",
            str(shared("data", "coco_train160", "annotations", "instances_train2017.json")),
            "--scale",
            "4",
            "--sr",
            "bicubic",
            "--epochs",
            "1",
            "--imgsz",
            "64",
            "--batch",
            "2",
            "--limit",
            "4",
            "--threads",
            "1",
            "--device",
            "cpu",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    record = json.loads((out / "adapted.json").read_text())
    assert json.loads(printed[printed.index("{") :])["wall_time_s"] == record["wall_time_s"] > 0
    assert record["epochs"] == 1
    assert len(record["epoch_s"]) == 1
    assert record["images"] == 4
    assert record["command"].startswith("sr4det adapt-detector --detector ")
    assert "--epochs 1" in record["command"]
    assert record["sr"] == "bicubic"
    assert record["scale"] == 4
    assert record["threads"] == 1
    assert record["hook_images"] == 4  # every training image went through Degrade x4 + bicubic x4
    det = UltralyticsDetector(str(out / "adapted.pt"), imgsz=64)
    image = np.asarray(
        __import__("PIL.Image", fromlist=["Image"])
        .open(shared("data", "coco128", "images", "train2017", "000000000036.jpg"))
        .convert("RGB")
    )
    (d,) = det([image])
    assert d.image_size == image.shape[:2]
    assert len(det.names) == 80


def test_a_detector_that_does_not_load_fails_before_any_work(tmp_path):
    out = tmp_path / "out"
    garbage = tmp_path / "det.pt"
    garbage.write_bytes(b"nope")
    data = tmp_path / "data.json"
    data.write_text("{}")
    with pytest.raises(WeightsError, match="YOLO .pt"):
        adapt_detector(garbage, data, out)
    with pytest.raises(WeightsNotAvailableError, match="OpenVINO export folder"):
        adapt_detector(tmp_path / "missing_openvino_model", data, out)
    with pytest.raises(WeightsError, match="cannot be fine-tuned"):
        adapt_detector(data, data, out)
    assert not any(out.rglob("*"))
    with pytest.raises(InputError, match="multiple of 32"):
        adapt_detector(garbage, data, out, imgsz=100)


@pytest.mark.shared
def test_coco128_is_refused_as_training_data(shared, tmp_path):
    with pytest.raises(InputError, match="evaluation set"):
        adapt_detector(shared("weights", "yolo11n_int8_openvino_model"), shared("data", "coco128", "coco128.yaml"), tmp_path)


def test_pipeline_script_reports_a_bad_detector(tmp_path, monkeypatch, capsys):
    garbage = tmp_path / "det.pt"
    garbage.write_bytes(b"nope")
    data = tmp_path / "data.json"
    data.write_text("{}")
    monkeypatch.setattr(
        sys, "argv", ["adapt_detector.py", "--detector", str(garbage), "--data", str(data), "--out", str(tmp_path / "o")]
    )
    with pytest.raises(SystemExit) as info:
        runpy.run_path(str(ROOT / "pipelines" / "adapt_detector.py"), run_name="__main__")
    assert info.value.code == 2
    assert "not an ultralytics detection checkpoint" in capsys.readouterr().err

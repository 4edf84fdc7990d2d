"""Smoke run of pipelines/train_torchvision_detector.py on 2 coco128 images (random-init detector, no downloads)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

PIPELINE = Path(__file__).resolve().parents[3] / "pipelines" / "train_torchvision_detector.py"


def _load():
    spec = importlib.util.spec_from_file_location("train_torchvision_detector", PIPELINE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_train_transforms_keep_boxes_in_the_sr_frame(shared):
    import torch

    mod = _load()
    root = shared("data", "coco128")
    tf = mod.build_transforms(4, "bicubic", train=False, tile=None, device="cpu", pretrained=True)
    ds = mod.coco_dataset(str(root / "annotations" / "instances_train2017.json"), str(root / "images" / "train2017"), tf, 3)
    img, target = ds[0]
    assert img.dtype == torch.float32
    assert img.shape[0] == 3
    h, w = img.shape[-2:]
    assert h % 4 == 0
    assert w % 4 == 0
    assert target["boxes"].canvas_size == (h, w)
    assert len(target["boxes"]) == len(target["labels"]) > 0


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_one_epoch_smoke(shared, tmp_path):
    mod = _load()
    root = shared("data", "coco128")
    ann = str(root / "annotations" / "instances_train2017.json")
    rc = mod.main(
        [
            "--train-json",
            ann,
            "--train-images",
            str(root / "images" / "train2017"),
            "--val-json",
            ann,
            "--model",
            "fasterrcnn_mobilenet_v3_large_320_fpn",
            "--degrade",
            "4",
            "--sr",
            "espcn",
            "--no-pretrained-sr",
            "--epochs",
            "1",
            "--batch-size",
            "2",
            "--workers",
            "0",
            "--max-images",
            "2",
            "--min-size",
            "128",
            "--max-size",
            "192",
            "--device",
            "cpu",
            "--lr",
            "0.001",
            "-o",
            str(tmp_path / "run"),
            "--quiet",
        ]
    )
    assert rc == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    (record,) = metrics["history"]
    assert record["loss"] > 0
    assert 0 <= record["AP"] <= 1
    assert (tmp_path / "run" / "model_final.pt").stat().st_size > 1_000_000

"""A YOLO rebuilt from the shared OpenVINO export in the form ultralytics trains (unfused, BatchNorm re-inserted):
eval output unchanged by the BatchNorm re-estimation, YOLO(.pt) loads it, and its val() on coco128 is within 0.01
mAP50-95 of the export's own val()."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sr4det.errors import WeightsError, WeightsNotAvailableError
from sr4det.integrations.ultralytics.batchnorm_calibration import _letterbox
from sr4det.integrations.ultralytics.recover import (
    calibrate_batchnorm,
    load_trainable_pt,
    save_yolo_checkpoint,
    trainable_yolo,
    trainable_yolo_from_openvino,
    yolo_from_openvino,
)
from sr4det.integrations.ultralytics.trainable import trainable_class_names

EXPORT = ("weights", "yolo11n_int8_openvino_model")
CALIBRATION = ("data", "coco_train160", "images", "train2017")  # training images: coco128 is only evaluated on


def _image(shared) -> torch.Tensor:
    path = shared("data", "coco128", "images", "train2017", "000000000036.jpg")
    return torch.from_numpy(_letterbox(path, 640)).permute(2, 0, 1)[None].float() / 255


@pytest.mark.shared
def test_reinserted_batchnorm_keeps_the_fused_output_and_gets_real_statistics(shared, tmp_path):
    export = shared(*EXPORT)
    x = _image(shared)
    fused = yolo_from_openvino(export)
    model = trainable_yolo_from_openvino(export)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) > 50
    assert all(getattr(m, "bias", None) is None for m in model.modules() if hasattr(m, "bn"))
    with torch.no_grad():
        ref = fused(x)[0]
        before = model(x)[0]
        files = sorted(shared(*CALIBRATION).glob("*.jpg"))[:4]
        info = calibrate_batchnorm(model, files, imgsz=320)
        after = model(x)[0]
    assert info["images"] == 4
    assert (before - ref).abs().max() < 0.02  # float rounding (outputs in pixels)
    assert (after - ref).abs().max() < 0.02
    # statistics were measured: not the identity placeholder (mean 0, var 1) any more
    assert all(bn.running_mean.abs().sum() > 0 for bn in bns)
    assert not torch.allclose(bns[0].running_var, torch.ones_like(bns[0].running_var))
    assert any(p.requires_grad for p in model.parameters())

    pt = save_yolo_checkpoint(model, tmp_path / "rebuilt.pt")
    yolo = load_trainable_pt(pt)
    assert yolo.task == "detect"
    assert yolo.names == fused.names
    result = yolo.predict(np.asarray(x[0].permute(1, 2, 0) * 255, np.uint8)[:, :, ::-1].copy(), imgsz=640, verbose=False)[0]
    assert {result.names[int(c)] for c in result.boxes.cls[result.boxes.conf > 0.5]} >= {"person", "umbrella"}


def test_files_that_are_not_detectors_get_typed_errors(tmp_path):
    with pytest.raises(WeightsNotAvailableError, match="OpenVINO export folder"):
        trainable_yolo(tmp_path / "missing_openvino_model")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="not an ultralytics detection checkpoint") as info:
        trainable_yolo(garbage)
    assert isinstance(info.value, ValueError)
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"\x00")
    with pytest.raises(WeightsError, match="OpenVINO export folder"):
        trainable_yolo(onnx)


@pytest.mark.shared
def test_class_names_of_an_export_and_typed_errors_for_what_cannot_be_fine_tuned(shared, tmp_path):
    names = trainable_class_names(shared(*EXPORT))
    assert len(names) == 80
    assert names[0] == "person"
    assert names[79] == "toothbrush"
    with pytest.raises(WeightsNotAvailableError, match="OpenVINO export folder"):
        trainable_class_names(tmp_path / "missing_openvino_model")
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"\x00")
    with pytest.raises(WeightsError, match="cannot be fine-tuned"):
        trainable_class_names(onnx)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="not an ultralytics detection checkpoint"):
        trainable_class_names(garbage)


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("export_name", ["yolo11n_int8_openvino_model", "yolov8n_int8_openvino_model"])
def test_rebuilt_yolo_val_is_within_001_of_the_export_on_coco128(shared, tmp_path, export_name):
    """Full coco128 (128 images): about 20 s per detector on one CPU thread. Both models see the same 640x640
    letterboxed inputs (the static export cannot run rectangular batches). Measured mAP50-95, rebuilt vs export:
    YOLO11n 0.5038 vs 0.4953, YOLOv8n 0.4511 vs 0.4573: the rebuilt network keeps float activations where the export
    rounds them to INT8. (ultralytics' default .pt val, rect batches of 8: 0.5053 and 0.4437.)"""
    from sr4det.integrations.ultralytics.offline import import_ultralytics
    from sr4det.integrations.ultralytics.yolo_data import yolo_dataset

    import_ultralytics()
    from ultralytics import YOLO

    export = shared("weights", export_name)
    data = yolo_dataset(shared("data", "coco128", "coco128.yaml"), tmp_path / "coco128")
    model = trainable_yolo(export, calibration=shared(*CALIBRATION), max_images=8, imgsz=320, out=tmp_path / "rebuilt.pt")
    kw = dict(
        data=str(data),
        imgsz=640,
        batch=1,
        rect=False,
        device="cpu",
        plots=False,
        verbose=False,
        workers=0,
        project=str(tmp_path / "runs"),
        exist_ok=True,
    )
    ours = model.val(name="rebuilt", **kw).box.map
    theirs = YOLO(str(export), task="detect").val(name="export", **kw).box.map
    assert 0.45 < theirs < 0.55  # SOURCES.md: 0.4953
    assert abs(ours - theirs) < 0.01, (ours, theirs)

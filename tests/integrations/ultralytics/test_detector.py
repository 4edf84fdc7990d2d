"""UltralyticsDetector on the real shared weights (OpenVINO and ONNX), plus offline setup and input checks."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from sr4det.detectors.base import Detections, Detector
from sr4det.errors import InputError, WeightsNotAvailableError

IMAGE = ("data", "coco128", "images", "train2017", "000000000036.jpg")


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix of xyxy boxes a (N,4) and b (M,4)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None] - inter)


@pytest.fixture(scope="module")
def image36(shared):
    return np.asarray(Image.open(shared(*IMAGE)).convert("RGB"))


@pytest.fixture(scope="module")
def openvino_det(shared):
    pytest.importorskip("openvino")
    from sr4det.integrations.ultralytics.detector import UltralyticsDetector

    return UltralyticsDetector(shared("weights", "yolo11n_int8_openvino_model"), conf=0.25)


@pytest.fixture(scope="module")
def onnx_det(shared):
    pytest.importorskip("onnxruntime")
    from sr4det.integrations.ultralytics.detector import UltralyticsDetector

    return UltralyticsDetector(shared("weights", "yolov8n_dynamic_int8.onnx"), conf=0.25)


def test_offline_helper_places_font_and_config(tmp_path, monkeypatch):
    from sr4det.integrations.ultralytics.offline import configure_ultralytics

    monkeypatch.delenv("YOLO_CONFIG_DIR", raising=False)
    folder = configure_ultralytics()
    assert os.environ["YOLO_OFFLINE"] == "1"
    assert (folder / "Arial.ttf").stat().st_size > 100_000  # DejaVuSans, a real TrueType file
    with open(folder / "Arial.ttf", "rb") as f:
        assert f.read(4) == b"\x00\x01\x00\x00"  # TrueType magic


@pytest.mark.shared
@pytest.mark.parametrize("which", ["openvino_det", "onnx_det"])
def test_finds_person_and_umbrella(which, image36, request):
    det = request.getfixturevalue(which)
    assert isinstance(det, Detector)
    (d,) = det([image36])
    assert isinstance(d, Detections)
    assert d.image_size == image36.shape[:2]
    found = {det.names[int(c)] for c in d.labels}
    assert {"person", "umbrella"} <= found, found
    assert d.scores.max() > 0.85  # SOURCES.md spot check: about 0.9 for both objects
    # boxes are in the given image's frame (not the 640 letterbox frame)
    h, w = image36.shape[:2]
    assert (d.boxes[:, [0, 2]] >= -1).all()
    assert (d.boxes[:, [0, 2]] <= w + 1).all()
    assert (d.boxes[:, [1, 3]] >= -1).all()
    assert (d.boxes[:, [1, 3]] <= h + 1).all()
    assert det.config["weights"]
    assert det.config["conf"] == 0.25


@pytest.mark.shared
def test_boxes_follow_the_image_frame(openvino_det, image36):
    """A 2x upscaled copy gives the same objects at 2x the coordinates: no letterbox-frame leak."""
    big = np.asarray(Image.fromarray(image36).resize((image36.shape[1] * 2, image36.shape[0] * 2), Image.BICUBIC))
    small, large = openvino_det([image36, big])
    assert large.image_size == big.shape[:2]
    top_s = small.boxes[np.argsort(-small.scores)[:2]]
    top_l = large.boxes[np.argsort(-large.scores)[:2]] / 2
    assert _iou(top_s, top_l).max(axis=1).min() > 0.9


@pytest.mark.shared
def test_channel_order_is_rgb(onnx_det, image36, monkeypatch):
    """ultralytics reads numpy arrays as BGR: the adapter must hand it the channels reversed, exactly once."""
    seen = []
    original = onnx_det.model.predict

    def spy(source, **kw):
        seen.extend(source)
        return original(source, **kw)

    monkeypatch.setattr(onnx_det.model, "predict", spy)
    onnx_det([image36])
    np.testing.assert_array_equal(seen[0], image36[:, :, ::-1])


@pytest.mark.shared
def test_openvino_and_onnx_agree(openvino_det, onnx_det, image36):
    """Two different exports (YOLO11n int8, YOLOv8n int8) find the same confident objects at the same places."""
    (a,) = openvino_det([image36])
    (b,) = onnx_det([image36])
    a_keep, b_keep = a.scores >= 0.5, b.scores >= 0.5
    assert a_keep.sum() >= 2
    assert b_keep.sum() >= 2
    iou = _iou(a.boxes[a_keep], b.boxes[b_keep])
    best = iou.argmax(axis=1)
    assert (iou.max(axis=1) > 0.8).all(), iou
    assert (a.labels[a_keep] == b.labels[b_keep][best]).all()


@pytest.mark.shared
def test_batch_equals_single(onnx_det, image36, shared):
    other = np.asarray(Image.open(shared("data", "coco128", "images", "train2017", "000000000009.jpg")).convert("RGB"))
    both = onnx_det([image36, other])
    alone = onnx_det([other])[0]
    assert both[1].image_size == other.shape[:2]
    np.testing.assert_allclose(np.sort(both[1].scores), np.sort(alone.scores), atol=1e-4)


@pytest.mark.shared
def test_gray_input_accepted_and_bad_input_rejected(onnx_det, image36):
    gray = image36.mean(axis=2).astype(np.uint8)
    (d,) = onnx_det([gray])
    assert d.image_size == gray.shape
    with pytest.raises(InputError):
        onnx_det([image36.astype(np.float32)])
    with pytest.raises(InputError):
        onnx_det([image36[:, :, :2]])


def test_missing_weights_are_a_typed_error(tmp_path):
    from sr4det.integrations.ultralytics.detector import UltralyticsDetector

    with pytest.raises(WeightsNotAvailableError):
        UltralyticsDetector(tmp_path / "nope.pt")
    with pytest.raises(WeightsNotAvailableError, match="SR4DET_OFFLINE"):
        UltralyticsDetector("yolov8n.pt")  # an official name, but tests run offline


def test_accepts_a_yolo_object():
    """A YOLO built from a yaml (random weights, no download) runs through the adapter with its own names."""
    from sr4det.integrations.ultralytics.detector import UltralyticsDetector
    from sr4det.integrations.ultralytics.offline import import_ultralytics

    import_ultralytics()
    from ultralytics import YOLO

    det = UltralyticsDetector(YOLO("yolov8n.yaml"), imgsz=64, conf=0.0, max_det=5, device="cpu")
    assert len(det.names) == 80
    assert det.config["imgsz"] == 64
    rng = np.random.default_rng(0)
    out = det([rng.integers(0, 256, (50, 70, 3), dtype=np.uint8)])
    assert len(out) == 1
    assert out[0].image_size == (50, 70)
    assert len(out[0]) <= 5
    with pytest.raises(InputError):
        UltralyticsDetector(object())


def test_detection_keeps_torch_threads_and_openvino_runs_on_them(shared, image36):
    """ultralytics' select_device() resets torch's intra-op threads (to min(8, cores - 1)); a detection must not
    change what the caller (``--threads``, torchrun's per-rank share) set, and the OpenVINO export must run on it."""
    import torch

    pytest.importorskip("openvino")
    from sr4det.integrations.ultralytics.detector import UltralyticsDetector

    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            det = UltralyticsDetector(shared("weights", "yolo11n_int8_openvino_model"), conf=0.25)
            boxes = det([image36])[0].boxes
            assert torch.get_num_threads() == threads
            compiled = det.model.predictor.model.backend.ov_compiled_model
            assert int(compiled.get_property("INFERENCE_NUM_THREADS")) == threads
            if threads == 1:
                first = boxes
        np.testing.assert_array_equal(boxes, first)  # the thread count does not change the detections
    finally:
        torch.set_num_threads(before)

"""TorchvisionDetector with randomly initialised models (no downloads): outputs, frames, the exposed resize."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.models import detection

from sr4det.detectors.base import Detections, Detector
from sr4det.errors import InputError, WeightsNotAvailableError
from sr4det.integrations.torchvision.detector import TorchvisionDetector

BUILDERS = {
    "fasterrcnn": lambda: detection.fasterrcnn_mobilenet_v3_large_fpn(weights=None, weights_backbone=None, num_classes=91),
    "retinanet": lambda: detection.retinanet_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91),
    "ssd": lambda: detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=91),
    "fcos": lambda: detection.fcos_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91),
}


def _seen_sizes(det: TorchvisionDetector) -> list:
    """Record the (padded) batch size the backbone receives."""
    seen = []
    det.model.backbone.register_forward_pre_hook(lambda m, args: seen.append(tuple(args[0].shape[-2:])))
    return seen


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_families_return_detections_in_the_image_frame(kind):
    torch.manual_seed(0)
    # score 0 keeps random-init outputs for the frame checks; two-stage / SSD NMS over all of them is slow on CPU
    thresh = 0.0 if kind in ("retinanet", "fcos") else 0.05
    det = TorchvisionDetector(BUILDERS[kind](), device="cpu", score_thresh=thresh, min_size=96, max_size=160)
    assert det.score_thresh == thresh
    assert isinstance(det, Detector)
    assert det.min_size == 96
    assert det.max_size == 160
    assert det.fixed_size is None
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (60, 90, 3), dtype=np.uint8), rng.integers(0, 256, (40, 30), dtype=np.uint8)]
    out = det(images)
    assert len(out) == 2
    assert all(isinstance(d, Detections) for d in out)
    for d, im in zip(out, images, strict=True):
        assert d.image_size == im.shape[:2]
        if len(d):  # torchvision clips boxes to the original image after mapping back from its resized frame
            h, w = im.shape[:2]
            assert d.boxes[:, [0, 2]].max() <= w + 1e-3
            assert d.boxes[:, [1, 3]].max() <= h + 1e-3
            assert set(np.unique(d.labels)) <= set(range(91))
    assert det.names[1] == "person"
    assert det.config["min_size"] == 96


def test_min_size_controls_what_the_model_sees():
    det = TorchvisionDetector(BUILDERS["fasterrcnn"](), device="cpu")
    seen = _seen_sizes(det)
    img = np.zeros((100, 150, 3), np.uint8)
    det.min_size, det.max_size = 200, 1000
    det([img])
    assert seen[-1] == (224, 320)  # 200x300 padded to multiples of 32
    det.native_size = True
    det([img, np.zeros((64, 64, 3), np.uint8)])
    assert set(seen[-2:]) == {(128, 160), (64, 64)}  # each image at its own size (padded)
    assert det.min_size == 200  # native runs restore the setting


def test_ssd_fixed_size_is_exposed_and_overridable():
    det = TorchvisionDetector(BUILDERS["ssd"](), device="cpu")
    assert det.fixed_size == (320, 320)
    seen = _seen_sizes(det)
    det([np.zeros((50, 80, 3), np.uint8)])
    assert seen[-1] == (320, 320)
    det.min_size = 100
    assert det.fixed_size is None


def test_bad_inputs():
    with pytest.raises(InputError):
        TorchvisionDetector(torch.nn.Linear(2, 2))
    det = TorchvisionDetector(BUILDERS["fasterrcnn"](), device="cpu")
    with pytest.raises(InputError):
        det([np.zeros((10, 10, 3), np.float32)])


def test_named_model_offline_is_a_typed_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsNotAvailableError):
        TorchvisionDetector("fasterrcnn_mobilenet_v3_large_320_fpn")
    det = TorchvisionDetector("fasterrcnn_mobilenet_v3_large_320_fpn", weights=None, weights_backbone=None, device="cpu")
    assert det.min_size == 320

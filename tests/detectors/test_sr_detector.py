"""SRDetector: SR then detection, boxes mapped back to the LR frame."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sr4det.detectors.base import Detections, Detector
from sr4det.detectors.sr import SRDetector
from sr4det.transforms import Degrade, SRTransform


class _Corner:
    """Finds one 'object': the brightest pixel's cell, as a box in the frame it was given."""

    names = {0: "spot"}

    def __init__(self):
        self.sizes = []

    def __call__(self, images):
        out = []
        for im in images:
            self.sizes.append(im.shape[:2])
            y, x = np.unravel_index(np.argmax(im[..., 0]), im.shape[:2])
            out.append(Detections([[x, y, x + 1, y + 1]], [1.0], [0], self.names, im.shape[:2]))
        return out


def test_maps_boxes_back_to_the_lr_frame():
    img = np.zeros((10, 12, 3), np.uint8)
    img[3, 7] = 255
    fake = _Corner()
    det = SRDetector(SRTransform("bicubic", scale=4, tile=None), fake)
    assert isinstance(det, Detector)
    assert det.names == {0: "spot"}
    assert det.scale == 4
    (d,) = det([img])
    assert fake.sizes == [(40, 48)]  # the detector saw the SR image
    assert d.image_size == (10, 12)
    # the peak of bicubic x4 of one bright pixel lies inside that pixel's 4x4 block
    assert 7 <= d.boxes[0, 0] < 8
    assert 3 <= d.boxes[0, 1] < 4
    (raw,) = SRDetector(SRTransform("bicubic", scale=4, tile=None), _Corner(), map_back=False)([img])
    assert raw.image_size == (40, 48)
    np.testing.assert_allclose(raw.boxes / 4, d.boxes)
    assert det.config["sr"]["model"] == "bicubic"
    assert det.config["detector"]["type"] == "_Corner"


@pytest.mark.shared
def test_real_lr_image_finds_person_and_umbrella(shared):
    pytest.importorskip("openvino")
    from sr4det.integrations.ultralytics.detector import UltralyticsDetector

    hr = np.asarray(Image.open(shared("data", "coco128", "images", "train2017", "000000000036.jpg")).convert("RGB"))
    lr = Degrade(4)(hr)
    yolo = UltralyticsDetector(shared("weights", "yolo11n_int8_openvino_model"), conf=0.25)
    det = SRDetector(SRTransform("bicubic", scale=4, tile=None), yolo)
    (d,) = det([lr])
    assert d.image_size == lr.shape[:2]
    assert {"person", "umbrella"} <= {det.names[int(c)] for c in d.labels}
    # LR-frame boxes x4 overlap the HR detections of the same objects
    (ref,) = yolo([hr])
    top = d.boxes[np.argmax(d.scores)] * 4
    ious = []
    for b in ref.boxes:
        lt, rb = np.maximum(top[:2], b[:2]), np.minimum(top[2:], b[2:])
        inter = np.prod(np.clip(rb - lt, 0, None))
        ious.append(inter / (np.prod(top[2:] - top[:2]) + np.prod(b[2:] - b[:2]) - inter))
    assert max(ious) > 0.7

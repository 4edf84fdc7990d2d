"""A detector export that ultralytics cannot build fails as a DetectorError naming the export, not a traceback."""

from __future__ import annotations

import pytest

from sr4det.errors import DetectorError, InputError


def test_openvino_folder_without_metadata_names_metadata_yaml(tmp_path):
    pytest.importorskip("openvino")
    from sr4det.integrations.ultralytics.detector import UltralyticsDetector

    folder = tmp_path / "fake_openvino_model"
    folder.mkdir()
    (folder / "model.xml").write_text("not a model")
    with pytest.raises(DetectorError, match="metadata.yaml"):
        UltralyticsDetector(folder)


# ------------------------------------------------------------------------------------------------ Detections


@pytest.mark.parametrize(
    ("boxes", "scores", "labels", "match"),
    [
        ([[float("nan"), 0, 5, 5]], [0.5], [0], "NaN/Inf"),
        ([[0, 0, 5, 5]], [float("inf")], [0], "NaN/Inf"),
        ([[0, 0, 5, 5]], [7.0], [0], "sigmoid"),  # logits: conf thresholds would be meaningless
        ([[10, 10, 5, 5]], [0.5], [0], "box_convert"),  # x, y, w, h given as x1, y1, x2, y2
        ([[0, 0, 5, 5]], [0.5], [0.7], "integer class indices"),  # was truncated to class 0
    ],
)
def test_detections_refuse_values_coco_evaluation_would_score_wrong(boxes, scores, labels, match):
    from sr4det.detectors.base import Detections

    with pytest.raises(InputError, match=match):
        Detections(boxes, scores, labels, {0: "x"}, (10, 10))


def test_detections_accept_rounding_and_integral_float_labels():
    import numpy as np

    from sr4det.detectors.base import Detections

    d = Detections([[0, 0, 5, 5], [1, 1, 1, 1]], [1.0000001, 0.0], np.array([1.0, 0.0]), {0: "x", 1: "y"}, (10, 10))
    assert d.labels.tolist() == [1, 0]


# ------------------------------------------------------------------------------------------------ cache identity


def test_torchvision_models_of_one_class_have_different_cache_identities():
    # the identity was the class name: a fine-tuned FasterRCNN reused the cached detections of another
    import torch
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn

    from sr4det.detectors import TorchvisionDetector
    from sr4det.evaluation.cache import detector_identity

    torch.manual_seed(0)
    a = TorchvisionDetector(fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None), device="cpu")
    b = TorchvisionDetector(fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None), device="cpu")
    assert detector_identity(a) == detector_identity(a)
    assert detector_identity(a) != detector_identity(b)
    b.model.load_state_dict(a.model.state_dict())
    assert detector_identity(a) == detector_identity(b)
    b.model.roi_heads.detections_per_img = 5  # post-processing changes the outputs too
    assert detector_identity(a) != detector_identity(b)


def test_sr_detectors_with_other_sr_weights_have_different_cache_identities():
    import sr4det
    from sr4det.detectors import SRDetector
    from sr4det.detectors.base import Detections
    from sr4det.evaluation.cache import detector_identity

    class Fixed:
        names = {0: "x"}
        config = {"type": "fixed"}

        def __call__(self, images):
            return [Detections([], [], [], self.names, im.shape[:2]) for im in images]

    trained = SRDetector(sr4det.create_model("espcn", 4, pretrained=True), Fixed())
    random = SRDetector(sr4det.create_model("espcn", 4, pretrained=False), Fixed())
    assert detector_identity(trained) != detector_identity(random)

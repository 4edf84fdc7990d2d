"""A PyTorch YOLO rebuilt from the shared OpenVINO exports predicts what the export predicts, and feeds a perceptual loss."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from sr4det.errors import ConfigError, DataError, WeightsError, WeightsNotAvailableError
from sr4det.integrations.ultralytics.recover import yolo_from_openvino
from sr4det.integrations.ultralytics.trainable import trainable_class_names
from sr4det.training.losses import FeatureLoss, build_feature_extractor

IMAGE = ("data", "coco128", "images", "train2017", "000000000036.jpg")
EXPORTS = ["yolov8n_int8_openvino_model", "yolo11n_int8_openvino_model"]


def _letterboxed(shared) -> torch.Tensor:
    rgb = Image.open(shared(*IMAGE)).convert("RGB").resize((640, 640), Image.BICUBIC)
    return torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1)[None].float() / 255


@pytest.mark.shared
@pytest.mark.parametrize("export", EXPORTS)
def test_rebuilt_network_matches_the_openvino_export(shared, export):
    import openvino as ov

    folder = shared("weights", export)
    x = _letterboxed(shared)
    model = yolo_from_openvino(folder)
    with torch.no_grad():
        ours = model(x)
    ours = (ours[0] if isinstance(ours, (list, tuple)) else ours).numpy()
    theirs = ov.Core().compile_model(str(next(folder.glob("*.xml"))), "CPU")(x.numpy())[0]
    assert ours.shape == theirs.shape == (1, 84, 8400)
    scores_ours, scores_theirs = ours[0, 4:], theirs[0, 4:]
    # only INT8 activation rounding separates the two: scores agree closely, boxes to about a pixel
    assert np.corrcoef(scores_ours.ravel(), scores_theirs.ravel())[0, 1] > 0.98
    assert np.median(np.abs(ours[0, :4] - theirs[0, :4])) < 2.0
    confident = scores_theirs.max(0) > 0.5
    assert confident.sum() > 0
    assert np.array_equal(scores_ours.argmax(0)[confident], scores_theirs.argmax(0)[confident])
    assert not any(p.requires_grad for p in model.parameters())


@pytest.mark.shared
def test_detector_features_give_a_perceptual_loss_with_gradients(shared):
    extractor = build_feature_extractor("ultralytics", shared("weights", EXPORTS[0]), layer=5)
    loss_fn = FeatureLoss(extractor)
    target = _letterboxed(shared)[..., :128, :128]
    pred = (target + 0.05 * torch.randn_like(target)).clamp(0, 1).requires_grad_(True)
    loss = loss_fn(pred, target)
    loss.backward()
    assert loss.item() > 0
    assert loss_fn(target, target).item() == 0.0
    assert pred.grad is not None
    assert pred.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in extractor.parameters())


@pytest.mark.shared
def test_wrong_architecture_and_missing_files_are_named(shared, tmp_path):
    folder = shared("weights", EXPORTS[0])
    with pytest.raises(WeightsError, match="yolov8s"):
        yolo_from_openvino(folder, arch="yolov8s")
    with pytest.raises(WeightsError, match="yolo11n"):
        yolo_from_openvino(folder, arch="yolo11n")
    with pytest.raises(WeightsNotAvailableError):
        yolo_from_openvino(tmp_path / "nope_openvino_model")
    # an export without metadata.yaml cannot tell its architecture: ask for arch=
    bare = tmp_path / "bare_openvino_model"
    bare.mkdir()
    for f in folder.glob("*.*"):
        if f.suffix in (".xml", ".bin"):
            shutil.copyfile(f, bare / f.name)
    with pytest.raises(WeightsError, match="arch="):
        yolo_from_openvino(bare)
    assert yolo_from_openvino(bare, arch="yolov8n") is not None


def test_not_an_export_is_refused(tmp_path):
    bogus = tmp_path / "weights.bin"
    bogus.write_bytes(b"\x00" * 16)
    with pytest.raises(WeightsError, match="neither"):
        yolo_from_openvino(bogus)
    empty = tmp_path / "empty_openvino_model"
    empty.mkdir()
    with pytest.raises(WeightsError, match="exactly one"):
        yolo_from_openvino(empty)


@pytest.mark.parametrize(
    "text,where",
    [
        ("task: detect\nnames: {0: person, 1: car\ndescription: Ultralytics YOLOv8n model\n", "metadata.yaml:3:"),
        ("task: detect\nnames: !!python/object/apply:os.system [echo hi]\n", "metadata.yaml:2:"),
        ("- task\n- detect\n", "not a mapping"),
    ],
    ids=["syntax", "python-tag", "list"],
)
def test_a_broken_metadata_yaml_is_a_config_error_naming_file_line_and_column(tmp_path, text, where):
    # read through the project's one YAML reader (sr4det/_yaml_file.py), before OpenVINO reads any weight
    export = tmp_path / "fake_openvino_model"
    export.mkdir()
    (export / "fake.xml").write_text("<net/>")
    (export / "metadata.yaml").write_text(text)
    for load in (yolo_from_openvino, trainable_class_names):
        with pytest.raises(ConfigError, match=f"OpenVINO export metadata .*{where}") as info:
            load(export)
        assert isinstance(info.value, DataError)

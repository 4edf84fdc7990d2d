"""Detector-in-the-loop training: box-carrying crops, the three detector loss terms (gradients reach the SR
network and never the detector), configuration errors, and a short end-to-end run on real COCO crops."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from sr4det.data.io import write_image
from sr4det.errors import DataError, InputError
from sr4det.integrations.ultralytics.detector_losses import (
    DetectionLoss,
    FeatureDistillation,
    OutputDistillation,
    TrainingDetector,
)
from sr4det.models import build_network, create_model, read_weights
from sr4det.training import TrainConfig, train
from sr4det.training.detection_data import DetectionPatches

NAMES = {0: "person", 1: "car", 2: "dog"}


@pytest.fixture(scope="module")
def detector():
    """A random-weight YOLOv8n (ultralytics' own YAML, built offline), fused and frozen like a real one."""
    from sr4det.integrations.ultralytics.offline import import_ultralytics

    import_ultralytics()
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(0)
    model = DetectionModel("yolov8n.yaml", nc=len(NAMES), verbose=False)
    model.fuse(verbose=False)
    with torch.no_grad():  # variance-keeping weights, so outputs depend on the input as a trained net's do
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.Conv2d) and not name.endswith("dfl.conv"):  # DFL's conv is a fixed projection
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    model.names = dict(NAMES)
    return TrainingDetector(model, name="random-yolov8n")


@pytest.fixture()
def coco(tmp_path):
    """4 black images with white boxes drawn exactly where their annotations say, as a COCO json."""
    img_dir = tmp_path / "images"
    rng = np.random.default_rng(0)
    images, anns = [], []
    for i in range(4):
        h, w = 96 + 8 * i, 128
        img = np.zeros((h, w, 3), np.uint8)
        for _ in range(2):
            bw, bh = rng.integers(12, 30, size=2)
            x, y = rng.integers(0, w - bw), rng.integers(0, h - bh)
            img[y : y + bh, x : x + bw] = 255
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": int(rng.choice([1, 3, 18])),
                    "bbox": [float(x), float(y), float(bw), float(bh)],
                    "area": float(bw * bh),
                    "iscrowd": 0,
                }
            )
        write_image(img_dir / f"{i}.png", img)
        images.append({"id": i + 1, "file_name": f"{i}.png", "height": h, "width": w})
    cats = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}, {"id": 18, "name": "dog"}]
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return path


# ------------------------------------------------------------------------------------------------ crops


def test_crops_carry_boxes_that_land_on_their_objects(coco):
    data = DetectionPatches(coco, 2, NAMES)
    rng = np.random.default_rng(1)
    seen = 0
    for _ in range(10):
        b = data.sample(4, 16, rng)
        assert b.lr.shape == (4, 3, 16, 16)
        assert b.hr.shape == (4, 3, 32, 32)
        t = b.targets
        assert t["cls"].shape == (len(t["batch_idx"]), 1)
        assert set(t["cls"].ravel().tolist()) <= {0.0, 1.0, 2.0}
        for i, (cx, cy, w, h) in zip(t["batch_idx"].long().tolist(), (t["bboxes"] * 32).tolist(), strict=True):
            x1, y1, x2, y2 = int(round(cx - w / 2)), int(round(cy - h / 2)), int(round(cx + w / 2)), int(round(cy + h / 2))
            inside = b.hr[i, :, y1:y2, x1:x2]
            # after crop, clip and flip the box still covers white object pixels only
            assert inside.numel()
            assert float(inside.min()) > 0.99
            seen += 1
    assert seen > 10


def test_categories_the_detector_lacks_are_refused(coco):
    with pytest.raises(DataError, match="no detector class"):
        DetectionPatches(coco, 2, {0: "person", 1: "car"})


# ------------------------------------------------------------------------------------------------ loss terms


@pytest.fixture()
def batch(coco):
    return DetectionPatches(coco, 2, NAMES).sample(2, 32, np.random.default_rng(0))


def _sr_net(seed: int = 0):
    torch.manual_seed(seed)
    net, _ = build_network("rfdn", 2, nf=8, num_modules=1)
    return net


def _loss_fn(kind: str, detector):
    if kind == "feature":
        return lambda s, t, targets: FeatureDistillation()(s, t)
    if kind == "output":
        return lambda s, t, targets: OutputDistillation()(s, t)
    crit = DetectionLoss(detector)
    return lambda s, t, targets: crit(s, targets)


@pytest.mark.parametrize("kind", ["feature", "output", "detection"])
def test_a_step_lowers_the_loss_and_leaves_the_detector_alone(detector, batch, kind):
    net = _sr_net()
    before = {k: v.clone() for k, v in detector.state_dict().items()}
    loss_fn = _loss_fn(kind, detector)
    with torch.no_grad():
        teacher = detector(batch.hr)

    def loss():
        return loss_fn(detector(net(batch.lr).clamp(0, 1)), teacher, batch.targets)

    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    first = loss()
    first.backward()
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in net.parameters())
    assert all(p.grad is None for p in detector.parameters())
    opt.step()
    for _ in range(4):
        opt.zero_grad()
        loss().backward()
        opt.step()
    with torch.no_grad():
        assert float(loss()) < float(first)
    assert all(torch.equal(v, detector.state_dict()[k]) for k, v in before.items())
    assert not detector.training


def test_distillation_is_zero_at_the_teacher_and_positive_elsewhere(detector, batch):
    with torch.no_grad():
        t = detector(batch.hr)
        s = detector(batch.hr.flip(-1))
    assert float(FeatureDistillation()(t, t)) == pytest.approx(0, abs=1e-7)
    assert float(OutputDistillation()(t, t)) == pytest.approx(0, abs=1e-6)
    assert float(FeatureDistillation()(s, t)) > 0
    assert float(OutputDistillation()(s, t)) > 0


def test_detector_input_must_fit_its_stride(detector):
    with pytest.raises(InputError, match="multiples of 32"):
        detector(torch.rand(1, 3, 40, 64))


# ------------------------------------------------------------------------------------------------ configuration


def test_detector_terms_need_a_detector_and_data(tmp_path):
    with pytest.raises(InputError, match="detector=PATH"):
        train(TrainConfig(model="rfdn", scale=4, data=[], out=str(tmp_path), detection_weight=1.0))
    with pytest.raises(InputError, match=">= 0"):
        train(TrainConfig(model="rfdn", scale=4, data=["x"], out=str(tmp_path), pixel_weight=-1.0))


def test_objective_names_what_the_weights_are_for():
    base = dict(model="rfdn", scale=4, data=["x"], out="o")
    assert TrainConfig(**base).objective == "pixel"
    assert TrainConfig(**base, gan_weight=1e-3).objective == "gan"
    assert TrainConfig(**base, distill_output_weight=1.0, detector="d", det_data="j").objective == "detection"


@pytest.mark.shared
def test_y_models_and_misaligned_crops_are_refused(shared, tmp_path):
    det = str(shared("weights", "yolo11n_int8_openvino_model"))
    js = str(shared("data", "coco_train160", "annotations", "instances_train2017.json"))
    common = dict(
        data=[], out=str(tmp_path), detector=det, det_data=js, distill_output_weight=1.0, progress=False, limit_images=2
    )
    with pytest.raises(InputError, match="RGB post-upsampling"):
        train(TrainConfig(model="espcn", scale=4, patch=64, **common))
    with pytest.raises(InputError, match="multiple of the detector stride 32"):
        train(TrainConfig(model="rfdn", scale=4, patch=30, **common))


# ------------------------------------------------------------------------------------------------ end to end


@pytest.mark.slow
@pytest.mark.shared
def test_short_run_on_four_coco_images_end_to_end(shared, tmp_path):
    """4 coco_train160 images, every detector term on, through the real YOLO11n rebuilt from its export;
    the exported file records its objective and detector and loads as an SRModel."""
    export = tmp_path / "rfdn_det_x2.pt"
    cfg = TrainConfig(
        model="rfdn",
        scale=2,
        data=[],
        out=str(tmp_path / "run"),
        model_kwargs={"nf": 8, "num_modules": 1},
        detector=str(shared("weights", "yolo11n_int8_openvino_model")),
        det_data=str(shared("data", "coco_train160", "annotations", "instances_train2017.json")),
        limit_images=4,
        steps=3,
        batch=2,
        patch=32,
        pixel_weight=0.1,
        distill_feature_weight=1.0,
        distill_output_weight=1.0,
        detection_weight=0.1,
        det_warmup=2,
        grad_clip=1.0,
        lr=1e-4,
        progress=False,
        log_every=1,
        export=str(export),
        export_half="no",
    )
    res = train(cfg)
    assert res.step == 3
    assert np.isfinite(res.loss)
    with open(tmp_path / "run" / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert all(float(r[k]) > 0 for r in rows for k in ("pixel", "det_feature", "det_output", "det_loss"))
    wf = read_weights(export)
    assert wf.meta["objective"] == "detection"
    assert wf.meta["detector"] == "yolo11n_int8_openvino_model"
    assert wf.meta["data"] == ["coco_train160"]
    model = create_model("rfdn", 2, weights=export)
    assert model(torch.rand(1, 3, 20, 24)).shape == (1, 3, 40, 48)


@pytest.mark.shared
@pytest.mark.parametrize("export", ["yolo11n_int8_openvino_model", "yolov8n_int8_openvino_model"])
def test_both_shared_detectors_serve_as_training_detector(shared, export):
    from sr4det.integrations.ultralytics.detector_losses import load_training_detector

    det = load_training_detector(shared("weights", export))
    assert det.names[0] == "person"
    assert len(det.names) == 80
    assert det.stride == 32
    x = torch.rand(1, 3, 64, 96, requires_grad=True)
    out = det(x)
    assert out["scores"].shape == (1, 80, 2 * 3 + 4 * 6 + 8 * 12)
    assert len(out["feats"]) == 3
    OutputDistillation()(out, {k: (v.detach() if torch.is_tensor(v) else [f.detach() for f in v]) for k, v in out.items()})
    out["scores"].sum().backward()
    assert x.grad is not None
    assert float(x.grad.abs().sum()) > 0
    assert all(p.grad is None for p in det.parameters())


def test_random_degradation_makes_new_lr_per_crop_reproducibly(coco):
    """With a RandomDegradation every crop gets its own degradation from the sampler's generator: the same seed
    gives the same batch, the LR has the crop's exact size, and the HR crops and boxes are those of the clean path."""
    from sr4det.degradation import RandomDegradation

    rand = DetectionPatches(coco, 2, NAMES, degradation=RandomDegradation(2, p_clean=0.0))
    a, b = (rand.sample(3, 16, np.random.default_rng(5)) for _ in range(2))
    assert torch.equal(a.lr, b.lr) and a.lr.shape == (3, 3, 16, 16) and a.hr.shape == (3, 3, 32, 32)
    clean = DetectionPatches(coco, 2, NAMES).sample(3, 16, np.random.default_rng(5))
    assert not torch.equal(a.lr, clean.lr)
    assert a.hr.shape == clean.hr.shape and len(a.targets["bboxes"]) > 0


def test_training_degradation_option_is_checked(tmp_path):
    cfg = TrainConfig(model="espcn", scale=2, data=[str(tmp_path)], out=str(tmp_path / "o"), degradation="random")
    with pytest.raises(InputError, match="det_data"):
        cfg.validate()
    cfg = TrainConfig(model="espcn", scale=2, data=[str(tmp_path)], out=str(tmp_path / "o"), degradation="phone")
    with pytest.raises(InputError, match="preset"):
        cfg.validate()

"""The ultralytics hook: YOLO("yolov8n.yaml").train(epochs=1) offline on a tiny coco128 subset, every image
seen by the hook (Degrade x4 -> SR x4 at original resolution), every batch at the expected size."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import yaml

from sr4det.errors import InputError, ScaleError
from sr4det.integrations.ultralytics.hooks import SRHook, attach
from sr4det.transforms import Degrade, SRTransform

# sizes 640x480, 640x426 (not a multiple of 4: mod-crop + pad back), 481x640 and 640x428
IMAGES = ["000000000009", "000000000025", "000000000036", "000000000030"]


@pytest.fixture
def tiny_dataset(shared, tmp_path):
    root = shared("data", "coco128")
    names = yaml.safe_load((root / "coco128.yaml").read_text())["names"]
    for sub in ("images", "labels"):
        (tmp_path / sub).mkdir()
    for stem in IMAGES:
        shutil.copy(root / "images" / "train2017" / f"{stem}.jpg", tmp_path / "images")
        shutil.copy(root / "labels" / "train2017" / f"{stem}.txt", tmp_path / "labels")
    data = tmp_path / "tiny.yaml"
    data.write_text(yaml.safe_dump({"path": str(tmp_path), "train": "images", "val": "images", "names": names}))
    return data


def test_process_keeps_size_and_layout():
    hook = SRHook(Degrade(4), SRTransform("bicubic", scale=4, tile=None))
    rng = np.random.default_rng(0)
    bgr = rng.integers(0, 256, (30, 43, 3), dtype=np.uint8)
    out = hook.process(bgr, "a")
    assert out.shape == bgr.shape
    assert out.dtype == np.uint8
    assert hook.stats.images["a"] == ((30, 43), (7, 10), (30, 43))
    # BGR in, BGR out: a blue-only image stays blue-only
    blue = np.zeros((16, 16, 3), np.uint8)
    blue[..., 0] = 200
    res = hook.process(blue)
    assert res[..., 0].mean() > 150
    assert res[..., 1:].max() <= 2
    gray = hook.process(rng.integers(0, 256, (16, 16, 1), dtype=np.uint8))
    assert gray.shape == (16, 16, 1)
    lr_only = SRHook(4).process(bgr)
    assert lr_only.shape == (7, 10, 3)


def test_bad_arguments():
    with pytest.raises(ScaleError):
        SRHook(Degrade(2), SRTransform("bicubic", scale=4, tile=None))
    with pytest.raises(InputError):
        SRHook(None, None)
    with pytest.raises(InputError):
        attach(object(), degrade=4)


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_yolo_train_one_epoch_through_the_hook(tiny_dataset, tmp_path, monkeypatch):
    from sr4det.integrations.ultralytics.offline import import_ultralytics

    import_ultralytics()
    from ultralytics import YOLO
    from ultralytics.models.yolo.detect import DetectionTrainer, DetectionValidator

    batches = []  # (phase, im_files, tensor shape) of every batch ultralytics trains / validates on

    def spy(cls, name, phase):
        original = getattr(cls, name)

        def wrapped(self, batch):
            batches.append((phase, list(batch["im_file"]), tuple(batch["img"].shape)))
            return original(self, batch)

        monkeypatch.setattr(cls, name, wrapped)

    spy(DetectionTrainer, "preprocess_batch", "train")
    spy(DetectionValidator, "preprocess", "val")

    model = YOLO("yolov8n.yaml")
    hook = attach(model, degrade=Degrade(4), sr=SRTransform("bicubic", scale=4, tile=None))
    model.train(
        data=str(tiny_dataset),
        epochs=1,
        imgsz=64,
        batch=2,
        workers=0,
        device="cpu",
        plots=False,
        project=str(tmp_path / "runs"),
        name="hooked",
        exist_ok=True,
        amp=False,
        verbose=False,
        seed=0,
    )
    train = [b for b in batches if b[0] == "train"]
    val = [b for b in batches if b[0] == "val"]
    assert len(train) == 2  # 4 images, batch 2, one epoch
    assert sum(len(b[1]) for b in train) == 4
    assert val, "validation ran"
    for phase, files, shape in batches:
        assert shape[0] == len(files)
        assert shape[1] == 3
        if phase == "train":
            assert shape[-2:] == (64, 64)
        else:
            # rect val batches: letterboxed to stride multiples, ultralytics pads up to imgsz + stride
            assert all(s % 32 == 0 and 32 <= s <= 96 for s in shape[-2:])
        for f in files:
            assert f in hook.stats.images, f"{f} reached a {phase} batch without passing through the hook"
    from PIL import Image

    for f, (orig, lr, out) in hook.stats.images.items():
        w, h = Image.open(f).size
        assert orig == (h, w)
        assert lr == (h // 4, w // 4)
        assert out == (h, w)
    assert {f.rsplit("/", 1)[-1][:-4] for f in hook.stats.images} == set(IMAGES)

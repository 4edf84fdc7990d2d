"""The one degradation (sr4det.degradation): every entry point makes byte-identical LR images, with blur, noise and
JPEG on, and per-image noise seeds are the documented, stable function of (seed, pixels)."""

from __future__ import annotations

import hashlib
import json

import cv2
import numpy as np
import PIL.Image
import pytest
import torch
import yaml
from torchvision import tv_tensors

from sr4det.cli import main
from sr4det.data.io import read_image, write_image
from sr4det.degradation import DegradationSpec, degrade, noise_seed, pixel_key
from sr4det.detectors.base import Detections
from sr4det.errors import InputError, ScaleError
from sr4det.resize import imresize_uint8
from sr4det.transforms import Degrade

SPEC = DegradationSpec(scale=2, blur_sigma=1.0, noise_std=4.0, jpeg_quality=60, seed=3)
SIZE = (51, 38)  # not multiples of the scale: every entry point mod-crops the same way


def _hr(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h, w = SIZE
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 5, yy * 4, (xx + yy) * 3], axis=-1) % 256
    return np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


@pytest.fixture
def reference():
    hr = _hr()
    lr = SPEC(hr)
    assert lr.shape == (25, 19, 3)
    assert lr.dtype == np.uint8
    plain = DegradationSpec(2)(hr)
    assert np.abs(lr.astype(int) - plain).mean() > 2  # blur + noise + JPEG really did something
    return hr, lr


def test_degrade_transform_matches_the_kernel_for_every_input_type(reference):
    hr, lr = reference
    d = Degrade(2, blur_sigma=1.0, noise_std=4.0, jpeg_quality=60, seed=3)
    np.testing.assert_array_equal(d(hr), lr)
    np.testing.assert_array_equal(Degrade.from_spec(SPEC)(hr), lr)
    bgr = Degrade.from_spec(SPEC, channel_order="bgr")(np.ascontiguousarray(hr[..., ::-1]))
    np.testing.assert_array_equal(bgr[..., ::-1], lr)
    np.testing.assert_array_equal(np.asarray(d(PIL.Image.fromarray(hr))), lr)
    chw = torch.from_numpy(hr).permute(2, 0, 1).contiguous()
    np.testing.assert_array_equal(d(chw).permute(1, 2, 0).numpy(), lr)
    out = d({"image": tv_tensors.Image(chw)})["image"]
    np.testing.assert_array_equal(out.permute(1, 2, 0).numpy(), lr)
    batch = d(torch.stack([chw, torch.from_numpy(_hr(1)).permute(2, 0, 1)]))
    np.testing.assert_array_equal(batch[0].permute(1, 2, 0).numpy(), lr)
    np.testing.assert_array_equal(batch[1].permute(1, 2, 0).numpy(), SPEC(_hr(1)))


def test_compare_materialize_hook_training_mos_and_evaluate_sr_see_the_same_lr(reference, tmp_path, monkeypatch):
    hr, lr = reference
    root = tmp_path / "data"
    write_image(root / "images" / "a.png", hr)
    h, w = SIZE

    # compare: the detector of the "lr" condition receives the LR image itself
    from sr4det.data.datasets import load_coco
    from sr4det.evaluation import Degradation, compare

    coco = root / "instances.json"
    coco.write_text(
        json.dumps(
            {
                "images": [{"id": 1, "file_name": "a.png", "height": h, "width": w}],
                "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 20, 20], "area": 400, "iscrowd": 0}],
                "categories": [{"id": 1, "name": "thing"}],
            }
        )
    )
    seen = []

    class Recorder:
        names = {0: "thing"}

        def __call__(self, images):
            seen.extend(np.array(im) for im in images)
            return [Detections(np.zeros((0, 4)), [], [], self.names, im.shape[:2]) for im in images]

    assert Degradation is DegradationSpec
    compare(
        load_coco(coco, images=root / "images"),
        Recorder(),
        sr=[],
        scale=2,
        degradation=SPEC,
        cache_dir=False,
        n_resamples=0,
        progress=False,
    )
    lr_inputs = [im for im in seen if im.shape[:2] == lr.shape[:2]]
    assert len(lr_inputs) >= 1  # the untimed warm-up call sees the same image as the timed one
    for im in lr_inputs:
        np.testing.assert_array_equal(im, lr)

    # materialize (CLI, --sr none writes the LR images)
    (root / "labels").mkdir()
    (root / "labels" / "a.txt").write_text("0 0.5 0.5 0.4 0.4\n")
    data = root / "data.yaml"
    data.write_text(yaml.safe_dump({"train": "images", "val": "images", "names": ["thing"]}))
    out = tmp_path / "mat"
    assert (
        main(
            [
                "materialize",
                "--data",
                str(data),
                "-o",
                str(out),
                "--degrade",
                "2",
                "--sr",
                "none",
                "--blur-sigma",
                "1",
                "--noise-std",
                "4",
                "--jpeg-quality",
                "60",
                "--seed",
                "3",
                "--quiet",
            ]
        )
        == 0
    )
    np.testing.assert_array_equal(read_image(out / "images" / "a.png")[0], lr)

    # the ultralytics hook (ultralytics reads BGR with cv2.imread)
    from sr4det.integrations.ultralytics.hooks import SRHook

    bgr = cv2.imread(str(root / "images" / "a.png"))
    np.testing.assert_array_equal(SRHook(SPEC).process(bgr)[..., ::-1], lr)

    # SR training pairs and detection crops
    from sr4det.training.data import PairedPatches
    from sr4det.training.detection_data import DetectionPatches

    pairs = PairedPatches([root / "images"], 2, degradation=SPEC)
    np.testing.assert_array_equal(pairs.pairs[0].lr, lr)
    det = DetectionPatches(coco, 2, {0: "thing"}, degradation=SPEC)
    np.testing.assert_array_equal(det.items[0].lr, lr)
    with pytest.raises(InputError, match="differs"):
        PairedPatches([root / "images"], 4, degradation=SPEC)

    # evaluate-sr and mos create (CLI, same option names): spy on the LR they make
    import sr4det.metrics.sr_eval as sr_eval
    import sr4det.mos.create as mos_create

    made = []

    def spy(fn):
        def wrapped(*args, **kwargs):
            out = fn(*args, **kwargs)
            made.append(out)
            return out

        return wrapped

    monkeypatch.setattr(sr_eval, "make_lr", spy(sr_eval.make_lr))
    monkeypatch.setattr(mos_create, "degrade", spy(mos_create.degrade))
    opts = ["--blur-sigma", "1", "--noise-std", "4", "--jpeg-quality", "60"]
    assert (
        main(
            [
                "evaluate-sr",
                "--model",
                "bicubic",
                "--scale",
                "2",
                "--device",
                "cpu",
                "--data",
                str(root / "images"),
                "--seed",
                "3",
                "--quiet",
                *opts,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "mos",
                "create",
                "--images",
                str(root / "images"),
                "--db",
                str(tmp_path / "s.db"),
                "--scale",
                "2",
                "--device",
                "cpu",
                "--noise-seed",
                "3",
                "--no-progress",
                *opts,
            ]
        )
        == 0
    )
    assert len(made) == 2
    for got in made:
        np.testing.assert_array_equal(got, lr)


def test_old_option_names_are_hidden_aliases(tmp_path, capsys):
    from sr4det.cli import build_parser

    p = build_parser()
    a = p.parse_args(["compare", "--data", "d", "--detector", "x", "-o", "o", "--blur", "1.5", "--noise", "2", "--jpeg", "70"])
    b = p.parse_args(
        [
            "compare",
            "--data",
            "d",
            "--detector",
            "x",
            "-o",
            "o",
            "--blur-sigma",
            "1.5",
            "--noise-std",
            "2",
            "--jpeg-quality",
            "70",
        ]
    )
    assert (a.blur_sigma, a.noise_std, a.jpeg_quality) == (b.blur_sigma, b.noise_std, b.jpeg_quality) == (1.5, 2.0, 70)
    for command in (["compare"], ["materialize"], ["evaluate-sr"], ["mos", "create"]):
        with pytest.raises(SystemExit):
            p.parse_args([*command, "--help"])
        text = capsys.readouterr().out
        assert "--blur-sigma" in text
        assert "--noise-std" in text
        assert "--jpeg-quality" in text
        assert "--blur " not in text
        assert "--jpeg " not in text


def test_noise_seed_is_the_documented_function_of_seed_and_pixels():
    hr = _hr()
    spec = DegradationSpec(2, noise_std=5.0, seed=11)
    crop = np.ascontiguousarray(hr[:50, :38])
    key = hashlib.sha256(f"{crop.dtype.str}:{crop.shape}:".encode() + crop.tobytes()).hexdigest()
    assert pixel_key(crop) == key
    s = int.from_bytes(hashlib.sha256(f"11:{key}".encode()).digest()[:8], "little")
    assert noise_seed(11, key) == s
    plain = imresize_uint8(crop, 0.5)
    expected = np.clip(np.round(plain + np.random.default_rng(s).standard_normal(plain.shape) * 5.0), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(spec(hr), expected)
    # stable across calls, independent of anything but (seed, pixels); other images and seeds get other noise
    np.testing.assert_array_equal(spec(hr), spec(hr.copy()))
    assert not np.array_equal(spec(hr) - plain, spec(_hr(1)) - DegradationSpec(2)(_hr(1)))
    assert not np.array_equal(spec(hr), DegradationSpec(2, noise_std=5.0, seed=12)(hr))
    # an explicit key overrides the pixels; seed=None is fresh noise each call
    np.testing.assert_array_equal(degrade(hr, spec, "k"), degrade(_hr(0), spec, "k"))
    fresh = DegradationSpec(2, noise_std=5.0, seed=None)
    assert not np.array_equal(fresh(hr), fresh(hr))


def test_no_options_is_the_matlab_protocol_and_keys_are_stable():
    hr = _hr()
    np.testing.assert_array_equal(DegradationSpec(4)(hr), imresize_uint8(hr[:48, :36], 0.25))
    # compare's cache key and recorded config of the default degradation must never change (cached/published results)
    assert DegradationSpec(4).config() == {
        "scale": 4,
        "kernel": "cubic",
        "blur_sigma": None,
        "noise_std": None,
        "jpeg_quality": None,
        "seed": 0,
    }
    cfg = json.dumps(DegradationSpec(4).config(), sort_keys=True).encode()
    assert DegradationSpec(4).key() == hashlib.sha256(cfg).hexdigest()[:16]
    assert DegradationSpec(4, noise_std=2.0).key() != DegradationSpec(4, noise_std=3.0).key()


def test_other_depths_and_layouts_keep_dtype_and_shape():
    rng = np.random.default_rng(0)
    for img in (
        rng.integers(0, 65536, (16, 18, 3), dtype=np.uint16),
        rng.random((16, 18, 4)).astype(np.float32),
        rng.integers(0, 256, (16, 18), dtype=np.uint8),
        rng.integers(0, 256, (16, 18, 1), dtype=np.uint8),
    ):
        out = SPEC(img)
        assert out.dtype == img.dtype
        assert out.shape == (8, 9, *img.shape[2:])
    rgba = rng.integers(0, 256, (16, 18, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    assert (SPEC(rgba)[..., 3] == 255).all()  # noise and JPEG leave alpha alone


@pytest.mark.parametrize(
    "bad",
    [
        dict(scale=0),
        dict(scale=2.5),
        dict(scale=2, blur_sigma=-1),
        dict(scale=2, noise_std=float("nan")),
        dict(scale=2, jpeg_quality=0),
        dict(scale=2, jpeg_quality=101),
        dict(scale=2, kernel="nearest"),
        dict(scale=2, seed="x"),
    ],
)
def test_bad_specs_are_typed_errors(bad):
    with pytest.raises((ScaleError, InputError)):
        DegradationSpec(**bad)


def test_bad_cli_options_fail_before_work(tmp_path, capsys):
    assert main(["evaluate-sr", "--model", "bicubic", "--data", str(tmp_path), "--jpeg-quality", "0"]) == 2
    assert "jpeg_quality" in capsys.readouterr().err

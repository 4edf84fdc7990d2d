"""Degradation, SR specs, model identity, the report, and the CLI's error path."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sr4det.errors import InputError
from sr4det.evaluation import Degradation, SRSpec, render_markdown
from sr4det.evaluation.conditions import model_digest, run_sr
from sr4det.resize import imresize


def _hr(h=32, w=48, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_default_degradation_is_matlab_bicubic_rounded_to_uint8():
    hr = _hr()
    lr = Degradation(4)(hr)
    ref = imresize(torch.from_numpy(hr.astype(np.float64)).permute(2, 0, 1), scale=0.25).permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(lr, np.clip(np.round(ref), 0, 255).astype(np.uint8))
    assert lr.shape == (8, 12, 3)
    assert lr.dtype == np.uint8


def test_degradation_options_are_deterministic_per_image():
    hr = _hr()
    d = Degradation(2, blur_sigma=1.0, noise_std=5.0, jpeg_quality=50, seed=1)
    a, b = d(hr, "img-a"), d(hr, "img-a")
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, d(hr, "img-b"))  # noise differs between images
    assert not np.array_equal(a, Degradation(2, blur_sigma=1.0, noise_std=5.0, jpeg_quality=50, seed=2)(hr, "img-a"))
    assert not np.array_equal(a, Degradation(2)(hr))
    assert d.key() != Degradation(2).key()
    assert Degradation(2).key() == Degradation(2).key()
    # the one degradation mod-crops (bottom/right) like Degrade, instead of refusing sizes off the scale's grid
    odd = _hr(30, 48)
    np.testing.assert_array_equal(Degradation(4)(odd), Degradation(4)(np.ascontiguousarray(odd[:28])))
    with pytest.raises(InputError, match="smaller than the scale"):
        Degradation(4)(_hr(3, 48))
    with pytest.raises(InputError, match="jpeg_quality"):
        Degradation(4, jpeg_quality=0)


def test_sr_spec_parsing():
    assert SRSpec.parse("espcn") == SRSpec("espcn", "espcn")
    assert SRSpec.parse("w/CRAFT_x4.pth") == SRSpec("CRAFT_x4", "w/CRAFT_x4.pth")
    assert SRSpec.parse("craft = w/CRAFT_x4.pth") == SRSpec("craft", "w/CRAFT_x4.pth")
    for bad in ("hr", "lr=x.pth", " "):
        with pytest.raises(InputError):
            SRSpec.parse(bad)


def test_model_digest_and_run_sr(tmp_path):
    from sr4det.models import create_model, save_weights

    torch.manual_seed(0)
    a = create_model("espcn", scale=4)
    b = create_model("espcn", scale=4)
    assert model_digest(a) != model_digest(b)  # other weights, other outputs, other cache key
    path = save_weights(tmp_path / "a.pt", a.net, arch="espcn", scale=4)
    assert model_digest(SRSpec.parse(f"a={path}").load(4)) == model_digest(a)
    bic2, bic4 = SRSpec.parse("bicubic").load(2), SRSpec.parse("bicubic").load(4)
    assert model_digest(bic2) != model_digest(bic4) != model_digest(SRSpec.parse("lanczos").load(4))
    out, how = run_sr(bic4, _hr(8, 12))
    assert out.shape == (32, 48, 3)
    assert out.dtype == np.uint8
    assert how in ("tiler", "direct")


def test_report_shows_na_and_intervals():
    na = {k: None for k in ("APs", "APm", "psnr", "ssim")}
    base = {
        "AP": 0.4,
        "AP50": 0.6,
        "AP75": 0.4,
        "APl": 0.5,
        "AR1": 0.3,
        "AR10": 0.4,
        "AR100": 0.5,
        "sr_seconds_per_image": 0.0,
        "detector_seconds_per_image": 0.1,
        "sr_peak_memory_mb": 0.0,
        "detector_peak_memory_mb": 12.5,
        **na,
    }
    results = {
        "conditions": {"hr": base, "lr": {**base, "AP": 0.3}, "bicubic": {**base, "AP": 0.35, "psnr": 25.0, "ssim": 0.7}},
        "deltas": {
            "vs_bicubic": {
                "hr": {
                    "AP": {"delta": 0.05, "ci_low": 0.01, "ci_high": 0.09},
                    "AP50": {"delta": 0.0, "ci_low": None, "ci_high": None},
                    "psnr": None,
                }
            }
        },
        "per_class": {
            "1": {"name": "person", "n_gt": 3, "AP": {"bicubic": 0.2, "hr": 0.3}, "delta_vs_bicubic": {"hr": 0.1, "lr": None}}
        },
        "skipped_images": [{"file_name": "x.jpg", "reason": "corrupt"}],
        "n_skipped": 1,
        "n_images": 3,
        "dataset": {"source": "d.json", "format": "coco", "n_boxes": 3, "n_crowd": 0, "mod_crop": 4, "sha256": "ab" * 32},
        "config": {
            "scale": 4,
            "degradation": {},
            "detector": {},
            "backend": "pycocotools",
            "psnr_ssim": "Y",
            "memory": "cpu_rss_delta",
            "sr_backend": "tiler",
            "tile": "auto",
            "bootstrap": {"n_resamples": 10, "seed": 0, "confidence": 0.95},
        },
    }
    md = render_markdown(results)
    assert "| hr | 0.400 | 0.600 | 0.400 | n/a | n/a | 0.500 |" in md
    assert "+0.050 [+0.010, +0.090]" in md
    assert "`x.jpg`: corrupt" in md
    assert "| person |" not in md  # 3 boxes: folded away (under the minimum count), not read as a finding
    assert "1 class with fewer than 10 boxes (3 boxes in all) is not listed" in md
    assert "| -1" not in md
    assert "-1.000" not in md
    assert "| 0.000 | 0.100 | 0.0 | 12.5 |" in md
    assert "RSS just before it" in md


def test_cli_reports_bad_data_as_error(tmp_path, capsys):
    from sr4det.cli import main

    bad = tmp_path / "a.json"
    bad.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    (tmp_path / "images").mkdir()
    rc = main(
        ["compare", "--data", str(bad), "--images", str(tmp_path / "images"), "--detector", "x.pt", "--out", str(tmp_path / "o")]
    )
    assert rc == 2
    assert "no images" in capsys.readouterr().err

"""Named degradation presets: deterministic, documented, and byte-identical LR from every entry point
(the transform, compare's config, the CLI options of materialize / evaluate-sr / mos, training pairs, MOS)."""

from __future__ import annotations

import argparse
import hashlib
import json

import numpy as np
import pytest

from sr4det import Degrade
from sr4det._options import add_degradation_args, degradation_from_args
from sr4det.degradation import NOISE_KEY, DegradationSpec, degrade, describe_preset, list_presets, preset, with_preset
from sr4det.errors import InputError
from sr4det.evaluation.config import CompareConfig


def _photo(h: int = 96, w: int = 128, seed: int = 0) -> np.ndarray:
    """A smooth gradient with edges and texture: enough structure for blur, noise and JPEG to change."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (h + w) + 64], -1)
    img[h // 3 : h // 2, w // 4 : w // 2] = 230
    return np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)


def test_names_and_descriptions():
    assert list_presets()[:4] == ["clean", "camera", "web", "video"]
    for name in list_presets():
        assert describe_preset(name)


def test_clean_is_todays_default_bit_for_bit():
    hr = _photo()
    assert preset("clean", 4).key() == DegradationSpec(4).key()
    assert np.array_equal(preset("clean", 4)(hr), DegradationSpec(4)(hr))


@pytest.mark.parametrize("name", ["camera", "web", "video"])
def test_realistic_presets_change_the_image_and_are_deterministic(name):
    hr = _photo()
    spec = preset(name, 4, seed=0)
    a, b = spec(hr), spec(hr.copy())
    assert a.shape == (24, 32, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert np.abs(a.astype(int) - DegradationSpec(4)(hr).astype(int)).mean() > 1.0
    assert spec.key() != DegradationSpec(4).key()
    assert spec.config()["preset"] == name


def test_camera_is_at_least_as_hard_as_the_mild_camera_of_issue_24():
    cam = preset("camera", 4)
    assert cam.blur_sigma >= 1.0 and cam.noise_std >= 3 and cam.jpeg_quality <= 70 and cam.shot_noise


def test_blur_grows_with_the_scale():
    assert preset("camera", 2).blur_sigma == pytest.approx(preset("camera", 4).blur_sigma / 2)


def test_seed_changes_only_the_noise():
    hr = _photo()
    assert not np.array_equal(preset("camera", 4, seed=0)(hr), preset("camera", 4, seed=1)(hr))
    assert np.array_equal(preset("web", 4, seed=0)(hr), preset("web", 4, seed=1)(hr))  # web has no noise


def test_unknown_preset_is_a_typed_error_naming_the_choices():
    with pytest.raises(InputError, match="camera"):
        preset("camra", 4)


def test_explicit_values_replace_the_presets():
    spec = with_preset("camera", 4, seed=0, jpeg_quality=90)
    assert spec.jpeg_quality == 90 and spec.blur_sigma == preset("camera", 4).blur_sigma and spec.preset is None
    assert with_preset(None, 4).key() == DegradationSpec(4).key()


def test_later_fields_do_not_change_old_keys_or_records():
    """Specs without the steps added for presets keep the cache key and the results.json record of earlier versions."""
    spec = DegradationSpec(4, blur_sigma=1.0, noise_std=3, jpeg_quality=70)
    assert set(spec.config()) == {"scale", "kernel", "blur_sigma", "noise_std", "jpeg_quality", "seed"}
    legacy = {**spec.config(), "noise_key": NOISE_KEY}  # the key's derivation before the new steps existed
    assert spec.key() == hashlib.sha256(json.dumps(legacy, sort_keys=True).encode()).hexdigest()[:16]


def _cli(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_degradation_args(p, seed=True)
    return p.parse_args(argv)


@pytest.mark.parametrize("name", ["camera", "web", "video"])
def test_every_entry_point_makes_the_same_bytes(name, tmp_path):
    from sr4det.mos.create import degrade as mos_degrade
    from sr4det.training.data import PairedPatches

    hr = _photo(seed=3)
    ref = preset(name, 4, seed=0)(hr)
    # the torchvision transform (also what materialize and the ultralytics hook build), numpy and tensor in
    assert np.array_equal(Degrade(4, preset=name)(hr), ref)
    assert np.array_equal(Degrade.coerce(preset(name, 4))(hr), ref)
    # compare (CLI and YAML/Python)
    parser = argparse.ArgumentParser()
    CompareConfig.add_arguments(parser)
    args = parser.parse_args(["--data", "d.json", "--detector", "x", "--out", str(tmp_path / "o"), "--degradation", name])
    assert np.array_equal(degrade(hr, CompareConfig.from_args(args).degradation_spec()), ref)
    cfg = CompareConfig.from_mapping({"data": "d.json", "detector": "x", "out": "o", "degradation": name}).checked()
    assert np.array_equal(cfg.degradation_spec()(hr), ref)
    # materialize / evaluate-sr / mos create options
    assert np.array_equal(degradation_from_args(_cli(["--degradation", name]), 4)(hr), ref)
    # MOS study LR and SR training pairs
    assert np.array_equal(mos_degrade(hr, 4, preset(name, 4)), ref)
    from sr4det.data.io import write_image

    write_image(tmp_path / "a.png", hr)
    pairs = PairedPatches([str(tmp_path)], 4, degradation=preset(name, 4))
    assert np.array_equal(pairs.pairs[0].lr, ref)


def test_unknown_preset_on_the_command_line_is_refused():
    with pytest.raises(SystemExit):
        _cli(["--degradation", "phone"])
    with pytest.raises(InputError, match="preset"):
        CompareConfig.from_mapping({"data": "d.json", "detector": "x", "out": "o", "degradation": "phone"}).checked()

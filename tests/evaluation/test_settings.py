"""Settings: the one frozen value a comparison runs with, built alike from CompareConfig (CLI / YAML) and compare();
the public evaluation namespace lists what a user calls."""

from __future__ import annotations

import dataclasses

import pytest

import sr4det.evaluation as evaluation
from sr4det.errors import InputError
from sr4det.evaluation import CompareConfig, Degradation
from sr4det.evaluation.settings import Settings


def test_compare_config_settings_carry_every_option_under_its_run_name():
    cfg = CompareConfig.from_mapping(
        {
            "data": "d.json",
            "detector": "y.pt",
            "out": "o",
            "scale": 2,
            "bootstrap": 17,
            "ci_level": 0.9,
            "seed": 5,
            "tile": "96",
            "limit": 3,
            "max_dets": 300,
            "coco_eval": "faster-coco-eval",
            "degradation": "camera",
            "progress": False,
            "mos": "s.sqlite",
            "save_images": "imgs",
            "device": "cpu",
        }
    )
    s = cfg.settings()
    assert (s.scale, s.n_resamples, s.confidence, s.seed, s.tile, s.limit, s.max_dets) == (2, 17, 0.9, 5, 96, 3, 300)
    assert (s.coco_eval, s.progress, s.mos, s.save_images, s.device) == ("faster-coco-eval", False, "s.sqlite", "imgs", "cpu")
    assert s.degradation == cfg.degradation_spec() and s.degradation.preset == "camera"
    assert s.deg_key == cfg.degradation_spec().key()
    assert s.extra_config is None  # no extra entries: results.json's config stays as before
    native = cfg.settings(scale=1, degradation=Degradation(scale=1))
    assert (native.scale, native.n_resamples) == (1, 17)


def test_settings_are_frozen_and_checked():
    s = Settings(scale=4, degradation=Degradation(scale=4))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.tile = 64  # type: ignore[misc]
    with pytest.raises(InputError, match="degradation scale 2 differs from scale 4"):
        Settings(scale=4, degradation=Degradation(scale=2))
    with pytest.raises(InputError, match="n_resamples must be >= 0"):
        Settings(scale=4, degradation=Degradation(scale=4), n_resamples=-1)


def test_the_public_namespace_lists_what_a_user_calls():
    assert set(evaluation.__all__) >= {"compare", "CompareConfig", "CompareResult", "SRSpec", "render_summary"}
    internals = {"run_sr", "bootstrap_weights", "bootstrap_ap", "delta_resolution", "Comparison", "model_digest", "tiler"}
    assert not internals & set(evaluation.__all__)
    assert all(hasattr(evaluation, name) for name in evaluation.__all__)


def test_one_python_entry_point():
    """compare() is the entry point; the older ways in are gone (runner.compare shim, commands' run_compare)."""
    from sr4det.commands import compare as command
    from sr4det.evaluation import runner

    assert not hasattr(runner, "compare")
    assert not hasattr(command, "run_compare")

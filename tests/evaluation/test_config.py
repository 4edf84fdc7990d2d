"""CompareConfig: the CLI, a YAML mapping and the Python API build the same options; bad ones fail early."""

from __future__ import annotations

import argparse

import pytest

from sr4det.errors import InputError, ScaleError
from sr4det.evaluation import CompareConfig, CompareResult


def _parse(argv):
    p = argparse.ArgumentParser()
    CompareConfig.add_arguments(p)
    return CompareConfig.from_args(p.parse_args(argv))


def test_cli_mapping_and_defaults_agree():
    cli = _parse(
        [
            "--data",
            "d.json",
            "--detector",
            "y.pt",
            "-o",
            "out",
            "--sr",
            "bicubic, espcn",
            "--max-det",
            "50",
            "--tile",
            "none",
            "--no-cache",
            "--blur",
            "1.5",
            "--quiet",
            "--threads",
            "2",
        ]
    )
    mapping = CompareConfig.from_mapping(
        {
            "data": "d.json",
            "detector": "y.pt",
            "out": "out",
            "sr": ["bicubic", "espcn"],
            "max_det": 50,
            "tile": "none",
            "cache": False,
            "blur_sigma": 1.5,
            "progress": False,
            "threads": 2,
        }
    )
    assert cli == mapping
    assert cli.sr == ["bicubic", "espcn"]
    assert cli.tile is None
    assert cli.cache is False
    assert cli.degradation().blur_sigma == 1.5
    plain = _parse(["--data", "d", "--detector", "y", "--out", "o"])
    assert plain == CompareConfig(data="d", detector="y", out="o").checked()
    assert plain.bootstrap == 1000
    assert plain.tile == "auto"
    assert plain.cache is None
    assert plain.progress


def test_bad_options_fail_before_any_work():
    base = {"data": "d", "detector": "y", "out": "o"}
    with pytest.raises(InputError, match="unknown keys"):
        CompareConfig.from_mapping({**base, "bootstrapp": 5})
    with pytest.raises(InputError, match="disagree"):
        CompareConfig.from_mapping({**base, "noise": 1.0, "noise_std": 2.0})
    with pytest.raises(ScaleError):
        CompareConfig.from_mapping({**base, "scale": 0})
    with pytest.raises(InputError, match="tile"):
        CompareConfig.from_mapping({**base, "tile": "big"})
    with pytest.raises(InputError, match="needs `detector`"):
        CompareConfig.from_mapping({"data": "d", "out": "o"})


def test_result_round_trips_through_json():
    data = {
        "schema": "sr4det-compare-v1",
        "conditions": {"hr": {"AP": 0.5}},
        "deltas": {},
        "per_class": {},
        "skipped_images": [{"image_id": 3, "file_name": "x.jpg", "reason": "gone"}],
        "n_images": 2,
        "n_skipped": 1,
        "dataset": {"n_images": 2},
        "config": {},
        "mos": None,
        "versions": {},
        "machine": {},
    }
    res = CompareResult.from_json(data)
    assert res.to_json() == data
    assert list(res.to_json()) == list(data)

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
    assert cli.degradation_spec().blur_sigma == 1.5
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


# ------------------------------------------------------------------------------------- second audit (bad input)

_BASE = {"data": "d.json", "detector": "y.pt", "out": "o"}


@pytest.mark.parametrize("key, near", [("bootstrapp", "bootstrap"), ("max-det", "max_det"), ("imgsize", "imgsz")])
def test_unknown_key_suggests_the_near_option(key, near):
    with pytest.raises(InputError, match=f"did you mean '{near}'"):
        CompareConfig.from_mapping({**_BASE, key: 1})


@pytest.mark.parametrize(
    "extra, match",
    [
        ({"bootstrap": "100"}, "bootstrap must be an integer"),
        ({"conf": "1e-3"}, "write 0.001"),
        ({"conf": 2.0}, r"conf must be a number in \[0, 1\]"),
        ({"iou": -0.1}, r"iou must be a number in \[0, 1\]"),
        ({"imgsz": 0}, "imgsz must be an integer >= 32"),
        ({"max_det": 0}, "max_det must be an integer >= 1"),
        ({"threads": "2"}, "threads must be an integer"),
        ({"seed": 1.5}, "seed must be an integer"),
        ({"tile": 0}, "positive integer"),
        ({"tile": True}, "positive integer"),
        ({"coco_eval": "fast"}, "did you mean 'faster-coco-eval'"),
        ({"backend": "openvno"}, "did you mean 'openvino'"),
        ({"class_map": "name"}, "did you mean 'names'"),
        ({"data": 5}, "data must be a path"),
        ({"cache": 5}, "cache must be a folder"),
        ({"sr": 5}, "list of texts"),
        ({"detectors": 5}, "list of texts"),
        ({"sr": ["espcm"]}, "did you mean 'espcn'"),
        ({"sr": "bicubc"}, "did you mean 'bicubic'"),
        ({"ci_level": 95}, r"ci_level must be a number in \[0.5, 1\)"),
        ({"ci_level": 1.0}, "ci_level must be"),
        ({"ci_level": "0.99"}, "ci_level must be"),
    ],
)
def test_wrong_value_types_and_ranges_fail_naming_the_option(extra, match):
    with pytest.raises(InputError, match=match):
        CompareConfig.from_mapping({**_BASE, **extra})


def test_good_numbers_of_any_integral_or_real_type_still_pass():
    import numpy as np

    cfg = CompareConfig.from_mapping({**_BASE, "imgsz": np.int64(320), "conf": 0, "iou": 1, "tile": 64, "sr": "espcn, x.pth"})
    assert cfg.imgsz == 320 and cfg.tile == 64 and cfg.sr == ["espcn", "x.pth"]

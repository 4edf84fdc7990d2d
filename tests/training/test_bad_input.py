"""Bad training options fail in TrainConfig.validate() (before data or detectors load) with typed errors naming the fix."""

from __future__ import annotations

import pytest

from sr4det.errors import DataError, InputError
from sr4det.training import TrainConfig


def _cfg(tmp_path, **changes):
    return TrainConfig(**{"model": "espcn", "scale": 2, "data": [str(tmp_path)], "out": str(tmp_path / "run"), **changes})


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"lr": -1.0}, "lr must be a finite number > 0"),
        ({"lr": float("nan")}, "lr must be a finite number > 0"),
        ({"lr": 0.0}, "lr must be a finite number > 0"),
        ({"lr_min_ratio": 2.0}, r"lr_min_ratio must be a number in \[0, 1\]"),
        ({"disc_lr": -1e-4}, "disc_lr must be"),
        ({"grad_clip": 0.0}, "grad_clip must be"),
        ({"warmup": -5}, "warmup must be >= 0"),
        ({"model": "espcm"}, "did you mean 'espcn'"),
    ],
)
def test_bad_options_are_input_errors_naming_the_option(tmp_path, changes, match):
    with pytest.raises(InputError, match=match):
        _cfg(tmp_path, **changes).validate()


def test_good_options_pass(tmp_path):
    _cfg(tmp_path, lr_min_ratio=0.0, disc_lr=None, grad_clip=None).validate()


def test_empty_validation_folder_is_a_data_error(tmp_path):
    from sr4det.training.evaluate import load_benchmark

    (tmp_path / "val").mkdir()
    with pytest.raises(DataError, match="validation folder"):
        load_benchmark(tmp_path / "val", 2)

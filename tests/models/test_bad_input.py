"""Bad inputs to models, weight files and the registry fail with typed errors that name the fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sr4det
from sr4det.errors import InputError, SR4DetError
from sr4det.models import validate_image_tensor


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_pixels_are_rejected(bad):
    x = torch.rand(1, 3, 4, 4)
    x[0, 1, 2, 3] = bad
    with pytest.raises(InputError, match="NaN/Inf"):
        validate_image_tensor(x)


def test_nan_pixels_do_not_reach_the_network():
    model = sr4det.create_model("bicubic", scale=2)
    x = torch.full((1, 3, 4, 4), float("nan"))
    with pytest.raises(InputError, match="NaN/Inf"):
        model(x)


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 3), np.uint8), [[0.0, 1.0]], None])
def test_model_called_with_a_non_tensor_names_the_conversion(bad):
    model = sr4det.create_model("bicubic", scale=2)
    with pytest.raises(InputError, match="to_tensor") as info:
        model(bad)
    assert isinstance(info.value, SR4DetError)
    assert type(bad).__name__ in str(info.value)

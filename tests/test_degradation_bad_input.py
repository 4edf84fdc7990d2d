"""degrade() refuses float images it would silently change: NaN/Inf pixels (which spread) and values outside [0, 1]
(which the shrink clips). Every entry point that makes LR images goes through it, including the Degrade transform."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sr4det import Degrade
from sr4det.degradation import DegradationSpec, degrade
from sr4det.errors import InputError


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_float_pixels_are_an_input_error(bad):
    img = np.full((8, 8, 3), 0.5, np.float32)
    img[2, 3, 1] = bad
    with pytest.raises(InputError, match=r"1 NaN/Inf values.*nan_to_num"):
        degrade(img, DegradationSpec(2))


@pytest.mark.parametrize(("lo", "hi", "hint"), [(0.0, 255.0, "divide by 255"), (-0.5, 0.5, r"\[0, 1\]")])
def test_float_pixels_outside_unit_range_are_an_input_error(lo, hi, hint):
    img = np.linspace(lo, hi, 8 * 8 * 3, dtype=np.float64).reshape(8, 8, 3)
    with pytest.raises(InputError, match=hint):
        degrade(img, DegradationSpec(2))


def test_tiny_overshoot_is_tolerated_and_integer_images_are_unchecked():
    img = np.full((8, 8), 1.0005, np.float32)
    assert degrade(img, DegradationSpec(2)).max() <= 1.0
    assert degrade(np.full((8, 8), 255, np.uint8), DegradationSpec(2)).max() == 255


def test_degrade_transform_refuses_0_255_float_tensors_instead_of_clipping_them():
    x = torch.rand(3, 8, 8) * 255
    with pytest.raises(InputError, match="divide by 255"):
        Degrade(2)(x)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_degrade_transform_takes_half_and_grad_tensors(dtype):
    x = torch.rand(3, 8, 8, requires_grad=True)
    y = Degrade(2)(x.to(dtype))
    assert y.dtype == dtype
    assert y.shape == (3, 4, 4)
    ref = Degrade(2)(x.detach().to(dtype).float())
    assert torch.equal(y.float(), ref.to(dtype).float())

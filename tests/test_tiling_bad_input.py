"""A tile so small that one image needs more than ``MANY_TILES`` model calls is warned about, with the numbers."""

from __future__ import annotations

import warnings

import pytest
import torch

import sr4det
from sr4det import tiling


class _Stop(Exception):
    pass


def _model_that_stops():
    model = sr4det.create_model("bicubic", scale=2)

    def refuse(x):
        raise _Stop  # the warning must come before the first (slow) model call

    model.net.forward = refuse
    return model


def test_tiny_tile_warns_with_the_numbers_before_running():
    image = torch.rand(3, 120, 110)  # tile 1, no overlap: 120 x 110 = 13200 tiles
    with pytest.warns(UserWarning, match=r"tile 1 px \(overlap 0 px\) splits the 120x110 image into 13200 tiles \(120 x 110\)"):
        with pytest.raises(_Stop):
            tiling.upscale(_model_that_stops(), image, tile=1, overlap=0)


def test_threshold_is_per_image(monkeypatch):
    monkeypatch.setattr(tiling, "MANY_TILES", 20)
    model = sr4det.create_model("bicubic", scale=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tiling.upscale(model, torch.rand(3, 8, 8), tile=2, overlap=0)  # 16 tiles: no warning
    with pytest.warns(UserWarning, match="25 tiles"):
        tiling.upscale(model, torch.rand(3, 10, 10), tile=2, overlap=0)

"""A tile so small that one image needs more than ``MANY_TILES`` model calls is warned about, with the numbers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import sr4det
from sr4det import tiling
from sr4det.errors import InputError
from sr4det.models import create_model
from sr4det.tiling import upscale
from sr4det.tiling.memory import _PROBE_CACHE


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
        warnings.filterwarnings("ignore", message=".*default overlap")  # the seam warning is tested below
        tiling.upscale(model, torch.rand(3, 8, 8), tile=2, overlap=0)  # 16 tiles: no warning
    with pytest.warns(UserWarning, match="25 tiles"):
        tiling.upscale(model, torch.rand(3, 10, 10), tile=2, overlap=0)  # (and the seam warning)


# ------------------------------------------------------------------------------------------------ OOM inside the probe


def _oom_above(model, limit: int):
    sides = []

    def hook(module, inputs):
        side = max(inputs[0].shape[-2:])
        sides.append(side)
        if side > limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    return model.net.register_forward_pre_hook(hook), sides


def test_oom_inside_the_auto_probe_backs_off_and_upscales(tmp_path, monkeypatch):
    monkeypatch.setenv("SR4DET_CACHE", str(tmp_path))  # no cached probe: the probe must run
    _PROBE_CACHE.clear()
    model = sr4det.create_model("espcn", scale=2)
    x = torch.rand(3, 20, 20)
    with torch.inference_mode():
        ref = model(x.unsqueeze(0))[0]
    handle, sides = _oom_above(model, 20)  # the default probe tiles (32, 64 px) do not fit; 16 and 32 ... do
    try:
        with pytest.warns(UserWarning, match="while probing tile memory"):
            y = tiling.upscale(model, x, tile="auto", max_memory="1GB")
    finally:
        handle.remove()
    assert sides[0] > 20  # it failed at the default size, then probed smaller
    assert min(sides) <= 20
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=0)


def test_oom_at_the_smallest_probe_is_a_tile_oom_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SR4DET_CACHE", str(tmp_path))
    _PROBE_CACHE.clear()
    model = sr4det.create_model("espcn", scale=2)
    handle, _ = _oom_above(model, 0)  # nothing fits
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(sr4det.TileOOMError, match="while measuring the model's memory for tile='auto'") as info:
                tiling.upscale(model, torch.rand(3, 20, 20), tile="auto", max_memory="1GB")
    finally:
        handle.remove()
    assert isinstance(info.value, MemoryError)
    assert isinstance(info.value.__cause__, torch.OutOfMemoryError)
    assert "explicit small tile" in str(info.value)


# ------------------------------------------------------------------------------------- second audit


@pytest.mark.parametrize("value", ["0.1", 0.5, "-1GB", "-0"])
def test_memory_below_one_byte_or_negative_is_refused(value):
    from sr4det.tiling import parse_memory

    with pytest.raises(InputError, match="must be positive"):
        parse_memory(value)


@pytest.mark.parametrize("overlap", [2.7, "4", True])
def test_non_integer_overlap_is_refused_not_truncated(overlap):
    model = create_model("espcn", scale=2).eval()
    with pytest.raises(InputError, match=r"int\(overlap\)"):
        upscale(model, torch.rand(3, 12, 12), tile=8, overlap=overlap)


def test_bad_device_is_an_input_error():
    model = create_model("espcn", scale=2).eval()
    with pytest.raises(InputError, match="not a torch device"):
        upscale(model, torch.rand(3, 12, 12), tile=8, device="gpu")


@pytest.mark.parametrize("dtype", ["<f4", "<u2"])
def test_big_endian_arrays_give_the_native_result(dtype):
    rng = np.random.default_rng(0)
    native = rng.random((12, 10, 3)).astype(dtype) if dtype == "<f4" else rng.integers(0, 65536, (12, 10, 3)).astype(dtype)
    model = create_model("espcn", scale=2).eval()
    expected = upscale(model, native, tile=6, overlap=2)
    got = upscale(model, native.astype(native.dtype.newbyteorder(">")), tile=6, overlap=2)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", ["srcnn", "fsrcnn", "espcn"])
def test_an_overlap_below_the_receptive_field_warns_with_the_border_count_and_the_default_is_exact(name):
    model = create_model(name, scale=2)  # random weights: the seams do not depend on training
    image = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    full = upscale(model, image, tile=None)
    with pytest.warns(UserWarning, match=r"overlap 0 px is below .* default overlap") as record:
        seamed = upscale(model, image, tile=16, overlap=0)
    n_rows, n_cols = -(-40 // 16), -(-50 // 16)  # tiles of 16 px cores without overlap
    assert f"the {n_rows - 1 + n_cols - 1} tile border(s)" in str(record[0].message)
    assert np.abs(seamed.astype(int) - full.astype(int)).max() > 0  # the seams it warns about are real
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the card's default overlap: no warning, and the untiled result exactly
        exact = upscale(model, image, tile=2 * model.card.default_overlap + 16)
    assert np.abs(exact.astype(int) - full.astype(int)).max() <= 1  # float summation order: a rare rounding step

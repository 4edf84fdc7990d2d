"""``sr4det.upscale`` takes what SRTransform and the detectors take: PIL images (returned as PIL images) and paths."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import sr4det
from sr4det.errors import InputError


@pytest.fixture(scope="module")
def model():
    return sr4det.create_model("bicubic", scale=2)


@pytest.fixture
def rgb():
    return np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA"])
def test_pil_in_pil_out_same_as_the_array(model, rgb, mode):
    pil = Image.fromarray(rgb).convert(mode)
    out = sr4det.upscale(model, pil, tile=None)
    assert isinstance(out, Image.Image)
    assert out.mode == mode
    assert out.size == (20, 24)
    np.testing.assert_array_equal(np.asarray(out), sr4det.upscale(model, np.asarray(pil), tile=None))


def test_sixteen_bit_and_palette_images(model, rgb):
    deep = Image.fromarray(rgb[..., 0].astype(np.uint16) * 257)
    out = sr4det.upscale(model, deep, tile=None)
    assert np.asarray(out).dtype == np.uint16
    assert np.asarray(out).max() > 255
    palette = Image.fromarray(rgb).convert("P")
    assert sr4det.upscale(model, palette, tile=None).mode == "RGB"


def test_a_path_gives_an_array(model, rgb, tmp_path):
    path = tmp_path / "x.png"
    Image.fromarray(rgb).save(path)
    for src in (path, str(path)):
        out = sr4det.upscale(model, src, tile=None)
        assert isinstance(out, np.ndarray)
        np.testing.assert_array_equal(out, sr4det.upscale(model, rgb, tile=None))
    with pytest.raises(InputError, match="does not exist"):
        sr4det.upscale(model, tmp_path / "missing.png")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(InputError, match="cannot read"):
        sr4det.upscale(model, tmp_path / "bad.png")
    with pytest.raises(InputError, match="out="):
        sr4det.upscale(model, path, out=np.zeros((24, 20, 3), np.uint8))

"""MATLAB-compatible imresize: kernel facts, boundary handling, agreement with PIL in the interior."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from sr4det import InputError
from sr4det.resize import imresize, imresize_uint8


@pytest.mark.parametrize("scale", [2, 3, 4, 0.5, 0.25, 1 / 3])
@pytest.mark.parametrize("kernel", ["cubic", "linear", "lanczos3"])
def test_constant_images_stay_constant(scale, kernel):
    x = torch.full((1, 1, 12, 12), 0.37, dtype=torch.float64)
    y = imresize(x, scale=scale, kernel=kernel)
    assert y.shape[-1] == int(np.ceil(12 * scale))
    torch.testing.assert_close(y, torch.full_like(y, 0.37))


def test_linear_ramp_is_reproduced_by_cubic_upscaling_in_the_interior():
    ramp = torch.arange(16, dtype=torch.float64).repeat(16, 1)[None, None]
    up = imresize(ramp, scale=2)
    # output pixel j (0-based) maps to input coordinate (j + 0.5) / 2 - 0.5
    coords = (torch.arange(32, dtype=torch.float64) + 0.5) / 2 - 0.5
    torch.testing.assert_close(up[0, 0, 5, 4:-4], coords[4:-4])


@pytest.mark.parametrize("scale", [0.25, 0.5, 2.0])
def test_interior_matches_pil_bicubic(scale):
    """PIL's bicubic is also a = -0.5 with antialiasing; only the border handling differs from MATLAB."""
    rng = np.random.default_rng(0)
    arr = rng.uniform(0, 1, (64, 64)).astype(np.float32)
    size = int(64 * scale)
    pil = np.asarray(Image.fromarray(arr, mode="F").resize((size, size), Image.BICUBIC))
    ours = imresize(torch.from_numpy(arr.astype(np.float64))[None, None], scale=scale)[0, 0].numpy()
    m = max(3, int(4 / scale) + 2) if scale < 1 else 4
    np.testing.assert_allclose(ours[m:-m, m:-m], pil[m:-m, m:-m], atol=1e-4)


def test_symmetric_border():
    # MATLAB mirrors the edge (..., x1, x0 | x0, x1, ...): a one-sided step stays flat at the border
    x = torch.zeros(1, 1, 1, 8, dtype=torch.float64)
    x[..., 4:] = 1
    y = imresize(x, size=(1, 16))
    assert float(y[..., 0]) == pytest.approx(0.0, abs=1e-12)
    assert float(y[..., -1]) == pytest.approx(1.0, abs=1e-12)


def test_uint8_rounding_and_errors():
    img = np.full((8, 8, 3), 200, np.uint8)
    out = imresize_uint8(img, 0.5)
    assert out.dtype == np.uint8
    assert out.shape == (4, 4, 3)
    assert (out == 200).all()
    with pytest.raises(InputError, match="float"):
        imresize(torch.zeros(1, 4, 4, dtype=torch.uint8), scale=2)
    with pytest.raises(InputError, match="exactly one"):
        imresize(torch.zeros(4, 4), scale=2, size=(8, 8))
    with pytest.raises(InputError, match="empty"):
        imresize(torch.zeros(0, 4), scale=2)


@pytest.mark.parametrize("scale", [0.25, 0.5, 1 / 3, 2.0, 4.0])
@pytest.mark.parametrize("kernel", ["cubic", "linear", "lanczos3"])
def test_the_dense_float64_path_gives_the_gathers_uint8_values(monkeypatch, scale, kernel):
    """The matmul the uint8 (float64) path uses and the gather it replaced agree to the last uint8 level: the LR images
    of every degradation, and so the cache keys and results made from them, do not change."""
    import sr4det.resize as resize

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    image[:, :20] = 200  # flat areas and edges besides noise
    image[10:20, 30:40] = 0
    dense = imresize_uint8(image, scale, kernel=kernel)
    monkeypatch.setattr(resize, "_DENSE_MAX", 0)  # the gather
    gathered = imresize_uint8(image, scale, kernel=kernel)
    np.testing.assert_array_equal(dense, gathered)
    x = torch.from_numpy(image.astype(np.float64)).permute(2, 0, 1)
    monkeypatch.setattr(resize, "_DENSE_MAX", 2_000_000)
    a = imresize(x, scale=scale, kernel=kernel)
    monkeypatch.setattr(resize, "_DENSE_MAX", 0)
    assert torch.allclose(a, imresize(x, scale=scale, kernel=kernel), atol=1e-9)

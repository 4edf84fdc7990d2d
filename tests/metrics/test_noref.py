"""No-reference scores: they must rank a blurred image below its sharp original, and NIQE must be consistent."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sr4det.data.io import to_tensor
from sr4det.errors import InputError
from sr4det.metrics import NIQEModel, fit_niqe_model, gradient_sharpness, laplacian_variance, niqe
from sr4det.resize import imresize_uint8


def _pink_noise(seed: int, size: int = 192) -> np.ndarray:
    """1/f-spectrum RGB image: natural-image-like second-order statistics, made in code."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.fftfreq(size)[None, :]
    amp = 1.0 / np.maximum(np.hypot(fx, fy), 1.0 / size)
    chans = []
    for _ in range(3):
        phase = np.exp(2j * np.pi * rng.random((size, size)))
        img = np.real(np.fft.ifft2(amp * phase))
        chans.append((img - img.mean()) / img.std())
    rgb = 128 + 40 * np.stack(chans, -1)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def _blur(img: np.ndarray, factor: int = 4) -> np.ndarray:
    return imresize_uint8(imresize_uint8(img, 1 / factor), factor)


def test_sharpness_scores_rank_blur_below_original():
    img = _pink_noise(0)
    soft = _blur(img)
    assert gradient_sharpness(soft) < 0.6 * gradient_sharpness(img)
    assert laplacian_variance(soft) < 0.3 * laplacian_variance(img)
    flat = np.full((32, 32, 3), 90, np.uint8)
    assert gradient_sharpness(flat) == 0.0
    assert laplacian_variance(flat) == 0.0


def test_tensor_and_uint8_inputs_agree_and_gray_is_accepted():
    img = _pink_noise(1, 64)
    assert gradient_sharpness(to_tensor(img)) == pytest.approx(gradient_sharpness(img))
    gray = img[..., 0]
    assert gradient_sharpness(gray, shave=4) > 0
    with pytest.raises(InputError):
        gradient_sharpness(img, shave=40)


@pytest.fixture(scope="module")
def model():
    return fit_niqe_model([_pink_noise(s, 288) for s in range(6)])


def test_niqe_prefers_natural_statistics_over_blur(tmp_path, model):
    assert model.mu.shape == (36,)
    assert model.cov.shape == (36, 36)
    assert model.n_patches >= 37
    held_out = _pink_noise(10)
    sharp, blurred = niqe(held_out, model), niqe(_blur(held_out), model)
    assert np.isfinite(sharp)
    assert blurred > sharp + 1.0
    path = tmp_path / "niqe.npz"
    model.save(path)
    assert niqe(held_out, NIQEModel.load(path)) == pytest.approx(sharp)


def test_niqe_rejects_too_small_inputs(model):
    with pytest.raises(InputError):
        fit_niqe_model([_pink_noise(0, 64)])
    with pytest.raises(InputError):
        niqe(torch.rand(3, 50, 50), model)


def test_niqe_model_is_saved_atomically_with_numpys_npz_suffix(tmp_path, model):
    model.save(tmp_path / "niqe")  # np.savez's rule: ".npz" appended
    assert sorted(p.name for p in tmp_path.iterdir()) == ["niqe.npz"]  # nothing half-written or temporary left
    np.testing.assert_array_equal(NIQEModel.load(tmp_path / "niqe.npz").mu, model.mu)

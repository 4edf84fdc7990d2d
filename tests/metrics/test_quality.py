"""PSNR/SSIM on Y against scikit-image, and the literature protocol on real data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from sr4det import InputError
from sr4det.metrics import psnr_y, ssim_y, to_y_255


def _pair(seed=0, shape=(48, 40, 3), noise=12):
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 256, shape, dtype=np.uint8)
    pred = np.clip(ref.astype(int) + rng.normal(0, noise, shape), 0, 255).astype(np.uint8)
    return pred, ref


@pytest.mark.parametrize("shave", [0, 2, 4])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_psnr_and_ssim_match_scikit_image(seed, shave):
    pred, ref = _pair(seed)
    yp, yr = to_y_255(pred), to_y_255(ref)
    if shave:
        yp, yr = yp[shave:-shave, shave:-shave], yr[shave:-shave, shave:-shave]
    assert psnr_y(pred, ref, shave) == pytest.approx(peak_signal_noise_ratio(yr, yp, data_range=255), abs=1e-10)
    expected = structural_similarity(yr, yp, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    assert ssim_y(pred, ref, shave) == pytest.approx(expected, abs=1e-10)


def test_y_is_bt601_studio_range():
    y = to_y_255(np.array([[[0, 0, 0], [255, 255, 255]]], dtype=np.uint8))
    np.testing.assert_allclose(y, [[16.0, 235.0]], atol=1e-9)


def test_tensor_and_uint8_inputs_agree():
    pred, ref = _pair(3)
    t = torch.from_numpy(pred).permute(2, 0, 1).float() / 255
    assert psnr_y(t, ref, 2) == pytest.approx(psnr_y(pred, ref, 2), abs=1e-9)


def test_identical_images_have_infinite_psnr_and_unit_ssim():
    _, ref = _pair()
    assert psnr_y(ref, ref) == float("inf")
    assert ssim_y(ref, ref) == pytest.approx(1.0)


def test_errors():
    pred, ref = _pair()
    with pytest.raises(InputError, match="differ in size"):
        psnr_y(pred[:-1], ref)
    with pytest.raises(InputError, match="shave"):
        psnr_y(pred, ref, shave=30)
    with pytest.raises(InputError, match="ambiguous"):
        psnr_y(pred.astype(np.float32), ref)


def test_set5_bicubic_x4_matches_the_literature(shared):
    """Bicubic x4 on Set5 with MATLAB-made LR is 28.42 dB in the VDSR/SRGAN tables."""
    from sr4det import create_model
    from sr4det.data.io import list_images
    from sr4det.metrics.sr_eval import evaluate_sr

    scores = evaluate_sr(create_model("bicubic", 4), list_images(shared("data", "sr_benchmark", "Set5")), progress=False)
    assert np.mean([s.psnr for s in scores]) == pytest.approx(28.42, abs=0.05)

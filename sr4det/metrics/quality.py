"""PSNR and SSIM on the BT.601 luma channel with ``shave`` border pixels removed.

Conventions (those of the SRCNN/VDSR/SRGAN tables): images are uint8 RGB (SR output is rounded to
uint8 first, as a saved image would be); Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 * ... in
[16, 235] as MATLAB's ``rgb2ycbcr``; ``shave = scale`` pixels are cut from every border; SSIM uses an
11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, L = 255, averaged over the valid region.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import InputError

_Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0


def _as_hwc_float64(img: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    """uint8/uint16 HWC or HW array, or float tensor (C, H, W) in [0, 1] -> float64 array in [0, 255]."""
    if isinstance(img, torch.Tensor):
        if img.ndim == 4 and img.shape[0] == 1:
            img = img[0]
        if img.ndim != 3:
            raise InputError(f"{name}: tensor must have shape (C, H, W), got {tuple(img.shape)}")
        if not torch.is_floating_point(img):
            raise InputError(f"{name}: tensor must be float in [0, 1], got {img.dtype}")
        arr = (img.detach().cpu().double().clamp(0, 1) * 255.0).round().permute(1, 2, 0).numpy()
        return arr
    arr = np.asarray(img)
    if arr.dtype == np.uint8:
        return arr.astype(np.float64)
    if arr.dtype == np.uint16:
        return arr.astype(np.float64) / 257.0
    if np.issubdtype(arr.dtype, np.floating):
        raise InputError(f"{name}: float arrays are ambiguous; pass uint8 arrays or float tensors in [0, 1]")
    raise InputError(f"{name}: unsupported dtype {arr.dtype}")


def to_y_255(img: np.ndarray | torch.Tensor, name: str = "image") -> np.ndarray:
    """Luma in [16, 235] (float64, shape (H, W)) of an RGB or gray image (see module docstring for types)."""
    arr = _as_hwc_float64(img, name)
    if arr.ndim == 2:
        return arr
    if arr.shape[-1] == 1:
        return arr[..., 0]
    if arr.shape[-1] == 4:
        arr = arr[..., :3]
    if arr.shape[-1] != 3:
        raise InputError(f"{name}: expected 1, 3 or 4 channels, got shape {arr.shape}")
    return 16.0 + arr @ _Y_WEIGHTS


def _pair(a, b, shave: int) -> tuple[np.ndarray, np.ndarray]:
    ya, yb = to_y_255(a, "prediction"), to_y_255(b, "reference")
    if ya.shape != yb.shape:
        raise InputError(f"prediction {ya.shape} and reference {yb.shape} differ in size")
    if shave < 0 or 2 * shave >= min(ya.shape):
        raise InputError(f"shave={shave} leaves nothing of a {ya.shape} image")
    if shave:
        ya, yb = ya[shave:-shave, shave:-shave], yb[shave:-shave, shave:-shave]
    return ya, yb


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """PSNR in dB between two float arrays of the same shape (``inf`` when identical)."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def psnr_y(pred, ref, shave: int = 0) -> float:
    """PSNR (dB) on Y with ``shave`` border pixels removed. ``pred``/``ref``: uint8 HWC arrays or float (C,H,W) tensors."""
    ya, yb = _pair(pred, ref, shave)
    return psnr(ya, yb)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    ax = np.arange(size) - (size - 1) / 2
    g = np.exp(-(ax**2) / (2 * sigma**2))
    g /= g.sum()
    return g


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation with the 1-D window ``g`` along both axes."""
    from numpy.lib.stride_tricks import sliding_window_view

    rows = sliding_window_view(img, g.size, axis=0) @ g
    return sliding_window_view(rows, g.size, axis=1) @ g


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM (Wang et al. 2004, Gaussian 11x11, sigma 1.5) of two 2-D float arrays over the valid region."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise InputError(f"ssim needs two 2-D arrays of one shape, got {a.shape} and {b.shape}")
    if min(a.shape) < 11:
        raise InputError(f"ssim needs images of at least 11x11 pixels, got {a.shape}")
    g = _gaussian_window()
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    saa = _filter_valid(a * a, g) - mu_a**2
    sbb = _filter_valid(b * b, g) - mu_b**2
    sab = _filter_valid(a * b, g) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * sab + c2)
    den = (mu_a**2 + mu_b**2 + c1) * (saa + sbb + c2)
    return float(np.mean(num / den))


def ssim_y(pred, ref, shave: int = 0) -> float:
    """SSIM on Y with ``shave`` border pixels removed (same input conventions as :func:`psnr_y`)."""
    ya, yb = _pair(pred, ref, shave)
    return ssim(ya, yb)

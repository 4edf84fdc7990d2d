"""No-reference image-quality scores, computed offline: sharpness statistics and a NIQE re-implementation.

PSNR rewards the blurry average of plausible answers; GAN-trained SR trades PSNR for sharper texture.
These scores make that trade visible without a reference image:

* :func:`gradient_sharpness`: mean Sobel gradient magnitude of the luma (Tenengrad-style), in Y units
  of [0, 255]. Higher = more edge/texture energy. Compare it with the same score of the HR image:
  blurrier than HR scores lower, over-sharpened or noisy scores higher.
* :func:`laplacian_variance`: variance of the 3x3 Laplacian of the luma, the classic focus measure.
* :func:`niqe`: NIQE (Mittal, Soundararajan & Bovik, IEEE SPL 2013), a distance between natural-scene
  statistics of the image and of a *pristine* model. Lower = more natural. The algorithm follows the
  paper and its MATLAB release (MSCN coefficients, GGD/AGGD fits on 96x96 patches at two scales,
  36 features, multivariate-Gaussian distance), but the pristine model is **fitted by
  :func:`fit_niqe_model` on the images you give** (e.g. the training set), not the MATLAB
  ``modelparameters.mat`` (125 pristine photos), so absolute values differ from published NIQE numbers;
  comparisons between methods under one model are meaningful.

Inputs everywhere: uint8 arrays HW/HWC (RGB) or float tensors (C, H, W) in [0, 1], as :func:`psnr_y`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._files import atomic_path
from ..errors import InputError
from .quality import to_y_255

_BLOCK = 96


def _luma(img, name: str = "image") -> np.ndarray:
    y = to_y_255(img, name)
    if min(y.shape) < 3:
        raise InputError(f"{name}: need at least 3x3 pixels, got {y.shape}")
    return y


def gradient_sharpness(img, shave: int = 0) -> float:
    """Mean Sobel gradient magnitude of the luma (BT.601 Y in [16, 235]), ``shave`` border pixels removed."""
    import cv2

    y = _luma(img)
    gx = cv2.Sobel(y, cv2.CV_64F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT)
    gy = cv2.Sobel(y, cv2.CV_64F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT)
    mag = np.hypot(gx, gy)
    if shave:
        if 2 * shave >= min(mag.shape):
            raise InputError(f"shave={shave} leaves nothing of a {mag.shape} image")
        mag = mag[shave:-shave, shave:-shave]
    return float(mag.mean())


def laplacian_variance(img, shave: int = 0) -> float:
    """Variance of the 3x3 Laplacian of the luma (Y in [16, 235]); the classic focus/blur measure."""
    import cv2

    y = _luma(img)
    lap = cv2.Laplacian(y, cv2.CV_64F, ksize=1, borderType=cv2.BORDER_REFLECT)
    if shave:
        if 2 * shave >= min(lap.shape):
            raise InputError(f"shave={shave} leaves nothing of a {lap.shape} image")
        lap = lap[shave:-shave, shave:-shave]
    return float(lap.var())


# ---------------------------------------------------------------------------------------------------
# NIQE
# ---------------------------------------------------------------------------------------------------
_GAM = np.arange(0.2, 10.0, 0.001)


def _gamma_tables() -> tuple[np.ndarray, np.ndarray]:
    from scipy.special import gamma

    g1, g2, g3 = gamma(1.0 / _GAM), gamma(2.0 / _GAM), gamma(3.0 / _GAM)
    return g1 * g3 / g2**2, g2**2 / (g1 * g3)


_R_GGD, _R_AGGD = _gamma_tables()


def _ggd_fit(x: np.ndarray) -> tuple[float, float]:
    """Shape alpha and variance of a zero-mean generalised Gaussian (moment matching, as NIQE's estimateggdparam)."""
    sigma_sq = float(np.mean(x * x))
    e = float(np.mean(np.abs(x)))
    rho = sigma_sq / (e * e + 1e-12)
    alpha = float(_GAM[np.argmin(np.abs(rho - _R_GGD))])
    return alpha, sigma_sq


def _aggd_fit(x: np.ndarray) -> tuple[float, float, float, float]:
    """Asymmetric GGD fit (NIQE's estimateaggdparam): alpha, mean, left variance, right variance."""
    from scipy.special import gamma

    left, right = x[x < 0], x[x > 0]
    lstd = float(np.sqrt(np.mean(left * left))) if left.size else 0.0
    rstd = float(np.sqrt(np.mean(right * right))) if right.size else 0.0
    ghat = lstd / rstd if rstd > 0 else 1.0
    rhat = float(np.mean(np.abs(x))) ** 2 / (float(np.mean(x * x)) + 1e-12)
    rhatnorm = rhat * (ghat**3 + 1) * (ghat + 1) / (ghat**2 + 1) ** 2
    alpha = float(_GAM[np.argmin(np.abs(_R_AGGD - rhatnorm))])
    mean = (rstd - lstd) * gamma(2.0 / alpha) / gamma(1.0 / alpha)
    return alpha, float(mean), lstd * lstd, rstd * rstd


def _mscn(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    # NIQE's 7x7 Gaussian window with sigma 7/6, replicate-free symmetric borders
    mu = cv2.GaussianBlur(y, (7, 7), 7.0 / 6.0, borderType=cv2.BORDER_REFLECT)
    var = cv2.GaussianBlur(y * y, (7, 7), 7.0 / 6.0, borderType=cv2.BORDER_REFLECT) - mu * mu
    sigma = np.sqrt(np.abs(var))
    return (y - mu) / (sigma + 1.0), sigma


def _block_features(y: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-block 18 NSS features and block sharpness (mean local sigma), blocks in raster order."""
    mscn, sigma = _mscn(y)
    h, w = (y.shape[0] // block) * block, (y.shape[1] // block) * block
    feats, sharp = [], []
    for r in range(0, h, block):
        for c in range(0, w, block):
            b = mscn[r : r + block, c : c + block]
            f = list(_ggd_fit(b))
            for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
                if dx >= 0:
                    prod = b[: block - dy, : block - dx] * b[dy:, dx:]
                else:
                    prod = b[: block - dy, 1:] * b[dy:, : block - 1]
                f += _aggd_fit(prod.ravel())
            feats.append(f)
            sharp.append(float(sigma[r : r + block, c : c + block].mean()))
    return np.asarray(feats, np.float64).reshape(-1, 18), np.asarray(sharp)


def _niqe_features(y: np.ndarray, block: int = _BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """36 features per 96x96 block (18 at full scale, 18 at half scale) and the full-scale block sharpness."""
    import torch

    from ..resize import imresize

    h, w = (y.shape[0] // block) * block, (y.shape[1] // block) * block
    if h == 0 or w == 0:
        raise InputError(f"NIQE needs an image of at least {block}x{block} pixels, got {y.shape}")
    y = y[:h, :w]
    f1, sharp = _block_features(y, block)
    half = imresize(torch.from_numpy(y), scale=0.5).numpy()
    f2, _ = _block_features(half, block // 2)
    return np.concatenate([f1, f2], axis=1), sharp


@dataclass(frozen=True)
class NIQEModel:
    """A pristine multivariate-Gaussian model of NIQE features: ``mu`` (36,), ``cov`` (36, 36), ``n_patches``."""

    mu: np.ndarray
    cov: np.ndarray
    n_patches: int

    def save(self, path: str | Path) -> None:
        """Write ``path`` (``.npz`` appended when missing, as :func:`numpy.savez` does) atomically."""
        path = Path(path)
        target = path if path.suffix == ".npz" else path.with_name(path.name + ".npz")
        with atomic_path(target) as tmp, open(tmp, "wb") as f:
            np.savez(f, mu=self.mu, cov=self.cov, n_patches=self.n_patches)

    @classmethod
    def load(cls, path: str | Path) -> NIQEModel:
        d = np.load(path)
        return cls(d["mu"], d["cov"], int(d["n_patches"]))


def fit_niqe_model(images: Iterable, *, sharpness_threshold: float = 0.75, progress: bool = False) -> NIQEModel:
    """Fit the pristine model on natural, undistorted images (as NIQE's ``estimatemodelparam``).

    Only the sharpest blocks of each image are kept (block sharpness > ``sharpness_threshold`` x the
    image's sharpest block), as in the paper.

    Args:
        images: uint8 arrays (HW or HWC RGB) or float tensors (C, H, W) in [0, 1], each >= 96 px per side.

    Raises:
        InputError: fewer than 37 usable blocks (the 36-dim covariance would be singular).
    """
    it = images
    if progress:
        from .._progress import tqdm

        it = tqdm(images, desc="fitting NIQE", unit="img")
    feats = []
    for img in it:
        y = _luma(img)
        if min(y.shape) < _BLOCK:
            continue
        f, sharp = _niqe_features(y)
        feats.append(f[sharp > sharpness_threshold * sharp.max()] if sharp.max() > 0 else f)
    if not feats or sum(len(f) for f in feats) < 37:
        raise InputError("too few 96x96 blocks to fit a NIQE model (need >= 37); give more or larger images")
    allf = np.concatenate(feats)
    return NIQEModel(allf.mean(axis=0), np.cov(allf, rowvar=False), len(allf))


def niqe(img, model: NIQEModel) -> float:
    """NIQE distance of ``img`` to the pristine ``model`` (lower = more natural). Needs >= 96x96 px.

    With fewer than two blocks the image covariance is taken as zero (only the model's covariance is used).
    """
    f, _ = _niqe_features(_luma(img))
    f = f[np.all(np.isfinite(f), axis=1)]
    if len(f) == 0:
        raise InputError("no finite NIQE features (flat image?)")
    mu = f.mean(axis=0)
    cov = np.cov(f, rowvar=False) if len(f) > 1 else np.zeros_like(model.cov)
    d = model.mu - mu
    return float(np.sqrt(d @ np.linalg.pinv((model.cov + cov) / 2.0) @ d))

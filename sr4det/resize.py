"""MATLAB-compatible ``imresize`` in PyTorch.

The SR literature makes its low-resolution inputs with MATLAB's ``imresize`` (bicubic with a = -0.5,
antialiased when shrinking, symmetric borders). PyTorch's bicubic uses a = -0.75 and no antialiasing,
which moves PSNR by tenths of a dB, so published tables can only be reproduced with this resampler.
It is also the ``bicubic`` baseline of the model zoo and the pre-upsampler of SRCNN/VDSR.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Literal

import numpy as np
import torch

from .errors import InputError

Kernel = Literal["cubic", "linear", "lanczos2", "lanczos3"]


def _cubic(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    a2, a3 = a * a, a * a * a
    return (1.5 * a3 - 2.5 * a2 + 1.0) * (a <= 1) + (-0.5 * a3 + 2.5 * a2 - 4.0 * a + 2.0) * ((a > 1) & (a <= 2))


def _linear(x: np.ndarray) -> np.ndarray:
    a = np.abs(x)
    return (1.0 - a) * (a <= 1)


def _lanczos(n: int) -> Callable[[np.ndarray], np.ndarray]:
    def kernel(x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            out = (n * np.sin(np.pi * x) * np.sin(np.pi * x / n)) / (np.pi**2 * x * x)
        out = np.where(x == 0, 1.0, out)
        return out * (np.abs(x) < n)

    return kernel


_KERNELS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float]] = {
    "cubic": (_cubic, 4.0),
    "linear": (_linear, 2.0),
    "lanczos2": (_lanczos(2), 4.0),
    "lanczos3": (_lanczos(3), 6.0),
}

KERNEL_RADIUS = {"cubic": 2, "linear": 1, "lanczos2": 2, "lanczos3": 3}
"""Support radius of each kernel in input pixels when upscaling (used for exact tiling)."""


@lru_cache(maxsize=256)
def _contributions(in_len: int, out_len: int, scale: float, kernel: str, antialias: bool) -> tuple[np.ndarray, np.ndarray]:
    """Indices (out_len, P) into the input and their weights (out_len, P), as MATLAB computes them."""
    fn, width = _KERNELS[kernel]
    if scale < 1 and antialias:
        h = lambda t: scale * fn(scale * t)  # noqa: E731
        width = width / scale
    else:
        h = fn
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]
    weights = h(u[:, None] - idx)
    weights = weights / weights.sum(axis=1, keepdims=True)
    # symmetric (mirror) boundary, as MATLAB: indices 1..n, n..1 repeating
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len)[::-1]])
    idx = mirror[np.mod(idx - 1, 2 * in_len).astype(np.int64)]
    keep = np.any(weights != 0, axis=0)
    return idx[:, keep].copy(), weights[:, keep].copy()


@lru_cache(maxsize=64)
def _weight_matrix(in_len: int, out_len: int, scale: float, kernel: str, antialias: bool) -> np.ndarray:
    """The contributions as a dense float64 (in_len, out_len) matrix (mirrored taps summed), for ``x @ W``."""
    idx, w = _contributions(in_len, out_len, scale, kernel, antialias)
    matrix = np.zeros((out_len, in_len))
    np.add.at(matrix, (np.repeat(np.arange(out_len), idx.shape[1]), idx.ravel()), w.ravel())
    return np.ascontiguousarray(matrix.T)


#: dense weight matrices up to this many entries (16 MB in float64) replace the gather: ~3x faster on the CPU
_DENSE_MAX = 2_000_000


def _resize_last_dim(x: torch.Tensor, out_len: int, scale: float, kernel: str, antialias: bool) -> torch.Tensor:
    if x.dtype == torch.float64 and x.shape[-1] * out_len <= _DENSE_MAX:
        # float64 (the uint8 path of the degradation): one matmul gives the same uint8 values as the gather below
        # (tests/test_resize.py); float32 keeps the gather, whose rounding the SR outputs in caches were made with
        return x @ torch.from_numpy(_weight_matrix(x.shape[-1], out_len, float(scale), kernel, antialias)).to(x.device)
    idx, w = _contributions(x.shape[-1], out_len, float(scale), kernel, antialias)
    idx_t = torch.from_numpy(idx).to(x.device)
    w_t = torch.from_numpy(w).to(device=x.device, dtype=x.dtype)
    gathered = x[..., idx_t]  # (..., out_len, P)
    return (gathered * w_t).sum(-1)


def imresize(
    x: torch.Tensor,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    kernel: Kernel = "cubic",
    antialias: bool = True,
) -> torch.Tensor:
    """Resize like MATLAB's ``imresize``.

    Args:
        x: float tensor, shape (..., H, W) (e.g. (B, C, H, W)); any value range, not clamped.
        scale: factor applied to both sides (``0.25`` shrinks x4, ``4`` enlarges x4); output side is
            ``ceil(side * scale)``.
        size: explicit output (H, W) instead of ``scale``.
        kernel: ``"cubic"`` (a = -0.5), ``"linear"``, ``"lanczos2"`` or ``"lanczos3"``.
        antialias: widen the kernel when shrinking (MATLAB default).

    Returns:
        Tensor of shape (..., H', W'), same dtype and device as ``x``.
    """
    if not torch.is_floating_point(x):
        raise InputError(f"imresize expects a float tensor, got {x.dtype}; convert with x.float() first")
    if x.ndim < 2:
        raise InputError(f"imresize expects shape (..., H, W), got {tuple(x.shape)}")
    if kernel not in _KERNELS:
        raise InputError(f"unknown kernel {kernel!r}; choose from {sorted(_KERNELS)}")
    h, w = x.shape[-2:]
    if h == 0 or w == 0:
        raise InputError(f"cannot resize an empty image of shape {tuple(x.shape)}")
    if (scale is None) == (size is None):
        raise InputError("give exactly one of scale or size")
    if size is not None:
        out_h, out_w = int(size[0]), int(size[1])
        sh, sw = out_h / h, out_w / w
    else:
        assert scale is not None  # exactly one of scale/size was checked above
        if scale <= 0:
            raise InputError(f"scale must be positive, got {scale}")
        sh = sw = float(scale)
        out_h, out_w = int(math.ceil(h * sh)), int(math.ceil(w * sw))
    # MATLAB resizes the dimension with the smaller factor first
    if sh <= sw:
        x = _resize_last_dim(x.transpose(-1, -2), out_h, sh, kernel, antialias).transpose(-1, -2)
        x = _resize_last_dim(x, out_w, sw, kernel, antialias)
    else:
        x = _resize_last_dim(x, out_w, sw, kernel, antialias)
        x = _resize_last_dim(x.transpose(-1, -2), out_h, sh, kernel, antialias).transpose(-1, -2)
    return x.contiguous()


def imresize_uint8(image: np.ndarray, scale: float, kernel: Kernel = "cubic") -> np.ndarray:
    """MATLAB ``imresize`` of a uint8 HWC or HW array, rounded and clipped back to uint8 like MATLAB."""
    if image.dtype != np.uint8:
        raise InputError(f"imresize_uint8 expects uint8, got {image.dtype}")
    t = torch.from_numpy(image.astype(np.float64))
    t = t.permute(2, 0, 1) if t.ndim == 3 else t
    out = imresize(t, scale=scale, kernel=kernel)
    out = out.permute(1, 2, 0) if image.ndim == 3 else out
    return np.clip(np.round(out.numpy()), 0, 255).astype(np.uint8)

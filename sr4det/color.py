"""Colour conversions used throughout SR evaluation (ITU-R BT.601, as MATLAB's ``rgb2ycbcr``).

All functions take and return float tensors in [0, 1], shape (B, 3, H, W) or (3, H, W).
"""

from __future__ import annotations

import torch

# MATLAB rgb2ycbcr for double input in [0, 1]: offsets and matrix in units of 1/255.
_OFFSET = torch.tensor([16.0, 128.0, 128.0]) / 255.0
_MATRIX = (
    torch.tensor(
        [
            [65.481, 128.553, 24.966],
            [-37.797, -74.203, 112.0],
            [112.0, -93.786, -18.214],
        ]
    )
    / 255.0
)
_INVERSE = torch.linalg.inv(_MATRIX.double()).float()


def _apply(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    m = matrix.to(device=x.device, dtype=x.dtype)
    return torch.einsum("ij,...jhw->...ihw", m, x)


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """RGB -> YCbCr (BT.601, studio range: Y in [16/255, 235/255]). Same shape as the input."""
    offset = _OFFSET.to(device=rgb.device, dtype=rgb.dtype).view(3, 1, 1)
    return _apply(rgb, _MATRIX) + offset


def ycbcr_to_rgb(ycbcr: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr` (not clamped)."""
    offset = _OFFSET.to(device=ycbcr.device, dtype=ycbcr.dtype).view(3, 1, 1)
    return _apply(ycbcr - offset, _INVERSE)

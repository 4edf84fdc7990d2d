"""The SR-literature evaluation protocol, shared by training validation and ``eval/sr_benchmark.py``.

HR image -> mod-crop to a multiple of the scale -> LR = MATLAB bicubic shrink rounded to uint8 ->
model -> SR rounded to uint8 -> PSNR-Y / SSIM-Y with ``shave = scale`` border pixels removed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from .._heap import trim_heap
from ..data.io import from_tensor, list_images, read_image, to_tensor
from ..degradation import DegradationSpec
from ..errors import DataError
from ..metrics import psnr_y, ssim_y
from ..models.card import ModelCard
from ..models.wrapper import SRModel
from .data import mod_crop


def network_model(net: torch.nn.Module, card: ModelCard, scale: int) -> SRModel:
    """``net`` (being trained, on any device) as an :class:`SRModel` on that device: inputs are moved to the
    network, outputs come back on it (an SRModel built around a moved network would feed it CPU tensors)."""
    model = SRModel(net, card, scale)
    for t in (*net.parameters(), *net.buffers()):
        return model.to(t.device)
    return model


def load_benchmark(folder: str | Path, scale: int, limit: int | None = None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``[(name, hr uint8, lr uint8)]`` for the images of ``folder`` (gray stays gray, alpha is dropped)."""
    paths = list_images(folder)[:limit]
    if not paths:  # validation on nothing would log NaN PSNR and export without the fp16 check
        raise DataError(f"no images in the validation folder {folder}; point val= at HR images (e.g. Set5) or drop it")
    out = []
    for path in paths:
        hr = read_image(path)[0]
        if hr.dtype != np.uint8:
            hr = np.round(hr / 257.0).astype(np.uint8)
        if hr.ndim == 3:
            hr = hr[..., :3]
        hr = np.ascontiguousarray(mod_crop(hr, scale))
        out.append((path.name, hr, DegradationSpec(scale)(hr)))
        trim_heap()
    return out


@torch.no_grad()
def super_resolve_uint8(model: Callable[[torch.Tensor], torch.Tensor], lr: np.ndarray) -> np.ndarray:
    """Run an SRModel on one uint8 image (HW or HWC) and return the uint8 result (rounded, as saved)."""
    x = to_tensor(lr).unsqueeze(0)
    return from_tensor(model(x)[0])


def evaluate_pairs(
    model: Callable[[torch.Tensor], torch.Tensor],
    pairs: Sequence[tuple[str, np.ndarray, np.ndarray]],
    scale: int,
    *,
    ssim: bool = True,
    extra: Callable[[np.ndarray], float] | None = None,
) -> dict[str, float]:
    """Mean PSNR-Y (and SSIM-Y, and ``extra(sr)`` when given) of ``model`` over ``pairs``.

    Returns:
        ``{"psnr": dB, "ssim": in [0, 1] or nan, "extra": mean or nan, "n": count}``.
    """
    ps, ss, ex = [], [], []
    for _, hr, lr in pairs:
        sr = super_resolve_uint8(model, lr)
        ps.append(psnr_y(sr, hr, shave=scale))
        if ssim:
            ss.append(ssim_y(sr, hr, shave=scale))
        if extra is not None:
            ex.append(extra(sr))
    return {
        "psnr": float(np.mean(ps)),
        "ssim": float(np.mean(ss)) if ss else float("nan"),
        "extra": float(np.mean(ex)) if ex else float("nan"),
        "n": len(ps),
    }

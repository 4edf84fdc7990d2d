"""Evaluating an SR model the way the literature's tables do (Set5/Set14/BSD100 protocol)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._progress import tqdm
from ..errors import DataError, InputError
from .quality import psnr_y, ssim_y


def mod_crop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop H and W (top-left anchored) down to multiples of ``scale``; (H, W[, C]) array."""
    h, w = image.shape[:2]
    return image[: h - h % scale, : w - w % scale]


def make_lr(hr: np.ndarray, scale: int, degradation=None) -> np.ndarray:
    """LR image as published tables make it: MATLAB bicubic x1/scale of the mod-cropped HR, rounded to uint8.

    ``hr``: uint8 (H, W) or (H, W, C). ``degradation``: a :class:`~sr4det.degradation.DegradationSpec` for
    blur/noise/JPEG (default ``DegradationSpec(scale)``, the literature's protocol); made by
    :func:`sr4det.degradation.degrade` as everywhere in sr4det.
    """
    from ..degradation import DegradationSpec

    spec = DegradationSpec(scale) if degradation is None else degradation
    if spec.scale != scale:
        raise InputError(f"degradation scale x{spec.scale} differs from the model's x{scale}; make them equal")
    return spec(hr)


@dataclass
class SRScore:
    """PSNR-Y (dB) and SSIM-Y of one image, and the seconds the model took."""

    name: str
    psnr: float
    ssim: float
    seconds: float


_SSIM_WINDOW = 11  # the Gaussian window of ssim_y (metrics/quality.py)


def evaluate_sr(
    model, paths: Sequence[str | Path], *, progress: bool = True, tile: int | str | None = None, degradation=None
) -> list[SRScore]:
    """PSNR-Y / SSIM-Y (shave = scale) of ``model`` on HR images: mod-crop, MATLAB-bicubic LR, SR, compare.

    Gray HR images are evaluated as RGB with equal channels (their Y is the gray level mapped to [16, 235]).

    Raises:
        DataError: an unreadable image, or one too small for the protocol (after the mod-crop and the ``scale``-pixel
            border shave an 11x11 SSIM window must fit); the message names the file.
        InputError: any other per-image input problem, its message prefixed with the file.
    """
    from ..data.io import read_image, to_rgb8, to_tensor
    from ..tiling import upscale

    scale = model.scale
    scores = []
    need = -(-(2 * scale + _SSIM_WINDOW) // scale) * scale  # smallest side whose mod-crop keeps an SSIM window after the shave
    for path in tqdm(list(paths), desc=f"evaluate x{scale}", disable=not progress, unit="img"):
        hr, _ = read_image(path)  # DataError names the file
        if min(hr.shape[:2]) < need:
            raise DataError(
                f"{path}: image of {hr.shape[0]}x{hr.shape[1]} is too small for x{scale} evaluation (the protocol "
                f"mod-crops to a multiple of {scale}, shaves {scale} border pixels per side and SSIM needs an "
                f"{_SSIM_WINDOW}x{_SSIM_WINDOW} window): every side needs at least {need} px; remove the image from the "
                "folder or use a smaller scale"
            )
        try:
            hr = mod_crop(to_rgb8(hr), scale)
            lr = make_lr(hr, scale, degradation)
            start = time.perf_counter()
            sr = upscale(model, to_tensor(lr), tile=tile)
            seconds = time.perf_counter() - start
            scores.append(SRScore(Path(path).name, psnr_y(sr, hr, shave=scale), ssim_y(sr, hr, shave=scale), seconds))
        except (DataError, InputError) as exc:  # say which image: a folder run stops at the first bad one
            if str(path) in str(exc):
                raise
            raise type(exc)(f"{path}: {exc}") from exc
    return scores

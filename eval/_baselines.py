"""Baselines sr4det's tiling is benchmarked against (eval/bench_tiling.py, tests/test_tiling.py); not library code."""

from __future__ import annotations

import torch


def hard_crop_upscale(model, x: torch.Tensor, tile: int, pad: int) -> torch.Tensor:
    """The baseline sr4det is measured against: Real-ESRGAN's tiling, not used by :func:`upscale`.

    A grid of ``tile`` x ``tile`` cores, each run with ``pad`` px of context and cropped hard (``pad=0`` is
    naive non-overlapping tiling). ``x``: float (C, H, W) in [0, 1]; returns float (C, sH, sW).
    """
    s = model.scale
    _, h, w = x.shape
    out = torch.empty(x.shape[0], h * s, w * s)
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            py0, px0, py1, px1 = max(y0 - pad, 0), max(x0 - pad, 0), min(y1 + pad, h), min(x1 + pad, w)
            with torch.inference_mode():
                o = model(x[:, py0:py1, px0:px1])
            out[:, y0 * s : y1 * s, x0 * s : x1 * s] = o[:, (y0 - py0) * s : (y1 - py0) * s, (x0 - px0) * s : (x1 - px0) * s]
    return out

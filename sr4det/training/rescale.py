"""Start a model at a new scale from weights trained at another: average a pixel-shuffle head's sub-pixels.

A PixelShuffle(s) head makes each output pixel from one of ``s*s`` sub-pixel filters. For a target scale
``t`` that divides ``s``, each of the ``t*t`` target sub-pixels covers an ``(s/t) x (s/t)`` block of source
sub-pixels; giving it their mean filter makes the new head output the box-averaged source output, a sound
starting point that fine-tuning then sharpens (sr4det's RFDN x2 starts from the published x4 file this way).
"""

from __future__ import annotations

import torch

from ..errors import ScaleError


def average_shuffle_head(
    weight: torch.Tensor, bias: torch.Tensor | None, channels: int, src: int, dst: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Filters of a ``PixelShuffle(dst)`` head from those of a ``PixelShuffle(src)`` head.

    Args:
        weight: (channels * src**2, C_in, k, k) conv weight ordered as ``nn.PixelShuffle`` expects
            (channel-major, then sub-pixel row, then column). bias: (channels * src**2,) or None.
        src, dst: source and target scales; ``dst`` must divide ``src``.

    Returns:
        weight (channels * dst**2, C_in, k, k) and bias (channels * dst**2,) or None.
    """
    if dst < 1 or src % dst:
        raise ScaleError(f"can only average a x{src} pixel-shuffle head down to a scale that divides {src}, not x{dst}")
    r = src // dst

    def fold(t: torch.Tensor) -> torch.Tensor:
        rest = t.shape[1:]
        t = t.reshape(channels, dst, r, dst, r, *rest)  # (c, dy, ry, dx, rx, ...): sub-pixel (dy*r+ry, dx*r+rx)
        return t.mean(dim=(2, 4)).reshape(channels * dst * dst, *rest)

    return fold(weight), (fold(bias) if bias is not None else None)


def rescale_head(state_dict: dict[str, torch.Tensor], key: str, channels: int, src: int, dst: int) -> dict[str, torch.Tensor]:
    """A copy of ``state_dict`` whose pixel-shuffle conv ``key`` (``"upsampler.0"``) works at ``dst``."""
    out = dict(state_dict)
    w, b = average_shuffle_head(state_dict[f"{key}.weight"], state_dict.get(f"{key}.bias"), channels, src, dst)
    out[f"{key}.weight"] = w
    if b is not None:
        out[f"{key}.bias"] = b
    return out

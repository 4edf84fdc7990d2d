"""Receptive-field radius of an SR model, measured from input gradients (the overlap that makes tiling exact)."""

from __future__ import annotations

import torch

from ..errors import InputError
from .plan import _align_up

__all__ = ["measure_receptive_field"]


def measure_receptive_field(model, *, size: int | None = None, channels: int = 3, seed: int = 0) -> int:
    """Radius (LR pixels) of the input region that influences the centre output pixel, from the gradient.

    Backpropagates the centre HR pixel (summed over channels) of ``model`` applied to a random mid-grey
    image of ``size`` x ``size`` (default ``2 * card.receptive_field + 9``, at least 33) and returns the
    largest Chebyshev distance from the centre LR pixel to a pixel with a nonzero input gradient. The
    network's output value is pinned to 0.5 (gradient kept) so the wrapper's final clamp cannot hide it.
    """
    rf = model.card.receptive_field or 32
    n = _align_up(size or max(33, 2 * rf + 9), max(1, model.card.size_multiple))
    c, s = n // 2, model.scale
    gen = torch.Generator().manual_seed(seed)
    x = (0.5 + 0.1 * torch.randn(1, channels, n, n, generator=gen)).clamp(0.05, 0.95)
    x = x.to(device=model.device, dtype=model.dtype).requires_grad_(True)

    def pin(_module, _inputs, output):
        return output - output.detach() + 0.5

    handle = model.net.register_forward_hook(pin)
    try:
        with torch.enable_grad():
            y = model(x)
            if not y.requires_grad:
                raise InputError(
                    f"{model.card.name} runs without autograd (e.g. spandrel descriptors use no_grad); "
                    "its receptive field cannot be measured from gradients"
                )
            y[0, :, c * s + s // 2, c * s + s // 2].sum().backward()
    finally:
        handle.remove()
    assert x.grad is not None  # x requires grad and backward() ran above
    g = x.grad.detach().abs().sum(dim=(0, 1)).cpu()
    nz = torch.nonzero(g > 0)
    if not len(nz):
        raise RuntimeError(f"the centre output of {model.card.name} has zero gradient with respect to every input pixel")
    return int((nz - c).abs().max())

"""Non-learned baselines: MATLAB-compatible bicubic, bilinear and Lanczos-3 upscaling."""

from __future__ import annotations

import torch
from torch import nn

from ..resize import KERNEL_RADIUS, Kernel, imresize
from .card import ModelCard
from .registry import register_model

_SCALES = (2, 3, 4, 8)


class Interpolate(nn.Module):
    """Upscale by ``scale`` with a fixed kernel (MATLAB ``imresize`` semantics). RGB in, RGB out."""

    def __init__(self, scale: int, kernel: Kernel):
        super().__init__()
        self.scale = scale
        self.kernel = kernel
        # +1: the output pixel's source coordinate falls between two input pixels
        self.receptive_field = KERNEL_RADIUS[kernel] + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return imresize(x, scale=self.scale, kernel=self.kernel)


def _card(name: str, paper: str) -> ModelCard:
    return ModelCard(
        name=name, scales=_SCALES, upsampling="none", weights_source="none", license="n/a", paper=paper, objective="none"
    )


@register_model(_card("bicubic", "Keys 1981, a = -0.5 as MATLAB imresize"), kernel="cubic")
@register_model(_card("bilinear", "triangle kernel as MATLAB imresize"), kernel="linear")
@register_model(_card("lanczos", "Lanczos-3 as MATLAB imresize"), kernel="lanczos3")
def interpolate(scale: int, kernel: Kernel) -> nn.Module:
    return Interpolate(scale, kernel)

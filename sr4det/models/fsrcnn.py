"""FSRCNN (Dong et al., ECCV 2016): feature extraction, shrinking, mapping, expanding, deconvolution, on Y."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .card import ModelCard
from .registry import register_model


class FSRCNN(nn.Module):
    """FSRCNN(d, s, m). Input: Y (B, 1, H, W) at LR size; output (B, 1, sH, sW)."""

    def __init__(self, scale: int, d: int = 56, s: int = 12, m: int = 4):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(1, d, 5, padding=2), nn.PReLU(d), nn.Conv2d(d, s, 1), nn.PReLU(s)]
        for _ in range(m):
            layers += [nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s)]
        layers += [nn.Conv2d(s, d, 1), nn.PReLU(d)]
        self.body = nn.Sequential(*layers)
        self.deconv = nn.ConvTranspose2d(d, 1, 9, stride=scale, padding=4, output_padding=scale - 1)
        self.receptive_field = 2 + m + math.ceil(4 / scale) + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.body(x))


_COMMON: dict[str, Any] = dict(
    scales=(2, 3, 4),
    input_space="y",
    upsampling="post",
    weights_source="sr4det",
    license="MIT (weights trained by sr4det on T91+BSD200)",
    paper="Dong et al., Accelerating the Super-Resolution Convolutional Neural Network, ECCV 2016",
)


@register_model(ModelCard(name="fsrcnn", shipped={2: "fsrcnn_x2.pt", 4: "fsrcnn_x4.pt"}, **_COMMON), d=56, s=12, m=4)
@register_model(ModelCard(name="fsrcnn_s", **_COMMON), d=32, s=5, m=1)
def fsrcnn(scale: int, d: int, s: int, m: int) -> nn.Module:
    return FSRCNN(scale, d=d, s=s, m=m)

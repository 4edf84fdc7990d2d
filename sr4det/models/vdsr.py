"""VDSR (Kim et al., CVPR 2016): a deep plain CNN with a global residual on the bicubic-enlarged Y channel."""

from __future__ import annotations

import math

import torch
from torch import nn

from .card import ModelCard
from .registry import register_model


class VDSR(nn.Module):
    """``depth`` 3x3 convolutions (paper: 20 x 64 channels), output added to the input. Y, pre-upsampled."""

    def __init__(self, scale: int, depth: int = 20, channels: int = 64):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(channels, 1, 3, padding=1))
        self.body = nn.Sequential(*layers)
        self.receptive_field = math.ceil(depth / scale) + 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@register_model(
    ModelCard(
        name="vdsr",
        scales=(2, 3, 4),
        input_space="y",
        upsampling="pre",
        weights_source="sr4det",
        shipped={4: "vdsr_x4.pt"},
        license="MIT (weights trained by sr4det on T91+BSD200)",
        paper="Kim et al., Accurate Image Super-Resolution Using Very Deep Convolutional Networks, CVPR 2016",
    )
)
def vdsr(scale: int, **kwargs) -> nn.Module:
    return VDSR(scale, **kwargs)

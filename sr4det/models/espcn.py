"""ESPCN (Shi et al., CVPR 2016): convolutions at LR resolution, then a sub-pixel (PixelShuffle) layer, on Y."""

from __future__ import annotations

import torch
from torch import nn

from .card import ModelCard
from .registry import register_model


class ESPCN(nn.Module):
    """ESPCN: conv5(64)-tanh, conv3(32)-tanh, conv3(s^2), PixelShuffle. Y (B, 1, H, W) -> (B, 1, sH, sW)."""

    def __init__(self, scale: int, channels: int = 64, hidden: int = 32, in_channels: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, channels, 5, padding=2),
            nn.Tanh(),
            nn.Conv2d(channels, hidden, 3, padding=1),
            nn.Tanh(),
            nn.Conv2d(hidden, in_channels * scale * scale, 3, padding=1),
        )
        self.shuffle = nn.PixelShuffle(scale)
        self.receptive_field = 2 + 1 + 1 + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.body(x))


@register_model(
    ModelCard(
        name="espcn",
        scales=(2, 3, 4),
        input_space="y",
        upsampling="post",
        weights_source="sr4det",
        shipped={2: "espcn_x2.pt", 4: "espcn_x4.pt"},
        license="MIT (weights trained by sr4det on T91+BSD200)",
        paper="Shi et al., Real-Time Single Image and Video Super-Resolution Using an Efficient Sub-Pixel CNN, CVPR 2016",
    )
)
def espcn(scale: int, **kwargs) -> nn.Module:
    return ESPCN(scale, **kwargs)

"""SRCNN (Dong et al., ECCV 2014 / TPAMI 2016): three convolutions (9-5-5) on the bicubic-enlarged Y channel."""

from __future__ import annotations

import math

import torch
from torch import nn

from .card import ModelCard
from .registry import register_model


class SRCNN(nn.Module):
    """9-5-5 SRCNN with 'same' zero padding. Input/output: Y, (B, 1, sH, sW) (pre-upsampled)."""

    def __init__(self, scale: int, n1: int = 64, n2: int = 32, f1: int = 9, f2: int = 5, f3: int = 5):
        super().__init__()
        self.conv1 = nn.Conv2d(1, n1, f1, padding=f1 // 2)
        self.conv2 = nn.Conv2d(n1, n2, f2, padding=f2 // 2)
        self.conv3 = nn.Conv2d(n2, 1, f3, padding=f3 // 2)
        self.relu = nn.ReLU(inplace=True)
        hr_radius = f1 // 2 + f2 // 2 + f3 // 2
        # HR radius mapped to LR pixels, plus the bicubic pre-upsampler's support (2) and rounding (1)
        self.receptive_field = math.ceil(hr_radius / scale) + 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(self.relu(self.conv2(self.relu(self.conv1(x)))))


@register_model(
    ModelCard(
        name="srcnn",
        scales=(2, 3, 4),
        input_space="y",
        upsampling="pre",
        weights_source="sr4det",
        shipped={2: "srcnn_x2.pt", 4: "srcnn_x4.pt"},
        license="MIT (weights trained by sr4det on T91+BSD200)",
        paper="Dong et al., Image Super-Resolution Using Deep Convolutional Networks, ECCV 2014",
    )
)
def srcnn(scale: int, **kwargs) -> nn.Module:
    return SRCNN(scale, **kwargs)

"""SRResNet and SRGAN (Ledig et al., CVPR 2017): residual blocks with BN, PixelShuffle upsampling; RGB.

The SRGAN generator is SRResNet fine-tuned with a perceptual + adversarial loss; ``SRGANDiscriminator``
is the paper's VGG-style discriminator used for that fine-tuning.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .card import ModelCard
from .registry import register_model


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.PReLU(channels),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SRResNet(nn.Module):
    """SRResNet (paper: 16 blocks, 64 channels). RGB (B, 3, H, W) -> (B, 3, sH, sW), s in {2, 4, 8}."""

    def __init__(self, scale: int, n_blocks: int = 16, channels: int = 64):
        super().__init__()
        if scale & (scale - 1):
            raise ValueError(f"SRResNet upsamples in x2 steps; scale {scale} is not a power of two")
        self.head = nn.Sequential(nn.Conv2d(3, channels, 9, padding=4), nn.PReLU(channels))
        self.body = nn.Sequential(*[_ResidualBlock(channels) for _ in range(n_blocks)])
        self.body_tail = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels))
        steps = int(math.log2(scale))
        up: list[nn.Module] = []
        for _ in range(steps):
            up += [nn.Conv2d(channels, channels * 4, 3, padding=1), nn.PixelShuffle(2), nn.PReLU(channels)]
        self.upsample = nn.Sequential(*up)
        self.tail = nn.Conv2d(channels, 3, 9, padding=4)
        upsample_radius = sum(1 / 2**i for i in range(steps)) + 4 / scale
        self.receptive_field = 4 + 2 * n_blocks + 1 + math.ceil(upsample_radius) + 1
        # default tile overlap, measured on BSD100 (random weights: 16 px; eval/RESULTS.md)
        self.effective_overlap = min(16, self.receptive_field)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.head(x)
        feat = feat + self.body_tail(self.body(feat))
        return self.tail(self.upsample(feat))


class SRGANDiscriminator(nn.Module):
    """The SRGAN discriminator: 8 conv layers (64 -> 512 channels, strided), then a small MLP -> logit.

    Input: RGB (B, 3, H, W) in [0, 1], any size (adaptive pooling); output: (B,) logits (real > 0).
    """

    def __init__(self, channels: int = 64, fc: int = 1024):
        super().__init__()
        cfg = [(3, channels, 1, False), (channels, channels, 2, True)]
        c = channels
        for mult in (2, 4, 8):
            cfg += [(c, channels * mult, 1, True), (channels * mult, channels * mult, 2, True)]
            c = channels * mult
        layers: list[nn.Module] = []
        for cin, cout, stride, bn in cfg:
            layers.append(nn.Conv2d(cin, cout, 3, stride=stride, padding=1))
            if bn:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(6), nn.Flatten(), nn.Linear(c * 36, fc), nn.LeakyReLU(0.2, inplace=True), nn.Linear(fc, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).squeeze(1)


_COMMON: dict[str, Any] = dict(scales=(2, 4, 8), input_space="rgb", upsampling="post", weights_source="sr4det")
_PAPER = "Ledig et al., Photo-Realistic Single Image Super-Resolution Using a GAN, CVPR 2017"


@register_model(
    ModelCard(
        name="srresnet",
        license="MIT (weights trained by sr4det)",
        paper=_PAPER + " (SRResNet, MSE)",
        shipped={4: "srresnet_x4.pt"},
        **_COMMON,
    )
)
@register_model(
    ModelCard(
        name="srgan",
        license="MIT (weights trained by sr4det)",
        paper=_PAPER + " (SRGAN generator)",
        objective="gan",
        shipped={4: "srgan_x4.pt"},
        **_COMMON,
    )
)
def srresnet(scale: int, **kwargs) -> nn.Module:
    return SRResNet(scale, **kwargs)

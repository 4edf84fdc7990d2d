"""EDSR (Lim et al., CVPRW 2017): residual blocks without BN; 'baseline' is 16 blocks x 64 channels.

Module names follow the authors' EDSR-PyTorch code so their published ``.pt`` files load directly.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .card import ModelCard, PublishedWeights
from .registry import register_model

_RGB_MEAN = (0.4488, 0.4371, 0.4040)  # DIV2K mean used by the published weights


class _MeanShift(nn.Conv2d):
    def __init__(self, sign: int, rgb_range: float = 255.0):
        super().__init__(3, 3, 1)
        self.weight.data = torch.eye(3).view(3, 3, 1, 1)
        assert self.bias is not None  # nn.Conv2d's default bias=True
        self.bias.data = sign * rgb_range * torch.tensor(_RGB_MEAN)
        self.requires_grad_(False)


class _ResBlock(nn.Module):
    def __init__(self, channels: int, res_scale: float):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(True), nn.Conv2d(channels, channels, 3, padding=1)
        )
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) * self.res_scale


class _Upsampler(nn.Sequential):
    def __init__(self, scale: int, channels: int):
        layers: list[nn.Module] = []
        if scale & (scale - 1) == 0:
            for _ in range(int(math.log2(scale))):
                layers += [nn.Conv2d(channels, 4 * channels, 3, padding=1), nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [nn.Conv2d(channels, 9 * channels, 3, padding=1), nn.PixelShuffle(3)]
        else:
            raise ValueError(f"EDSR supports scales 2^n and 3, not {scale}")
        super().__init__(*layers)


class EDSR(nn.Module):
    """EDSR. RGB (B, 3, H, W) in [0, 1] -> (B, 3, sH, sW). Internally works in [0, 255] like the original."""

    def __init__(self, scale: int, n_resblocks: int = 16, n_feats: int = 64, res_scale: float = 1.0):
        super().__init__()
        self.sub_mean = _MeanShift(-1)
        self.add_mean = _MeanShift(+1)
        self.head = nn.Sequential(nn.Conv2d(3, n_feats, 3, padding=1))
        self.body = nn.Sequential(
            *[_ResBlock(n_feats, res_scale) for _ in range(n_resblocks)], nn.Conv2d(n_feats, n_feats, 3, padding=1)
        )
        self.tail = nn.Sequential(_Upsampler(scale, n_feats), nn.Conv2d(n_feats, 3, 3, padding=1))
        steps = max(1, int(round(math.log2(scale)))) if scale != 3 else 1
        self.receptive_field = 1 + 2 * n_resblocks + 1 + steps + 1 + 1
        # default tile overlap, measured (eval/bench_tiling.py --section overlap, eval/RESULTS.md):
        # random-weight EDSR-baseline needed 10 px for uint8 agreement; 16 px is kept as a margin because
        # trained deep nets use more of their receptive field than random ones
        self.effective_overlap = min(16, self.receptive_field)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.sub_mean(x * 255.0)
        x = self.head(x)
        x = x + self.body(x)
        return self.add_mean(self.tail(x)) / 255.0


_URL = "https://cv.snu.ac.kr/research/EDSR/models/"


@register_model(
    ModelCard(
        name="edsr",
        scales=(2, 3, 4),
        input_space="rgb",
        upsampling="post",
        weights_source="published",
        license="MIT (EDSR-PyTorch)",
        # the published file names carry the first 8 hex digits of their sha256 (torch.hub convention)
        published={
            2: PublishedWeights(_URL + "edsr_baseline_x2-1bc95232.pt", "1bc95232"),
            3: PublishedWeights(_URL + "edsr_baseline_x3-abf2a44e.pt", "abf2a44e"),
            4: PublishedWeights(_URL + "edsr_baseline_x4-6b446fab.pt", "6b446fab"),
        },
        paper="Lim et al., Enhanced Deep Residual Networks for Single Image Super-Resolution, CVPRW 2017 (baseline)",
    )
)
def edsr(scale: int, **kwargs) -> nn.Module:
    return EDSR(scale, **kwargs)

"""PAN (Zhao et al., "Efficient Image Super-Resolution Using Pixel Attention", ECCV 2020 Workshops).

Self-calibrated blocks with pixel attention (SC-PA) in the trunk, and upsampling by nearest-neighbour
interpolation + conv + pixel attention (U-PA), plus a bilinear skip of the input. Pixel attention is a
1x1 conv and a sigmoid, so, unlike channel attention, it keeps the network **local**: tiles with the card's
overlap are exact. RGB in [0, 1]. Module names follow the authors' code (zhaohengyuan1/PAN), so
``PANx4_DF2K.pth`` (nf=40, unf=24, 16 blocks) loads directly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._detect import Detected, count_indexed, require_keys
from .card import ModelCard, PublishedWeights
from .registry import register_model


class _PA(nn.Module):
    def __init__(self, nf: int):
        super().__init__()
        self.conv = nn.Conv2d(nf, nf, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv(x))


class _PAConv(nn.Module):
    def __init__(self, nf: int):
        super().__init__()
        self.k2 = nn.Conv2d(nf, nf, 1)
        self.k3 = nn.Conv2d(nf, nf, 3, padding=1, bias=False)
        self.k4 = nn.Conv2d(nf, nf, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.k4(self.k3(x) * torch.sigmoid(self.k2(x)))


class _SCPA(nn.Module):
    def __init__(self, nf: int, reduction: int = 2):
        super().__init__()
        g = nf // reduction
        self.conv1_a = nn.Conv2d(nf, g, 1, bias=False)
        self.conv1_b = nn.Conv2d(nf, g, 1, bias=False)
        self.k1 = nn.Sequential(nn.Conv2d(g, g, 3, padding=1, bias=False))
        self.PAConv = _PAConv(g)
        self.conv3 = nn.Conv2d(g * reduction, nf, 1, bias=False)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.lrelu(self.k1(self.lrelu(self.conv1_a(x))))
        b = self.lrelu(self.PAConv(self.lrelu(self.conv1_b(x))))
        return self.conv3(torch.cat([a, b], dim=1)) + x


class PAN(nn.Module):
    """PAN. RGB (B, 3, H, W) in [0, 1] -> (B, 3, sH, sW), unclamped (the SRModel wrapper clamps)."""

    def __init__(self, scale: int, nf: int = 40, unf: int = 24, nb: int = 16, in_nc: int = 3):
        super().__init__()
        self.scale = scale
        self.conv_first = nn.Conv2d(in_nc, nf, 3, padding=1)
        self.SCPA_trunk = nn.Sequential(*[_SCPA(nf) for _ in range(nb)])
        self.trunk_conv = nn.Conv2d(nf, nf, 3, padding=1)
        self.upconv1 = nn.Conv2d(nf, unf, 3, padding=1)
        self.att1 = _PA(unf)
        self.HRconv1 = nn.Conv2d(unf, unf, 3, padding=1)
        if scale == 4:
            self.upconv2 = nn.Conv2d(unf, unf, 3, padding=1)
            self.att2 = _PA(unf)
            self.HRconv2 = nn.Conv2d(unf, unf, 3, padding=1)
        self.conv_last = nn.Conv2d(unf, in_nc, 3, padding=1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        # conv_first + 2 per SC-PA block (k3 -> k4) + trunk_conv, then the HR convs (at most 2 LR px after
        # nearest upsampling) and the bilinear skip (1 LR px) overlap within those 2 px
        self.receptive_field = 1 + 2 * nb + 1 + 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fea = self.conv_first(x)
        fea = fea + self.trunk_conv(self.SCPA_trunk(fea))
        steps = (
            [(2, self.upconv1, self.att1, self.HRconv1), (2, self.upconv2, self.att2, self.HRconv2)]
            if self.scale == 4
            else [(self.scale, self.upconv1, self.att1, self.HRconv1)]
        )
        for factor, up, att, hr in steps:
            fea = self.lrelu(att(up(F.interpolate(fea, scale_factor=factor, mode="nearest"))))
            fea = self.lrelu(hr(fea))
        skip = F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return self.conv_last(fea) + skip


def _detect(sd: dict[str, torch.Tensor]) -> Detected | None:
    if "conv_first.weight" not in sd or "SCPA_trunk.0.conv1_a.weight" not in sd:
        return None
    require_keys(sd, "pan", ["trunk_conv.weight", "upconv1.weight", "att1.conv.weight", "HRconv1.weight", "conv_last.weight"])
    nf, in_nc = sd["conv_first.weight"].shape[:2]
    kwargs = {
        "nf": int(nf),
        "unf": int(sd["upconv1.weight"].shape[0]),
        "nb": count_indexed(sd, "SCPA_trunk.{}.conv1_a.weight"),
        "in_nc": int(in_nc),
    }
    # x4 has a second upsampling stage; x2 and x3 share one layout, so such a file can run at either
    scales = (4,) if "upconv2.weight" in sd else (2, 3)
    return Detected("pan", scales, kwargs)


@register_model(
    ModelCard(
        name="pan",
        scales=(2, 3, 4),
        input_space="rgb",
        upsampling="post",
        weights_source="published",
        license="none stated by the authors (zhaohengyuan1/PAN); research use",
        published={
            4: PublishedWeights(
                "https://raw.githubusercontent.com/zhaohengyuan1/PAN/4d045d18592c5771cd3990da88f292812774e538/experiments/pretrained_models/PANx4_DF2K.pth",
                "739fab99ee7b7058dab4d1b84aa2869bb9fc3995a1c08789c20355bee943833c",
                "PANx4_DF2K.pth",
            )
        },
        paper="Zhao et al., Efficient Image Super-Resolution Using Pixel Attention, ECCVW 2020",
    ),
    detect=_detect,
)
def pan(scale: int, **kwargs) -> nn.Module:
    return PAN(scale, **kwargs)

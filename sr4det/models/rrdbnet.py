"""RRDBNet (Wang et al., ESRGAN, ECCVW 2018): residual-in-residual dense blocks, nearest-neighbour upsampling.

Key names follow BasicSR/Real-ESRGAN so their published files also load (spandrel loads them too).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .card import ModelCard
from .registry import register_model


class _ResidualDenseBlock(nn.Module):
    def __init__(self, nf: int, gc: int):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, gc, 3, padding=1)
        self.conv2 = nn.Conv2d(nf + gc, gc, 3, padding=1)
        self.conv3 = nn.Conv2d(nf + 2 * gc, gc, 3, padding=1)
        self.conv4 = nn.Conv2d(nf + 3 * gc, gc, 3, padding=1)
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, padding=1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class _RRDB(nn.Module):
    def __init__(self, nf: int, gc: int):
        super().__init__()
        self.rdb1 = _ResidualDenseBlock(nf, gc)
        self.rdb2 = _ResidualDenseBlock(nf, gc)
        self.rdb3 = _ResidualDenseBlock(nf, gc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rdb3(self.rdb2(self.rdb1(x))) * 0.2 + x


class RRDBNet(nn.Module):
    """RRDBNet (paper: nb=23, nf=64, gc=32). RGB (B, 3, H, W) -> (B, 3, sH, sW), s in {1, 2, 4}.

    For x2 and x1 the input is pixel-unshuffled first (as Real-ESRGAN does), so H, W must be even (x2)
    or multiples of 4 (x1); the wrapper pads.
    """

    def __init__(self, scale: int, nb: int = 23, nf: int = 64, gc: int = 32):
        super().__init__()
        self.scale = scale
        self.unshuffle = {4: 1, 2: 2, 1: 4}[scale]
        self.size_multiple = self.unshuffle
        self.conv_first = nn.Conv2d(3 * self.unshuffle**2, nf, 3, padding=1)
        self.body = nn.Sequential(*[_RRDB(nf, gc) for _ in range(nb)])
        self.conv_body = nn.Conv2d(nf, nf, 3, padding=1)
        self.conv_up1 = nn.Conv2d(nf, nf, 3, padding=1)
        self.conv_up2 = nn.Conv2d(nf, nf, 3, padding=1)
        self.conv_hr = nn.Conv2d(nf, nf, 3, padding=1)
        self.conv_last = nn.Conv2d(nf, 3, 3, padding=1)
        self.lrelu = nn.LeakyReLU(0.2, inplace=True)
        # 5 chained convs per RDB, 3 RDBs per RRDB; head/tail convs and nearest upsampling add a few
        self.receptive_field = (15 * nb + 6) * self.unshuffle
        # default tile overlap in feature pixels x unshuffle: random-weight RRDBNet (nb=23) needed only 6 px for
        # uint8 agreement (its 0.2 residual scaling damps the body); 16 px is kept for trained weights,
        # which use more of the receptive field (eval/RESULTS.md)
        self.effective_overlap = min(16 * self.unshuffle, self.receptive_field)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.unshuffle > 1:
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = self.lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = self.lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(self.lrelu(self.conv_hr(feat)))


@register_model(
    ModelCard(
        name="rrdbnet",
        scales=(2, 4),
        input_space="rgb",
        upsampling="post",
        weights_source="none",
        license="BSD-3-Clause (architecture, ESRGAN/BasicSR)",
        paper="Wang et al., ESRGAN: Enhanced Super-Resolution GANs, ECCVW 2018",
    )
)
def rrdbnet(scale: int, **kwargs) -> nn.Module:
    return RRDBNet(scale, **kwargs)

"""CARN-M (Ahn, Kang & Sohn, "Fast, Accurate, and Lightweight Super-Resolution with Cascading Residual
Network", ECCV 2018), the mobile variant.

Cascading blocks whose outputs are concatenated and fused by 1x1 convs, at block and network level;
CARN-M uses group convolutions (4 groups) in efficient residual blocks and shares one such block three
times inside each cascading block. One network serves x2, x3 and x4 (``multi_scale=True``: a separate
upsampling branch per scale), as the published ``carn_m.pth`` does. Fully convolutional, so tiling is exact.
RGB in [0, 1] with the DIV2K mean subtracted inside. Module names follow the authors' code
(nmhkahn/CARN-pytorch).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._detect import Detected, require_keys
from .card import ModelCard, PublishedWeights
from .registry import register_model

_DIV2K_MEAN = (0.4488, 0.4371, 0.4040)


class _MeanShift(nn.Module):
    def __init__(self, sign: int):
        super().__init__()
        self.shifter = nn.Conv2d(3, 3, 1)
        self.shifter.weight.data = torch.eye(3).view(3, 3, 1, 1)
        assert self.shifter.bias is not None  # nn.Conv2d's default bias=True
        self.shifter.bias.data = sign * torch.tensor(_DIV2K_MEAN)
        self.shifter.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shifter(x)


class _Fuse(nn.Module):
    """1x1 conv + ReLU over a concatenation (the authors' ``BasicBlock(k=1)``)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 1), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _EResidualBlock(nn.Module):
    def __init__(self, c: int, groups: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c, c, 3, padding=1, groups=groups),
            nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 3, padding=1, groups=groups),
            nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + x)


class _Cascade(nn.Module):
    """Three cascaded steps; ``b1`` is one residual block applied three times (CARN-M's weight sharing)."""

    def __init__(self, c: int, groups: int):
        super().__init__()
        self.b1 = _EResidualBlock(c, groups)
        self.c1, self.c2, self.c3 = _Fuse(2 * c, c), _Fuse(3 * c, c), _Fuse(4 * c, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cat, out = x, x
        for fuse in (self.c1, self.c2, self.c3):
            cat = torch.cat([cat, self.b1(out)], dim=1)
            out = fuse(cat)
        return out


def _upsample_branch(c: int, scale: int, groups: int) -> nn.Module:
    layers: list[nn.Module] = []
    for factor in (2, 2) if scale == 4 else (scale,):
        layers += [nn.Conv2d(c, factor * factor * c, 3, padding=1, groups=groups), nn.ReLU(inplace=True), nn.PixelShuffle(factor)]
    branch = nn.Module()
    branch.body = nn.Sequential(*layers)
    return branch


class CARN(nn.Module):
    """CARN-M. RGB (B, 3, H, W) in [0, 1] -> (B, 3, sH, sW), unclamped (the SRModel wrapper clamps).

    ``multi_scale=True`` holds branches ``up2``/``up3``/``up4`` and runs the one for ``scale``.
    """

    def __init__(self, scale: int, channels: int = 64, groups: int = 4, multi_scale: bool = True):
        super().__init__()
        self.scale = scale
        self.sub_mean, self.add_mean = _MeanShift(-1), _MeanShift(+1)
        self.entry = nn.Conv2d(3, channels, 3, padding=1)
        self.b1, self.b2, self.b3 = (_Cascade(channels, groups) for _ in range(3))
        self.c1, self.c2, self.c3 = _Fuse(2 * channels, channels), _Fuse(3 * channels, channels), _Fuse(4 * channels, channels)
        self.upsample = nn.Module()
        for s in (2, 3, 4) if multi_scale else (scale,):
            self.upsample.add_module(f"up{s}" if multi_scale else "up", _upsample_branch(channels, s, groups))
        self._branch = f"up{scale}" if multi_scale else "up"
        self.exit = nn.Conv2d(channels, 3, 3, padding=1)
        # entry, 3 cascades x 3 shared residual blocks x two 3x3, the LR upsampling conv, the rest (< 1 LR px)
        self.receptive_field = 1 + 3 * 3 * 2 + 1 + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.entry(self.sub_mean(x))
        cat, out = x, x
        for block, fuse in ((self.b1, self.c1), (self.b2, self.c2), (self.b3, self.c3)):
            cat = torch.cat([cat, block(out)], dim=1)
            out = fuse(cat)
        out = getattr(self.upsample, self._branch).body(out)
        return self.add_mean(self.exit(out))


def _detect(sd: dict[str, torch.Tensor]) -> Detected | None:
    if "entry.weight" not in sd or "b1.b1.body.0.weight" not in sd:
        return None
    require_keys(sd, "carn_m", ["sub_mean.shifter.weight", "add_mean.shifter.weight", "c3.body.0.weight", "exit.weight"])
    channels = int(sd["entry.weight"].shape[0])
    groups = channels // int(sd["b1.b1.body.0.weight"].shape[1])
    kwargs = {"channels": channels, "groups": groups}
    if any(k.startswith("upsample.up2.") for k in sd):
        held = tuple(s for s in (2, 3, 4) if f"upsample.up{s}.body.0.weight" in sd)
        return Detected("carn_m", held, {**kwargs, "multi_scale": True})
    require_keys(sd, "carn_m", ["upsample.up.body.0.weight"])
    factor = int(sd["upsample.up.body.0.weight"].shape[0]) // channels
    scale = 3 if factor == 9 else (4 if "upsample.up.body.3.weight" in sd else 2)
    return Detected("carn_m", (scale,), {**kwargs, "multi_scale": False})


_URL = "https://raw.githubusercontent.com/nmhkahn/CARN-pytorch/40d3514f81cccd680d846cd5ab07af35f2c8e0e2/checkpoint/carn_m.pth"
_SHA = "d48a759a84509351facb6b7c6d5bd6edec98b98519b8c464ee4ab44d2ba964ff"


@register_model(
    ModelCard(
        name="carn_m",
        scales=(2, 3, 4),
        input_space="rgb",
        upsampling="post",
        weights_source="published",
        license="MIT (nmhkahn/CARN-pytorch)",
        published={s: PublishedWeights(_URL, _SHA, "carn_m.pth") for s in (2, 3, 4)},
        paper="Ahn et al., Fast, Accurate, and Lightweight Super-Resolution with Cascading Residual Network, ECCV 2018 (CARN-M)",
    ),
    detect=_detect,
)
def carn_m(scale: int, **kwargs) -> nn.Module:
    return CARN(scale, **kwargs)

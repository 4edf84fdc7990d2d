"""IMDN (Hui et al., "Lightweight Image Super-Resolution with Information Multi-distillation Network", ACM MM 2019).

Six information multi-distillation blocks (IMDB): each splits its features four times, keeps a quarter
("distilled") at every step and refines the rest, then fuses the distilled parts through contrast-aware
channel attention (CCA: per-channel mean + standard deviation over the **whole image**, so the network is
not local and tiles are blended, not exact). Works on RGB in [0, 1] without mean shift. Module names follow
the authors' code so their published state dicts (``module.``-prefixed by DataParallel) load directly.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import InputError
from ._detect import Detected, count_indexed, require_keys, shuffle_scale
from .card import ModelCard, PublishedWeights
from .registry import register_model

_NEG_SLOPE = 0.05  # the authors' LeakyReLU slope


def _conv(cin: int, cout: int, k: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=(k - 1) // 2)


class _CCA(nn.Module):
    """Contrast-aware channel attention: squeeze-excite on (std + mean) of each channel over H x W."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)
        std = (x - mean).pow(2).mean(dim=(2, 3), keepdim=True).sqrt()  # population std, as the authors compute it
        return x * self.conv_du(std + mean)


class _IMDB(nn.Module):
    def __init__(self, channels: int, distillation_rate: float = 0.25):
        super().__init__()
        self.d = int(channels * distillation_rate)
        self.r = channels - self.d
        self.c1 = _conv(channels, channels, 3)
        self.c2 = _conv(self.r, channels, 3)
        self.c3 = _conv(self.r, channels, 3)
        self.c4 = _conv(self.r, self.d, 3)
        self.act = nn.LeakyReLU(_NEG_SLOPE, inplace=True)
        self.c5 = _conv(4 * self.d, channels, 1)
        self.cca = _CCA(4 * self.d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1, r1 = torch.split(self.act(self.c1(x)), [self.d, self.r], dim=1)
        d2, r2 = torch.split(self.act(self.c2(r1)), [self.d, self.r], dim=1)
        d3, r3 = torch.split(self.act(self.c3(r2)), [self.d, self.r], dim=1)
        d4 = self.c4(r3)
        return self.c5(self.cca(torch.cat([d1, d2, d3, d4], dim=1))) + x


class DistillationTrunk(nn.Module):
    """The skeleton IMDN introduced and RFDN kept: a 3x3 feature conv, ``num_modules`` blocks whose outputs are
    all concatenated and fused by a 1x1 conv + LeakyReLU, a 3x3 conv with a long skip, and a pixel-shuffle head.

    Blocks are registered as ``{prefix}{i}`` (``IMDB1`` ..., ``B1`` ...) so the authors' keys load unchanged.
    ``rgb_range`` scales the input on the way in and the output on the way out (for weights trained on 0-255).
    """

    def __init__(
        self, scale: int, block: type[nn.Module], prefix: str, nf: int, num_modules: int, in_nc: int = 3, rgb_range: float = 1.0
    ):
        super().__init__()
        self.rgb_range = rgb_range
        self.fea_conv = _conv(in_nc, nf, 3)
        self.num_modules = num_modules
        self._prefix = prefix
        for i in range(1, num_modules + 1):
            self.add_module(f"{prefix}{i}", block(nf))
        self.c = nn.Sequential(_conv(nf * num_modules, nf, 1), nn.LeakyReLU(_NEG_SLOPE, inplace=True))
        self.LR_conv = _conv(nf, nf, 3)
        self.upsampler = nn.Sequential(_conv(nf, in_nc * scale * scale, 3), nn.PixelShuffle(scale))
        # the 3x3 chain (fea_conv, 4 chained 3x3 per block, LR_conv, the head); the blocks' attention reaches
        # further (image-wide in IMDN, a pooled grid in RFDN), so such networks are tiled with blending
        self.receptive_field = 1 + 4 * num_modules + 1 + 1
        self.effective_overlap = 32
        # oneDNN runs these many narrow convs (and the 1x1s that take PyTorch's slow path in NCHW) about 15-20%
        # faster in channels-last on CPU (measured for RFDN on a 160x120 input, eval/RESULTS.md §7)
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        fea = self.fea_conv(x * self.rgb_range if self.rgb_range != 1 else x)
        outs, h = [], fea
        for i in range(1, self.num_modules + 1):
            h = getattr(self, f"{self._prefix}{i}")(h)
            outs.append(h)
        out = self.upsampler(self.LR_conv(self.c(torch.cat(outs, dim=1))) + fea).contiguous()
        return out / self.rgb_range if self.rgb_range != 1 else out


class IMDN(DistillationTrunk):
    """IMDN. RGB (B, 3, H, W) in [0, 1] -> (B, 3, sH, sW), unclamped (the SRModel wrapper clamps)."""

    def __init__(self, scale: int, nf: int = 64, num_modules: int = 6, in_nc: int = 3):
        if nf < 16 or nf % 4:
            # a quarter of nf is distilled per step and CCA squeezes 16x: fewer channels leave it none
            raise InputError(f"IMDN needs nf >= 16 and a multiple of 4 (contrast-aware attention reduces 16x), got nf={nf}")
        super().__init__(scale, _IMDB, "IMDB", nf, num_modules, in_nc)


def detect_trunk(sd: dict[str, torch.Tensor], arch: str, block_key: str, extra_keys: tuple[str, ...] = ()) -> Detected | None:
    """Recognise a :class:`DistillationTrunk` state dict whose blocks carry ``block_key`` (``"IMDB{}.c1.weight"``)."""
    if "fea_conv.weight" not in sd or block_key.format(1) not in sd:
        return None
    nf, in_nc = sd["fea_conv.weight"].shape[:2]
    n = count_indexed(sd, block_key, start=1)
    require_keys(sd, arch, ["c.0.weight", "LR_conv.weight", "upsampler.0.weight", *extra_keys])
    scale = shuffle_scale(sd, arch, "upsampler.0.weight", in_nc)
    return Detected(arch, (scale,), {"nf": int(nf), "num_modules": n, "in_nc": int(in_nc)})


def _detect(sd: dict[str, torch.Tensor]) -> Detected | None:
    return detect_trunk(sd, "imdn", "IMDB{}.c1.weight")


_COMMIT = "https://raw.githubusercontent.com/Zheng222/IMDN/8f158e6a5ac9db6e5857d9159fd4a6c4214da574/checkpoints/"


@register_model(
    ModelCard(
        name="imdn",
        scales=(2, 3, 4),
        input_space="rgb",
        upsampling="post",
        non_local=True,
        weights_source="published",
        license="none stated by the authors (Zheng222/IMDN); research use",
        published={
            2: PublishedWeights(
                _COMMIT + "IMDN_x2.pth", "740b39653592bd3f49955a21cd9e16f2d37f2c413368cc09327601b8fbe42ce1", "IMDN_x2.pth"
            ),
            3: PublishedWeights(
                _COMMIT + "IMDN_x3.pth", "11b1716a19bc16e5e353e1db798d476169338e631eb170c82d765559888cb028", "IMDN_x3.pth"
            ),
            4: PublishedWeights(
                _COMMIT + "IMDN_x4.pth", "e660c38221147217a136debeb99eb304d62d9c0f73ac421ed66281b619719714", "IMDN_x4.pth"
            ),
        },
        paper="Hui et al., Lightweight Image Super-Resolution with Information Multi-distillation Network, ACM MM 2019",
    ),
    detect=_detect,
)
def imdn(scale: int, **kwargs) -> nn.Module:
    return IMDN(scale, **kwargs)


@register_model(
    ModelCard(
        name="imdn_det",
        scales=(2,),
        input_space="rgb",
        upsampling="post",
        non_local=True,
        weights_source="sr4det",
        shipped={2: "imdn_det_x2.pt"},
        license="none stated by the authors of the IMDN x2 weights it starts from (Zheng222/IMDN); research use",
        objective="detection",
        trained_with="yolo11n",
        paper="IMDN (Hui et al., ACM MM 2019) x2, fine-tuned through a frozen YOLO11n on COCO train2017 crops (eval/RESULTS.md §7)",
    ),
)
def imdn_det(scale: int, **kwargs) -> nn.Module:
    return IMDN(scale, **kwargs)

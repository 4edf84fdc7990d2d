"""RFDN (Liu, Tang & Wu, "Residual Feature Distillation Network for Lightweight Image Super-Resolution",
ECCV 2020 Workshops / AIM 2020 efficient-SR challenge winner).

Residual feature distillation blocks (RFDB): 1x1 "distillation" convs beside 3x3 shallow-residual
refinements, fused by enhanced spatial attention (ESA). ESA pools with a strided conv and a 7x7/3 max-pool
and interpolates back to the input size, so its output depends on where a tile starts: the network is
not shift-equivariant and tiles are blended (``non_local`` on the card), not exact. The published AIM
weights work on pixel values in [0, 255], as the authors' test script feeds them (fed [0, 1] they score
26.0 dB on Set5 x4 instead of 32.2), so the
network scales by ``rgb_range`` inside and speaks [0, 1] outside.
Module names follow the authors' code (njulj/RFDN) so ``RFDN_AIM.pth`` (nf=50, 4 blocks) loads directly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._detect import Detected
from .card import ModelCard, PublishedWeights
from .imdn import DistillationTrunk, detect_trunk
from .registry import register_model

_NEG_SLOPE = 0.05


def _conv(cin: int, cout: int, k: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=(k - 1) // 2)


class _ESA(nn.Module):
    """Enhanced spatial attention: a coarse (1/6-resolution) mask, upsampled, gating every pixel."""

    def __init__(self, channels: int):
        super().__init__()
        f = channels // 4
        self.conv1 = nn.Conv2d(channels, f, 1)
        self.conv_f = nn.Conv2d(f, f, 1)
        self.conv_max = nn.Conv2d(f, f, 3, padding=1)
        self.conv2 = nn.Conv2d(f, f, 3, stride=2, padding=0)
        self.conv3 = nn.Conv2d(f, f, 3, padding=1)
        self.conv3_ = nn.Conv2d(f, f, 3, padding=1)
        self.conv4 = nn.Conv2d(f, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1_ = self.conv1(x)
        c1 = F.max_pool2d(self.conv2(c1_), kernel_size=7, stride=3)
        c3 = self.conv3_(F.relu(self.conv3(F.relu(self.conv_max(c1)))))
        c3 = F.interpolate(c3, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return x * torch.sigmoid(self.conv4(c3 + self.conv_f(c1_)))


class _RFDB(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        dc = channels // 2
        self.c1_d, self.c1_r = _conv(channels, dc, 1), _conv(channels, channels, 3)
        self.c2_d, self.c2_r = _conv(channels, dc, 1), _conv(channels, channels, 3)
        self.c3_d, self.c3_r = _conv(channels, dc, 1), _conv(channels, channels, 3)
        self.c4 = _conv(channels, dc, 3)
        self.act = nn.LeakyReLU(_NEG_SLOPE, inplace=True)
        self.c5 = _conv(4 * dc, channels, 1)
        self.esa = _ESA(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1, r1 = self.act(self.c1_d(x)), self.act(self.c1_r(x) + x)
        d2, r2 = self.act(self.c2_d(r1)), self.act(self.c2_r(r1) + r1)
        d3, r3 = self.act(self.c3_d(r2)), self.act(self.c3_r(r2) + r2)
        r4 = self.act(self.c4(r3))
        return self.esa(self.c5(torch.cat([d1, d2, d3, r4], dim=1)))


class RFDN(DistillationTrunk):
    """RFDN. RGB (B, 3, H, W) in [0, 1] -> (B, 3, sH, sW), unclamped (the SRModel wrapper clamps)."""

    def __init__(self, scale: int, nf: int = 50, num_modules: int = 4, in_nc: int = 3, rgb_range: float = 255.0):
        super().__init__(scale, _RFDB, "B", nf, num_modules, in_nc, rgb_range)


def _detect(sd: dict[str, torch.Tensor]) -> Detected | None:
    return detect_trunk(sd, "rfdn", "B{}.c1_d.weight", ("B1.esa.conv1.weight",))


@register_model(
    ModelCard(
        name="rfdn",
        scales=(2, 3, 4),
        input_space="rgb",
        upsampling="post",
        non_local=True,
        min_size=15,  # ESA's 3x3/2 conv then 7x7/3 max-pool need 15 px; the wrapper pads smaller inputs
        weights_source="published",
        license="MIT (njulj/RFDN)",
        published={
            4: PublishedWeights(
                "https://raw.githubusercontent.com/njulj/RFDN/7cf4e25b6633e81fd7e26891aeee2baca4f8f927/trained_model/RFDN_AIM.pth",
                "11af8ec8ebd68689e90ef1e29044f9804c72d3bd9f7573820b7b26035782760c",
                "RFDN_AIM.pth",
            )
        },
        paper="Liu et al., Residual Feature Distillation Network for Lightweight Image Super-Resolution, ECCVW 2020 (AIM 2020 model)",
    ),
    detect=_detect,
)
@register_model(
    ModelCard(
        name="rfdn_det",
        scales=(2, 4),
        input_space="rgb",
        upsampling="post",
        non_local=True,
        min_size=15,
        weights_source="sr4det",
        shipped={2: "rfdn_det_x2.pt", 4: "rfdn_det_x4.pt"},
        license="MIT (RFDN_AIM weights by njulj/RFDN, MIT; fine-tuned by sr4det)",
        objective="detection",
        trained_with="yolo11n",
        paper="RFDN (Liu et al., ECCVW 2020) fine-tuned through a frozen YOLO11n on COCO train2017 crops (eval/RESULTS.md §7)",
    ),
)
def rfdn(scale: int, **kwargs) -> nn.Module:
    return RFDN(scale, **kwargs)


@register_model(
    ModelCard(
        name="rfdn_real",
        scales=(2, 4),
        input_space="rgb",
        upsampling="post",
        non_local=True,
        min_size=15,
        weights_source="sr4det",
        shipped={2: "rfdn_real_x2.pt", 4: "rfdn_real_x4.pt"},
        license="MIT (RFDN_AIM weights by njulj/RFDN, MIT; fine-tuned by sr4det)",
        objective="detection",
        trained_with="yolo11n",
        degradations=(
            "random (Real-ESRGAN-style, at the model's scale): 15% clean bicubic, 35% one pass, 50% two passes; "
            "Gaussian/generalised/sinc blur sigma 0.2-3 HR px at x4 (scaled with the factor), Gaussian noise 1-20 or "
            "Poisson, JPEG 30-95"
        ),
        paper="rfdn_det fine-tuned through a frozen YOLO11n on COCO train2017 crops with random real-world degradations "
        "(sr4det.degradation.RandomDegradation; eval/RESULTS.md §13, §16)",
    ),
)
def rfdn_real(scale: int, **kwargs) -> nn.Module:
    return RFDN(scale, **kwargs)

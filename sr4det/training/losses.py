"""Losses for SR training: pixel (L1/MSE), perceptual feature losses and the SRGAN adversarial loss.

Perceptual losses compare features of a *frozen* network. SRGAN used VGG19 (``vgg19``, needs the
user's torchvision VGG19 weights file, since sr4det never downloads them silently); offline, any frozen
detector backbone works the same way: a torchvision ResNet (``resnet18``/``resnet34``/``resnet50``)
or an ultralytics YOLO (its first backbone layers, from a ``.pt`` file or an OpenVINO export folder:
:func:`sr4det.integrations.ultralytics.detector_losses.yolo_feature_extractor`). All extractors take RGB in [0, 1];
Y-channel outputs are replicated to three channels first.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InputError, WeightsError, WeightsNotAvailableError

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class PixelLoss(nn.Module):
    """``"l1"`` (mean absolute error) or ``"mse"`` between two tensors of one shape."""

    def __init__(self, kind: str = "l1"):
        super().__init__()
        if kind not in ("l1", "mse"):
            raise InputError(f"pixel loss must be 'l1' or 'mse', got {kind!r}")
        self.kind = kind

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean L1 or L2 over all elements of two same-shape (B, C, H, W) float tensors in [0, 1]; scalar."""
        return F.l1_loss(pred, target) if self.kind == "l1" else F.mse_loss(pred, target)


class _Normalize(nn.Module):
    mean: torch.Tensor  # buffers, registered in __init__
    std: torch.Tensor

    def __init__(self, mean=_IMAGENET_MEAN, std=_IMAGENET_STD):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def _load_state(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise WeightsNotAvailableError(f"feature-extractor weights not found: {path}")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a bad file
        raise WeightsError(f"cannot read {path}: {exc}") from exc
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise WeightsError(f"{path} is not a state dict")
    return sd


def build_feature_extractor(kind: str, weights: str | Path, *, layer: str | int | None = None) -> nn.Module:
    """A frozen feature network (eval mode, no gradients to its parameters), RGB [0, 1] input.

    Args:
        kind: ``"vgg19"`` (torchvision VGG19 state dict; features up to ``layer``, default 35 = relu5_4
            before pooling, SRGAN's VGG54), ``"resnet18"``/``"resnet34"``/``"resnet50"`` (torchvision
            state dict; stem + layers up to ``layer``, default ``"layer2"``), or ``"ultralytics"`` (a YOLO
            ``.pt`` file or ultralytics OpenVINO export folder / ``.xml``; its first ``layer`` modules,
            default 5).
        weights: local path of the weights (nothing is downloaded).

    Raises:
        WeightsNotAvailableError / WeightsError: missing or unreadable/mismatching file.
        InputError: unknown ``kind``.
    """
    import torchvision

    if kind == "vgg19":
        net = torchvision.models.vgg19()
        try:
            net.load_state_dict(_load_state(weights))
        except RuntimeError as exc:
            raise WeightsError(f"{weights} is not a torchvision VGG19 state dict: {exc}") from exc
        upto = 35 if layer is None else int(layer)
        body: nn.Module = net.features[: upto + 1]
    elif kind in ("resnet18", "resnet34", "resnet50"):
        net = getattr(torchvision.models, kind)()
        try:
            net.load_state_dict(_load_state(weights))
        except RuntimeError as exc:
            raise WeightsError(f"{weights} is not a torchvision {kind} state dict: {exc}") from exc
        names = ["layer1", "layer2", "layer3", "layer4"]
        last = "layer2" if layer is None else str(layer)
        if last not in names:
            raise InputError(f"resnet layer must be one of {names}, got {last!r}")
        mods = [net.conv1, net.bn1, net.relu, net.maxpool] + [getattr(net, n) for n in names[: names.index(last) + 1]]
        body = nn.Sequential(*mods)
    elif kind == "ultralytics":
        from ..integrations.ultralytics.detector_losses import yolo_feature_extractor

        return yolo_feature_extractor(weights, layer=layer)
    else:
        raise InputError(f"unknown feature extractor {kind!r}; use vgg19, resnet18/34/50 or ultralytics")
    extractor = nn.Sequential(_Normalize(), body)
    extractor.eval().requires_grad_(False)
    return extractor


class FeatureLoss(nn.Module):
    """Perceptual loss: L1 (or MSE) between frozen-network features of prediction and target.

    Args:
        extractor: a frozen network from :func:`build_feature_extractor` (RGB [0, 1] in).
        kind: ``"l1"`` or ``"mse"`` on the features.

    ``forward(pred, target)``: float (B, 1 or 3, H, W) in [0, 1] -> scalar.
    """

    def __init__(self, extractor: nn.Module, kind: str = "l1"):
        super().__init__()
        self.extractor = extractor.eval().requires_grad_(False)
        self.pixel = PixelLoss(kind)

    def train(self, mode: bool = True) -> FeatureLoss:  # the extractor stays in eval mode (frozen BN statistics)
        super().train(mode)
        self.extractor.eval()
        return self

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Feature-space distance of SR ``pred`` to HR ``target``, (B, C, H, W) floats in [0, 1] (C = 1 is repeated to
        RGB); scalar, gradients flow only into ``pred``."""
        if pred.shape[1] == 1:
            pred, target = pred.expand(-1, 3, -1, -1), target.expand(-1, 3, -1, -1)
        with torch.no_grad():
            ft = self.extractor(target)
        return self.pixel(self.extractor(pred), ft)


class AdversarialLoss(nn.Module):
    """The SRGAN (non-saturating, BCE-with-logits) GAN loss around a discriminator returning (B,) logits.

    ``generator_loss(fake)`` pushes D(fake) to "real"; ``discriminator_loss(real, fake)`` trains D
    (``fake`` is detached). Y inputs are replicated to three channels.
    """

    def __init__(self, discriminator: nn.Module):
        super().__init__()
        self.discriminator = discriminator

    @staticmethod
    def _rgb(x: torch.Tensor) -> torch.Tensor:
        return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x

    def generator_loss(self, fake: torch.Tensor) -> torch.Tensor:
        """Non-saturating GAN loss of SR outputs ``fake`` (B, C, H, W) in [0, 1]: BCE of the discriminator calling
        them real; scalar, gradients flow into the generator."""
        logits = self.discriminator(self._rgb(fake))
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))

    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        """BCE of the discriminator on HR ``real`` (label 1) and detached SR ``fake`` (label 0), both (B, C, H, W)
        in [0, 1]; scalar, no gradient reaches the generator."""
        lr = self.discriminator(self._rgb(real))
        lf = self.discriminator(self._rgb(fake.detach()))
        return F.binary_cross_entropy_with_logits(lr, torch.ones_like(lr)) + F.binary_cross_entropy_with_logits(
            lf, torch.zeros_like(lf)
        )

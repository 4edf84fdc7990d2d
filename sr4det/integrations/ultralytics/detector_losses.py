"""Losses through a frozen detector: SR trained for what the detector needs, not for PSNR.

The training detector is a PyTorch ultralytics YOLO (rebuilt from an OpenVINO export by
:func:`sr4det.integrations.ultralytics.recover.yolo_from_openvino`, or a ``.pt``): frozen (no parameter gets a gradient)
and in eval mode (fused convolutions, inference numerics), while gradients flow through it into the SR
network. Three terms, each composable with the pixel/feature/GAN terms of :mod:`sr4det.training.losses`:

* :class:`FeatureDistillation` - the detector's neck features (the inputs of its head, P3-P5) on SR(LR)
  against the same features on HR (the teacher). Needs no labels.
* :class:`OutputDistillation` - its raw head outputs: class logits (binary cross-entropy against the
  teacher's probabilities, minus the teacher's own entropy so a perfect match scores 0) and box
  distributions (KL divergence of the DFL bins), both weighted by the teacher's confidence per anchor.
  Needs no labels.
* :class:`DetectionLoss` - the detector's own training loss (ultralytics ``v8DetectionLoss``: task-aligned
  assignment, BCE classes, CIoU + DFL boxes, ultralytics' default gains) against ground-truth boxes.

Beside them, :func:`yolo_feature_extractor`: the frozen first layers of a YOLO, the ``"ultralytics"`` network of the
perceptual loss (:func:`sr4det.training.build_feature_extractor`).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import InputError, WeightsError, WeightsNotAvailableError

HeadOutputs = dict  # {"boxes": (B, 4*reg_max, A), "scores": (B, nc, A), "feats": [(B, C_i, H_i, W_i)]}


class TrainingDetector(nn.Module):
    """A frozen ultralytics YOLO whose forward returns its raw head outputs and neck features.

    Args:
        model: an ultralytics ``DetectionModel`` (fused, float32).

    ``forward(x)``: float32 RGB (B, 3, H, W) in [0, 1], H and W multiples of ``stride`` ->
    ``{"boxes": (B, 4*reg_max, A), "scores": (B, nc, A) logits, "feats": [P3, P4, P5]}``.
    """

    def __init__(self, model: nn.Module, name: str = ""):
        super().__init__()
        # Any: an ultralytics DetectionModel, whose .model/.stride/.args nn.Module's typing cannot see
        self.model: Any = model.float().eval().requires_grad_(False)
        self.names: dict[int, str] = {int(k): str(v) for k, v in dict(getattr(model, "names", {}) or {}).items()}
        stride: torch.Tensor = model.stride  # type: ignore[assignment]  # a buffer of ultralytics' DetectionModel
        self.stride = int(max(stride.tolist()))
        self.name = name
        self.train(False)

    def train(self, mode: bool = True) -> TrainingDetector:  # always eval numerics, whatever the caller's mode
        super().train(False)
        return self

    def forward(self, x: torch.Tensor) -> HeadOutputs:
        if x.shape[-1] % self.stride or x.shape[-2] % self.stride:
            raise InputError(f"detector input {tuple(x.shape)} must have sides that are multiples of {self.stride}")
        out = self.model(x)
        preds = out[1] if isinstance(out, tuple) else out
        if not isinstance(preds, dict) or not {"boxes", "scores", "feats"} <= set(preds):
            raise WeightsError(f"{self.name or 'the detector'} is not an anchor-free ultralytics Detect model (YOLOv8/11)")
        return preds


def load_training_detector(path: str | Path) -> TrainingDetector:
    """The frozen training detector from an ultralytics OpenVINO export folder / ``.xml`` or a YOLO ``.pt``.

    Raises:
        WeightsNotAvailableError: the path does not exist. WeightsError: not a YOLOv8/11 detection model.
    """
    from .recover import pytorch_yolo

    path = Path(path)
    if not path.exists():
        raise WeightsNotAvailableError(f"training detector not found: {path}")
    model = pytorch_yolo(path, fuse=True)
    return TrainingDetector(model, name=path.name)


class FeatureDistillation(nn.Module):
    """Mean over pyramid levels of MSE(student, teacher) / mean(teacher^2): scale-free per level."""

    def forward(self, student: HeadOutputs, teacher: HeadOutputs) -> torch.Tensor:
        terms = [
            F.mse_loss(s, t) / t.pow(2).mean().clamp_min(1e-6) for s, t in zip(student["feats"], teacher["feats"], strict=True)
        ]
        return torch.stack(terms).mean()


class OutputDistillation(nn.Module):
    """Class and box-distribution distillation of the raw head outputs, weighted by teacher confidence.

    Each anchor's weight is the teacher's highest class probability plus ``floor`` (so background anchors
    still learn to stay silent), normalised over the batch. Returns ``cls + box`` (both >= 0, 0 at a match).
    """

    def __init__(self, reg_max: int = 16, floor: float = 0.05):
        super().__init__()
        self.reg_max = reg_max
        self.floor = floor

    def forward(self, student: HeadOutputs, teacher: HeadOutputs) -> torch.Tensor:
        p_t = teacher["scores"].sigmoid()  # (B, nc, A)
        w = p_t.amax(dim=1) + self.floor  # (B, A)
        w = w / w.sum()
        s, t = student["scores"], teacher["scores"]
        cls = (
            F.binary_cross_entropy_with_logits(s, p_t, reduction="none")
            - F.binary_cross_entropy_with_logits(t, p_t, reduction="none")
        ).sum(1)  # (B, A)
        b, _, a = student["boxes"].shape
        log_s = student["boxes"].view(b, 4, self.reg_max, a).log_softmax(2)
        log_t = teacher["boxes"].view(b, 4, self.reg_max, a).log_softmax(2)
        box = (log_t.exp() * (log_t - log_s)).sum(2).sum(1)  # KL(teacher || student), (B, A)
        return ((cls + box) * w).sum()


class DetectionLoss(nn.Module):
    """ultralytics' own detection loss of the frozen detector on SR input, against ground-truth boxes.

    ``forward(student, targets)`` with ``targets`` as in :class:`~sr4det.training.detection_data.DetectionBatch`;
    returns (box + cls + dfl) with ultralytics' default gains, averaged over the batch.
    """

    def __init__(self, detector: TrainingDetector):
        super().__init__()
        from ultralytics.cfg import DEFAULT_CFG
        from ultralytics.utils.loss import v8DetectionLoss

        model = detector.model
        if not hasattr(model, "args") or not hasattr(model.args, "box"):
            model.args = SimpleNamespace(box=DEFAULT_CFG.box, cls=DEFAULT_CFG.cls, dfl=DEFAULT_CFG.dfl)
        self._loss = v8DetectionLoss(model)

    def forward(self, student: HeadOutputs, targets: dict[str, torch.Tensor]) -> torch.Tensor:
        batch = student["scores"].shape[0]
        total, _ = self._loss(student, targets)
        return total.sum() / batch


class _UltralyticsBackbone(nn.Module):
    """The first ``n_layers`` modules of an ultralytics detection model (a plain chain in YOLOv5/8/11)."""

    def __init__(self, layers: nn.Sequential):
        super().__init__()
        self.layers = layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


def yolo_feature_extractor(weights: str | Path, *, layer: str | int | None = None) -> nn.Module:
    """The frozen perceptual-loss network ``build_feature_extractor("ultralytics", weights, layer=)`` returns: the first
    ``layer`` (default 5) modules of a YOLO ``.pt`` or OpenVINO export folder / ``.xml`` (eval mode, no gradients to its
    parameters); input RGB float (B, 3, H, W) in [0, 1], no ImageNet normalisation (YOLO takes [0, 1] as it is).

    Raises:
        WeightsNotAvailableError / WeightsError: missing or unreadable file. InputError: those layers are no plain chain.
    """
    from .recover import pytorch_yolo

    path = Path(weights)
    if not path.exists():
        raise WeightsNotAvailableError(f"feature-extractor weights not found: {path}")
    det = pytorch_yolo(path)
    if not isinstance(det, nn.Module) or not hasattr(det, "model"):
        raise WeightsError(f"{path} is not a PyTorch ultralytics model (exported formats have no features)")
    n = 5 if layer is None else int(layer)
    chain = cast(nn.Sequential, det.model)[:n]  # ultralytics' DetectionModel.model is an nn.Sequential
    if any(getattr(m, "f", -1) != -1 for m in chain):
        raise InputError(f"the first {n} layers of {path} are not a plain chain; choose a smaller layer")
    extractor: nn.Module = _UltralyticsBackbone(chain).float()
    extractor.eval().requires_grad_(False)
    return extractor

"""What a training run is told and what it gives back: :class:`TrainConfig` (saved as ``config.json`` and inside
every checkpoint) and :class:`TrainResult`. The loop itself is :func:`sr4det.training.trainer.train`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._suggest import did_you_mean
from ..errors import InputError


@dataclass
class TrainConfig:
    """Everything a training run needs; saved as ``config.json`` and inside every checkpoint.

    Attributes:
        model: zoo name (``"espcn"``, ``"srresnet"`` ...); ``scale``: upscaling factor.
        data: HR image folders (e.g. ``[".../sr_train/T91", ".../sr_train/BSD200"]``).
        out: run folder (checkpoints, CSV log).
        model_kwargs: width/depth options of the architecture (stored in the exported weight file).
        steps, batch, patch: optimisation steps, crops per step, LR crop side in pixels.
        lr, lr_min_ratio, warmup: Adam learning rate, cosine-decayed to ``lr * lr_min_ratio``, after a
            linear warm-up of ``warmup`` steps.
        pixel_loss, pixel_weight: ``"l1"``/``"mse"`` and its weight (0 disables it).
        feature, feature_weights, feature_layer, feature_weight: perceptual loss, e.g. ``"vgg19"`` with
            a local VGG19 state dict, or ``"resnet18"``/``"ultralytics"`` (a frozen detector backbone).
        gan_weight, disc_channels, disc_lr: SRGAN adversarial loss weight (0 = off) and discriminator.
        detector, det_data: the frozen training detector (ultralytics OpenVINO export folder or YOLO ``.pt``)
            and a COCO instances json whose images give the training crops
            (:class:`~sr4det.training.detection_data.DetectionPatches`, used instead of ``data`` whenever
            ``det_data`` is set, so a pixel-only baseline can train on the very same crops).
        distill_feature_weight, distill_output_weight, detection_weight: weights of the detector terms
            (:mod:`sr4det.integrations.ultralytics.detector_losses`; 0 = off): neck-feature and head-output distillation
            against the detector on HR, and the detector's own loss against the ground-truth boxes.
        det_warmup: the detector terms' weights ramp linearly from 0 over this many steps (the pixel term
            holds the network near its initialisation meanwhile).
        det_val: hold this many images of ``det_data`` out of training (seeded by ``seed``) and score the network
            on them against bicubic (AP through ``detector``, paired bootstrap CI) every ``val_every`` steps and at
            the end (:mod:`sr4det.training.detection_val`); the step with the highest held-out AP is exported
            beside the last one as ``best_det_val.pt`` in ``out``. 0 = off.
        det_val_detector: score the held-out images through this detector instead of ``detector`` (e.g. the other
            shared YOLO, so that the step is not chosen for fooling the training detector); None = ``detector``.
        init: weight file to start from (e.g. the SRResNet for SRGAN); any sr4det weight file of a
            compatible architecture.
        val, val_every, val_limit: HR folder evaluated with the benchmark protocol every ``val_every``
            steps and at the end (logged only: weights are never selected on it).
        grad_clip: clip the global gradient norm (None = off).
        export, export_half: write the final weights with :func:`~sr4det.models.save_weights`;
            ``export_half="auto"`` stores fp16 when it moves validation PSNR by < 0.005 dB.
        device: where the network, discriminator, feature extractor and training detector train (``"cpu"``,
            ``"cuda"``, ``"cuda:1"``); None = CUDA when available, else the CPU. Under torchrun ``"cuda"`` (or None
            with CUDA) puts each process on ``cuda:LOCAL_RANK``. Checkpoints and exported weights hold CPU tensors,
            so ``device`` may change on resume.
        degradation: how LR training inputs are made from HR: None or a preset name (``"clean"``, ``"camera"``,
            ``"web"``, ``"video"``: :func:`sr4det.degradation.preset`, once per image) or ``"random"``
            (:class:`sr4det.degradation.RandomDegradation`, a new random degradation per detection crop; needs
            ``det_data``).
        seed, threads, limit_images, progress, resume, log_every, ckpt_every, meta: as named. ``batch`` is the global
            batch under torchrun (it must divide by the process count; each process trains on its slice).
    """

    model: str
    scale: int
    data: list[str]
    out: str
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    steps: int = 1000
    batch: int = 16
    patch: int = 24
    lr: float = 1e-3
    lr_min_ratio: float = 0.01
    warmup: int = 0
    pixel_loss: str = "l1"
    pixel_weight: float = 1.0
    feature: str | None = None
    feature_weights: str | None = None
    feature_layer: str | None = None
    feature_weight: float = 0.0
    gan_weight: float = 0.0
    detector: str | None = None
    det_data: str | None = None
    distill_feature_weight: float = 0.0
    distill_output_weight: float = 0.0
    detection_weight: float = 0.0
    det_warmup: int = 0
    det_val: int = 0
    det_val_detector: str | None = None
    disc_channels: int = 32
    disc_lr: float | None = None
    init: str | None = None
    val: str | None = None
    val_every: int = 0
    val_limit: int | None = None
    grad_clip: float | None = None
    export: str | None = None
    export_half: str = "auto"
    seed: int = 0
    threads: int | None = None
    device: str | None = None
    degradation: str | None = None
    limit_images: int | None = None
    progress: bool = True
    resume: bool = False
    log_every: int = 50
    ckpt_every: int = 500
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def detector_terms(self) -> bool:
        """Whether any loss runs through the training detector."""
        return max(self.distill_feature_weight, self.distill_output_weight, self.detection_weight) > 0

    @property
    def objective(self) -> str:
        """What the weights are optimised for, as model cards say it: detection, gan, feature or pixel."""
        if self.detector_terms:
            return "detection"
        return "gan" if self.gan_weight > 0 else ("feature" if self.feature_weight > 0 else "pixel")

    def degradation_spec(self) -> Any:
        """The :class:`~sr4det.degradation.DegradationSpec` or :class:`~sr4det.degradation.RandomDegradation` of
        ``degradation`` at ``scale`` (None: the clean default)."""
        from ..degradation import RandomDegradation, preset

        if self.degradation is None:
            return None
        return RandomDegradation(self.scale) if self.degradation == "random" else preset(self.degradation, self.scale)

    def validate(self) -> None:
        """Raise an :class:`InputError` naming the fix for inconsistent options (before data or detectors load)."""
        from .._validators import check_device

        check_device(self.device, flag="device")
        if self.steps < 1 or self.batch < 1 or self.patch < 2:
            raise InputError(f"steps, batch must be >= 1 and patch >= 2 (got {self.steps}, {self.batch}, {self.patch})")
        weights = (
            self.pixel_weight,
            self.feature_weight,
            self.gan_weight,
            self.distill_feature_weight,
            self.distill_output_weight,
            self.detection_weight,
        )
        if min(weights) < 0:
            raise InputError(f"loss weights must be >= 0, got {weights}")
        if max(weights) == 0:
            raise InputError("all loss weights are 0; nothing to train")
        if (self.detector_terms or self.det_data) and (not self.detector or not self.det_data):
            raise InputError(
                "detector loss terms need detector=PATH (OpenVINO export or YOLO .pt) and det_data=COCO_JSON "
                "(e.g. ../shared/data/coco_train160/annotations/instances_train2017.json)"
            )
        if self.degradation is not None:
            from ..degradation import list_presets

            if self.degradation not in (*list_presets(), "random"):
                raise InputError(
                    f"degradation must be None, 'random' or a preset name {list_presets()}, got {self.degradation!r}"
                )
            if self.degradation == "random" and not self.det_data:
                raise InputError("degradation='random' degrades detection crops on the fly; set det_data=COCO_JSON too")
        if self.det_val and not self.det_data:
            raise InputError("det_val holds out images of det_data; set det_data=COCO_JSON (and detector=PATH)")
        if self.det_val and not self.detector:
            raise InputError("det_val scores the network through detector=PATH (OpenVINO export or YOLO .pt); set it")
        if self.det_val_detector and not self.det_val:
            raise InputError("det_val_detector scores the images det_val holds out; set det_val=N (e.g. 32) too")
        if isinstance(self.det_val, bool) or not isinstance(self.det_val, int) or self.det_val < 0:
            raise InputError(f"det_val must be a number of held-out images >= 0, got {self.det_val!r}")
        if self.feature_weight > 0 and (not self.feature or not self.feature_weights):
            raise InputError("feature_weight > 0 needs feature= (vgg19/resnet18/...) and feature_weights=PATH")
        if self.export_half not in ("auto", "yes", "no"):
            raise InputError(f"export_half must be auto, yes or no, got {self.export_half!r}")
        if not self.data and not self.det_data:
            raise InputError("no training data folders given")
        from ..models import list_models

        if self.model not in list_models():
            raise InputError(
                f"unknown model {self.model!r}{did_you_mean(self.model, list_models())}; trainable architectures: "
                f"{', '.join(list_models())}"
            )
        # torch.optim raises a bare ValueError for these only after the data and the detector have loaded
        for name in ("lr", "lr_min_ratio", "disc_lr", "grad_clip"):
            value = getattr(self, name)
            if value is None and name in ("disc_lr", "grad_clip"):
                continue
            low_ok = name == "lr_min_ratio"
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
                or (value == 0 and not low_ok)
            ):
                want = "a number in [0, 1]" if low_ok else "a finite number > 0"
                raise InputError(f"{name} must be {want}, got {value!r}")
        if self.lr_min_ratio > 1:
            raise InputError(
                f"lr_min_ratio must be a number in [0, 1] (the final lr as a fraction of lr), got {self.lr_min_ratio}"
            )
        for name in ("warmup", "det_warmup", "val_every"):
            if getattr(self, name) < 0:
                raise InputError(f"{name} must be >= 0 steps, got {getattr(self, name)}")


@dataclass
class TrainResult:
    """What a run produced: final ``step``, last logged ``loss``, validation ``val_psnr``/``val_ssim``
    (nan without ``val``), ``seconds`` of training (summed over resumes), the ``checkpoint`` and ``export`` paths;
    with ``det_val``: the last step's held-out detection scores (``det_val``, keys of
    :data:`sr4det.training.detection_val.FIELDS`) and the file of the best held-out step (``best_det_val``)."""

    step: int
    loss: float
    val_psnr: float
    val_ssim: float
    seconds: float
    checkpoint: Path
    export: Path | None
    export_half: bool = False
    det_val: dict[str, float] | None = None
    best_det_val: Path | None = None

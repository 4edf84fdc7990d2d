"""The SR training loop: any zoo architecture, pixel / perceptual / adversarial losses, checkpoints.

One run lives in one folder (``TrainConfig.out``): ``last.pt`` (everything needed to resume: network,
optimisers, schedulers, discriminator, step, RNG states), ``log.csv`` (one row every ``log_every``
steps, plus validation rows) and ``config.json``. ``resume=True`` continues from ``last.pt`` with the
same step count; with the same seed the data stream continues where it stopped.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import InputError
from ..models import SRGANDiscriminator, build_network, save_weights
from ..models.factory import read_weights_for
from ..models.weights import atomic_torch_save, load_state_into
from ..models.wrapper import SRModel
from .data import PairedPatches, network_io, pre_upsample_margin
from .detection_data import DetectionPatches
from .detector_losses import DetectionLoss, FeatureDistillation, OutputDistillation, TrainingDetector, load_training_detector
from .evaluate import evaluate_pairs, load_benchmark
from .losses import AdversarialLoss, FeatureLoss, PixelLoss, build_feature_extractor

_CSV_FIELDS = [
    "step",
    "loss",
    "pixel",
    "feature",
    "adv_g",
    "adv_d",
    "det_feature",
    "det_output",
    "det_loss",
    "lr",
    "val_psnr",
    "val_ssim",
    "seconds",
]


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
            (:mod:`sr4det.training.detector_losses`; 0 = off): neck-feature and head-output distillation
            against the detector on HR, and the detector's own loss against the ground-truth boxes.
        det_warmup: the detector terms' weights ramp linearly from 0 over this many steps (the pixel term
            holds the network near its initialisation meanwhile).
        init: weight file to start from (e.g. the SRResNet for SRGAN); any sr4det weight file of a
            compatible architecture.
        val, val_every, val_limit: HR folder evaluated with the benchmark protocol every ``val_every``
            steps and at the end (logged only: weights are never selected on it).
        grad_clip: clip the global gradient norm (None = off).
        export, export_half: write the final weights with :func:`~sr4det.models.save_weights`;
            ``export_half="auto"`` stores fp16 when it moves validation PSNR by < 0.005 dB.
        seed, threads, limit_images, progress, resume, log_every, ckpt_every, meta: as named.
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

    def validate(self) -> None:
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
        if self.feature_weight > 0 and (not self.feature or not self.feature_weights):
            raise InputError("feature_weight > 0 needs feature= (vgg19/resnet18/...) and feature_weights=PATH")
        if self.export_half not in ("auto", "yes", "no"):
            raise InputError(f"export_half must be auto, yes or no, got {self.export_half!r}")
        if not self.data and not self.det_data:
            raise InputError("no training data folders given")


@dataclass
class TrainResult:
    """What a run produced: final ``step``, last logged ``loss``, validation ``val_psnr``/``val_ssim``
    (nan without ``val``), ``seconds`` of training (summed over resumes), the ``checkpoint`` and ``export`` paths."""

    step: int
    loss: float
    val_psnr: float
    val_ssim: float
    seconds: float
    checkpoint: Path
    export: Path | None
    export_half: bool = False


def _lr_factor(step: int, cfg: TrainConfig) -> float:
    if cfg.warmup and step < cfg.warmup:
        return (step + 1) / cfg.warmup
    t = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr_min_ratio + (1 - cfg.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * t))


def _atomic_save(obj: Any, path: Path) -> None:
    atomic_torch_save(obj, path)


class _Run:
    def __init__(self, cfg: TrainConfig):
        cfg.validate()
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        # an init file (ours or a published state dict) knows the widths it was trained with; --kw still wins
        wf = read_weights_for(cfg.init, cfg.model, cfg.scale) if cfg.init else None
        self.model_kwargs = {**(wf.kwargs if wf else {}), **cfg.model_kwargs}
        self.net, self.card = build_network(cfg.model, cfg.scale, **self.model_kwargs)
        if wf is not None:
            load_state_into(self.net, wf.state_dict, name=cfg.model, source=str(cfg.init))
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: _lr_factor(s, cfg))
        self.pixel = PixelLoss(cfg.pixel_loss)
        self.feature: FeatureLoss | None = None
        if cfg.feature_weight > 0:
            assert cfg.feature and cfg.feature_weights  # validate() requires both
            self.feature = FeatureLoss(build_feature_extractor(cfg.feature, cfg.feature_weights, layer=cfg.feature_layer))
        self.adv: AdversarialLoss | None = None
        self.dopt: torch.optim.Adam | None = None  # set together with self.adv
        if cfg.gan_weight > 0:
            self.adv = AdversarialLoss(SRGANDiscriminator(channels=cfg.disc_channels))
            self.dopt = torch.optim.Adam(self.adv.discriminator.parameters(), lr=cfg.disc_lr or cfg.lr, betas=(0.9, 0.999))
        self.step = 0
        self.seconds = 0.0
        self.margin = pre_upsample_margin(self.card)
        self.val_pairs = load_benchmark(cfg.val, cfg.scale, cfg.val_limit) if cfg.val else []
        self.detector: TrainingDetector | None = None
        self.det_data: DetectionPatches | None = None
        if cfg.det_data:  # COCO crops (also for a pixel-only baseline on the same crops)
            self._setup_detector_terms()
        else:
            self.data = PairedPatches(
                cfg.data, cfg.scale, min_lr_size=cfg.patch + 2 * self.margin, limit=cfg.limit_images, progress=cfg.progress
            )
        self.ckpt = self.out / "last.pt"
        self.log_path = self.out / "log.csv"

    def _setup_detector_terms(self) -> None:
        cfg = self.cfg
        if self.card.input_space != "rgb" or self.card.upsampling != "post":
            raise InputError(
                f"detector loss terms train RGB post-upsampling networks; {cfg.model} is "
                f"{self.card.input_space}/{self.card.upsampling}-upsampling (try imdn, rfdn, pan, carn_m, srresnet)"
            )
        assert cfg.detector and cfg.det_data  # validate() requires both for detector terms
        self.detector = load_training_detector(cfg.detector)
        side = cfg.patch * cfg.scale
        if side % self.detector.stride:
            raise InputError(
                f"HR crop side patch*scale = {side} must be a multiple of the detector stride {self.detector.stride}; "
                f"use patch={-(-side // self.detector.stride) * self.detector.stride // cfg.scale} or similar"
            )
        self.det_data = DetectionPatches(
            cfg.det_data, cfg.scale, self.detector.names, limit=cfg.limit_images, progress=cfg.progress
        )
        self.feat_distill = FeatureDistillation()
        self.out_distill = OutputDistillation(reg_max=int(self.detector.model.model[-1].reg_max))
        self.det_loss = DetectionLoss(self.detector) if cfg.detection_weight > 0 else None

    def _detector_terms(
        self, pred: torch.Tensor, hr: torch.Tensor, targets: dict[str, torch.Tensor], parts: dict[str, float]
    ) -> torch.Tensor:
        cfg = self.cfg
        assert self.detector is not None  # detector terms run only after _setup_detector_terms
        ramp = min(1.0, (self.step + 1) / cfg.det_warmup) if cfg.det_warmup else 1.0
        student = self.detector(pred.clamp(0, 1))
        loss = pred.new_zeros(())
        if cfg.distill_feature_weight > 0 or cfg.distill_output_weight > 0:
            with torch.no_grad():
                teacher = self.detector(hr)
            if cfg.distill_feature_weight > 0:
                f = self.feat_distill(student, teacher)
                loss = loss + cfg.distill_feature_weight * f
                parts["det_feature"] = float(f.detach())
            if cfg.distill_output_weight > 0:
                o = self.out_distill(student, teacher)
                loss = loss + cfg.distill_output_weight * o
                parts["det_output"] = float(o.detach())
        if self.det_loss is not None:
            d = self.det_loss(student, targets)
            loss = loss + cfg.detection_weight * d
            parts["det_loss"] = float(d.detach())
        return ramp * loss

    # -- checkpoints ---------------------------------------------------------------------------
    def save(self) -> None:
        state = {
            "config": dataclasses.asdict(self.cfg),
            "step": self.step,
            "seconds": self.seconds,
            "net": self.net.state_dict(),
            "opt": self.opt.state_dict(),
            "sched": self.sched.state_dict(),
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
        }
        if self.adv is not None:
            state["disc"] = self.adv.discriminator.state_dict()
            assert self.dopt is not None
            state["dopt"] = self.dopt.state_dict()
        _atomic_save(state, self.ckpt)

    def load(self) -> None:
        state = torch.load(self.ckpt, map_location="cpu", weights_only=False)
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        if self.adv is not None and "disc" in state:
            self.adv.discriminator.load_state_dict(state["disc"])
            assert self.dopt is not None
            self.dopt.load_state_dict(state["dopt"])
        self.step = int(state["step"])
        self.seconds = float(state["seconds"])

    # -- logging -------------------------------------------------------------------------------
    def log(self, row: dict[str, Any]) -> None:
        new = not self.log_path.exists()
        with open(self.log_path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=_CSV_FIELDS)
            if new:
                w.writeheader()
            w.writerow({k: row.get(k, "") for k in _CSV_FIELDS})

    def validate(self, net: nn.Module | None = None) -> dict[str, float]:
        if not self.val_pairs:
            return {"psnr": float("nan"), "ssim": float("nan")}
        net = net if net is not None else self.net
        was_training = net.training
        net.eval()
        try:
            res = evaluate_pairs(SRModel(net, self.card, self.cfg.scale), self.val_pairs, self.cfg.scale)
        finally:
            net.train(was_training)
        return res

    # -- one optimisation step -----------------------------------------------------------------
    def train_step(self) -> dict[str, float]:
        cfg = self.cfg
        targets = None
        if self.det_data is not None:
            batch = self.det_data.sample(cfg.batch, cfg.patch, self.rng)
            x, y, targets = batch.lr, batch.hr, batch.targets
        else:
            lr_img, hr_img = self.data.sample(cfg.batch, cfg.patch, self.rng, margin=self.margin)
            x, y = network_io(self.card, cfg.scale, lr_img, hr_img, margin=self.margin)
        pred = self.net(x)
        parts: dict[str, float] = {}
        loss = pred.new_zeros(())
        if targets is not None and cfg.detector_terms:
            loss = loss + self._detector_terms(pred, y, targets, parts)
        if cfg.pixel_weight > 0:
            pix = self.pixel(pred, y)
            loss = loss + cfg.pixel_weight * pix
            parts["pixel"] = float(pix.detach())
        if self.feature is not None:
            feat = self.feature(pred.clamp(0, 1), y)
            loss = loss + cfg.feature_weight * feat
            parts["feature"] = float(feat.detach())
        if self.adv is not None:
            self.adv.discriminator.requires_grad_(False)
            g = self.adv.generator_loss(pred.clamp(0, 1))
            self.adv.discriminator.requires_grad_(True)
            loss = loss + cfg.gan_weight * g
            parts["adv_g"] = float(g.detach())
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(self.net.parameters(), cfg.grad_clip)
        self.opt.step()
        self.sched.step()
        if self.adv is not None:
            d = self.adv.discriminator_loss(y, pred.clamp(0, 1))
            assert self.dopt is not None
            self.dopt.zero_grad(set_to_none=True)
            d.backward()
            self.dopt.step()
            parts["adv_d"] = float(d.detach())
        parts["loss"] = float(loss.detach())
        return parts

    # -- export ----------------------------------------------------------------------------------
    def export(self, val: dict[str, float]) -> tuple[Path | None, bool]:
        cfg = self.cfg
        if not cfg.export:
            return None, False
        half = cfg.export_half == "yes"
        half_psnr = float("nan")
        if cfg.export_half == "auto" and self.val_pairs:
            import copy

            rounded = copy.deepcopy(self.net)
            with torch.no_grad():
                for t in list(rounded.parameters()) + list(rounded.buffers()):
                    if t.is_floating_point():
                        t.copy_(t.half().float())
            half_psnr = self.validate(rounded)["psnr"]
            half = abs(half_psnr - val["psnr"]) < 0.005
        meta = {
            **cfg.meta,
            "trained_by": "sr4det.training",
            "data": [Path(cfg.det_data).parent.parent.name] if cfg.det_data else [Path(d).name for d in cfg.data],
            "steps": self.step,
            "batch": cfg.batch,
            "lr_patch": cfg.patch,
            "lr": cfg.lr,
            "losses": {
                "pixel": [cfg.pixel_loss, cfg.pixel_weight],
                "feature": [cfg.feature, cfg.feature_weight],
                "adversarial": cfg.gan_weight,
                "distill_feature": cfg.distill_feature_weight,
                "distill_output": cfg.distill_output_weight,
                "detection": cfg.detection_weight,
                "det_warmup": cfg.det_warmup,
            },
            "objective": cfg.objective,
            "detector": Path(cfg.detector).name if cfg.detector_terms and cfg.detector else None,  # validate() requires it
            "init": Path(cfg.init).name if cfg.init else None,
            "seed": cfg.seed,
            "train_seconds": round(self.seconds, 1),
            "val": Path(cfg.val).name if cfg.val else None,
            "val_psnr_fp32": val["psnr"],
            "val_psnr_fp16": half_psnr,
            "degradation": "MATLAB bicubic (sr4det.resize.imresize_uint8), uint8 LR",
            "torch": str(torch.__version__),
        }
        path = save_weights(cfg.export, self.net, arch=cfg.model, scale=cfg.scale, kwargs=self.model_kwargs, meta=meta, half=half)
        return path, half


def train(cfg: TrainConfig) -> TrainResult:
    """Train ``cfg.model`` at ``cfg.scale`` on ``cfg.data`` (see :class:`TrainConfig`); returns a :class:`TrainResult`.

    Raises:
        InputError: inconsistent configuration. DataError: no usable training image.
        WeightsError/WeightsNotAvailableError: bad ``init`` or feature-extractor weights.
    """
    run = _Run(cfg)
    if cfg.resume and run.ckpt.exists():
        run.load()
    (run.out / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2, default=str))
    run.net.train()
    if run.adv is not None:
        run.adv.discriminator.train()
    bar = None
    if cfg.progress:
        from .._progress import tqdm

        bar = tqdm(total=cfg.steps, initial=run.step, desc=f"{cfg.model} x{cfg.scale}", unit="step")
    acc: dict[str, list[float]] = {}
    last_loss = float("nan")
    t0 = time.perf_counter()
    base_seconds = run.seconds
    while run.step < cfg.steps:
        parts = run.train_step()
        run.step += 1
        run.seconds = base_seconds + time.perf_counter() - t0
        for k, v in parts.items():
            acc.setdefault(k, []).append(v)
        if not math.isfinite(parts["loss"]):
            run.save()
            raise FloatingPointError(f"loss became {parts['loss']} at step {run.step}; lower lr or set grad_clip")
        if bar is not None:
            bar.update(1)
            if run.step % 10 == 0:
                bar.set_postfix(loss=f"{parts['loss']:.4g}")
        row: dict[str, Any] = {}
        if run.step % cfg.log_every == 0 or run.step == cfg.steps:
            row = {k: f"{np.mean(v):.6g}" for k, v in acc.items()}
            last_loss = float(np.mean(acc["loss"]))
            acc = {}
        if cfg.val_every and run.step % cfg.val_every == 0 and run.step != cfg.steps:
            val = run.validate()
            row.update(val_psnr=f"{val['psnr']:.4f}", val_ssim=f"{val['ssim']:.5f}")
            if bar is not None:
                bar.write(f"step {run.step}: val PSNR-Y {val['psnr']:.3f} dB")
        if row:
            row.update(step=run.step, lr=f"{run.sched.get_last_lr()[0]:.3g}", seconds=f"{run.seconds:.1f}")
            run.log(row)
        if run.step % cfg.ckpt_every == 0:
            run.save()
    if bar is not None:
        bar.close()
    run.save()
    val = run.validate()
    if cfg.val:
        run.log(
            {
                "step": run.step,
                "val_psnr": f"{val['psnr']:.4f}",
                "val_ssim": f"{val['ssim']:.5f}",
                "seconds": f"{run.seconds:.1f}",
            }
        )
    export, half = run.export(val)
    return TrainResult(run.step, last_loss, val["psnr"], val["ssim"], run.seconds, run.ckpt, export, half)

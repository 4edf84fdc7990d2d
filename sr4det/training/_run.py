"""The state of one training run (:class:`_Run`): network, optimisers and LR schedule, the loss terms (pixel,
perceptual, adversarial and the detector terms) and their sum for one optimisation step, validation, the
``last.pt`` checkpoint (save / resume), the ``log.csv`` rows and the exported weight file. Driven by
:func:`sr4det.training.trainer.train`.

Everything that trains lives on the run's device (network, discriminator, feature extractor, training detector;
each batch is moved there); checkpoints hold CPU tensors. Under torchrun (:mod:`._parallel`) each rank trains on its
slice of the global batch with gradients averaged over the ranks, and only rank 0 writes (``last.pt``, ``log.csv``).
"""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._files import disk_full
from ..errors import InputError
from ..integrations.ultralytics.detector_losses import (
    DetectionLoss,
    FeatureDistillation,
    OutputDistillation,
    TrainingDetector,
    load_training_detector,
)
from ..models import SRGANDiscriminator, build_network, save_weights
from ..models.factory import read_weights_for
from ..models.weights import atomic_torch_save, load_state_into
from ._folder import check_run_folder, load_checkpoint
from ._parallel import _Parallel, cpu_copy, slice_detection_batch
from .config import TrainConfig
from .data import PairedPatches, network_io, pre_upsample_margin
from .detection_data import DetectionPatches
from .detection_val import DET_VAL_SEED, FIELDS, DetectionValidation, held_out_ids
from .evaluate import evaluate_pairs, load_benchmark, network_model
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
    *FIELDS,
    "seconds",
]
BEST_DET_VAL = "best_det_val.pt"


def _lr_factor(step: int, cfg: TrainConfig) -> float:
    if cfg.warmup and step < cfg.warmup:
        return (step + 1) / cfg.warmup
    t = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr_min_ratio + (1 - cfg.lr_min_ratio) * 0.5 * (1 + math.cos(math.pi * t))


def _atomic_save(obj: Any, path: Path) -> None:
    atomic_torch_save(obj, path)


class _Run:
    """One run's state on this rank; ``par``: its device and place among the ranks (one process, or torchrun's)."""

    def __init__(self, cfg: TrainConfig, par: _Parallel):
        cfg.validate()
        self.par = par
        self.device = par.device
        self.cfg = cfg
        self.out = Path(cfg.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.ckpt = self.out / "last.pt"
        self.log_path = self.out / "log.csv"
        # before any work: no run continues or overwrites another; every rank checks, rank 0 alone trims log.csv
        check_run_folder(cfg, self.ckpt, self.log_path, write=par.is_main)
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
        self.net.to(self.device)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: _lr_factor(s, cfg))
        self.pixel = PixelLoss(cfg.pixel_loss)
        self.feature: FeatureLoss | None = None
        if cfg.feature_weight > 0:
            assert cfg.feature and cfg.feature_weights  # validate() requires both
            extractor = build_feature_extractor(cfg.feature, cfg.feature_weights, layer=cfg.feature_layer)
            self.feature = FeatureLoss(extractor).to(self.device)
        self.adv: AdversarialLoss | None = None
        self.dopt: torch.optim.Adam | None = None  # set together with self.adv
        if cfg.gan_weight > 0:
            self.adv = AdversarialLoss(SRGANDiscriminator(channels=cfg.disc_channels)).to(self.device)
            self.dopt = torch.optim.Adam(self.adv.discriminator.parameters(), lr=cfg.disc_lr or cfg.lr, betas=(0.9, 0.999))
        self.step = 0
        self.seconds = 0.0
        self.margin = pre_upsample_margin(self.card)
        # rank 0 alone validates
        self.val_pairs = load_benchmark(cfg.val, cfg.scale, cfg.val_limit) if cfg.val and par.is_main else []
        self.detector: TrainingDetector | None = None
        self.det_data: DetectionPatches | None = None
        self.det_validation: DetectionValidation | None = None
        self.best_det_val_ap = -math.inf  # the highest held-out AP so far (saved in checkpoints)
        if cfg.det_data:  # COCO crops (also for a pixel-only baseline on the same crops)
            self._setup_detector_terms()
        else:
            self.data = PairedPatches(
                cfg.data,
                cfg.scale,
                min_lr_size=cfg.patch + 2 * self.margin,
                limit=cfg.limit_images,
                progress=cfg.progress and par.is_main,
                degradation=cfg.degradation_spec(),
            )

    def _setup_detector_terms(self) -> None:
        cfg = self.cfg
        if self.card.input_space != "rgb" or self.card.upsampling != "post":
            raise InputError(
                f"detector loss terms train RGB post-upsampling networks; {cfg.model} is "
                f"{self.card.input_space}/{self.card.upsampling}-upsampling (try imdn, rfdn, pan, carn_m, srresnet)"
            )
        assert cfg.detector and cfg.det_data  # validate() requires both for detector terms
        self.detector = load_training_detector(cfg.detector).to(self.device)  # before DetectionLoss reads its device
        side = cfg.patch * cfg.scale
        if side % self.detector.stride:
            raise InputError(
                f"HR crop side patch*scale = {side} must be a multiple of the detector stride {self.detector.stride}; "
                f"use patch={-(-side // self.detector.stride) * self.detector.stride // cfg.scale} or similar"
            )
        held_out: list[int] = []
        if cfg.det_val:
            held_out = held_out_ids(cfg.det_data, cfg.det_val, cfg.limit_images)  # every rank leaves them out
        if cfg.det_val and self.par.is_main:
            self.det_validation = DetectionValidation(cfg.det_data, held_out, cfg.det_val_detector or cfg.detector, cfg.scale)
        self.det_data = DetectionPatches(
            cfg.det_data,
            cfg.scale,
            self.detector.names,
            limit=cfg.limit_images,
            progress=cfg.progress and self.par.is_main,
            exclude=held_out,
            degradation=cfg.degradation_spec(),
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
        """Write ``last.pt`` (CPU tensors, loadable without the training device); rank 0 only."""
        if not self.par.is_main:
            return
        state = {
            "config": dataclasses.asdict(self.cfg),
            "step": self.step,
            "seconds": self.seconds,
            "net": self.net.state_dict(),
            "opt": self.opt.state_dict(),
            "sched": self.sched.state_dict(),
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "best_det_val_ap": self.best_det_val_ap,
            "world_size": self.par.ctx.world_size,  # informative: a resume may use another process count
        }
        if self.adv is not None:
            state["disc"] = self.adv.discriminator.state_dict()
            assert self.dopt is not None
            state["dopt"] = self.dopt.state_dict()
        _atomic_save(cpu_copy(state), self.ckpt)

    def load(self) -> None:
        state = load_checkpoint(self.ckpt)  # weights_only: a planted last.pt cannot run code
        # load_state_dict copies into the tensors on the training device; the optimisers cast their state to it
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
        self.best_det_val_ap = float(state.get("best_det_val_ap", -math.inf))

    # -- logging -------------------------------------------------------------------------------
    def log(self, row: dict[str, Any]) -> None:
        """Append one row to ``log.csv``; rank 0 only."""
        if not self.par.is_main:
            return
        new = not self.log_path.exists()
        try:
            with open(self.log_path, "a", newline="") as f:
                w = csv.DictWriter(f, fieldnames=_CSV_FIELDS)
                if new:
                    w.writeheader()
                w.writerow({k: row.get(k, "") for k in _CSV_FIELDS})
        except OSError as exc:  # a full disk: typed, naming log.csv (a half row is cut by trim_log on resume)
            raise disk_full(exc, self.log_path) from exc

    def validate(self, net: nn.Module | None = None) -> dict[str, float]:
        if not self.val_pairs:
            return {"psnr": float("nan"), "ssim": float("nan")}
        net = net if net is not None else self.net
        was_training = net.training
        net.eval()
        try:
            res = evaluate_pairs(network_model(net, self.card, self.cfg.scale), self.val_pairs, self.cfg.scale)
        finally:
            net.train(was_training)
        return res

    def validate_detection(self) -> dict[str, float] | None:
        """Score the network on the held-out detection images (None without ``det_val``); when its AP is the best
        so far, export it as ``best_det_val.pt`` (an sr4det weight file; the selection never sees coco128)."""
        if self.det_validation is None:
            return None
        res = self.det_validation(self.net, self.card)
        if res["det_val_ap"] > self.best_det_val_ap:
            self.best_det_val_ap = res["det_val_ap"]
            meta = {
                **self._meta({"psnr": float("nan")}, float("nan")),
                "selected_on": f"AP on {self.cfg.det_val} images held out of det_data (seed {DET_VAL_SEED}) through "
                f"{Path(self.cfg.det_val_detector or self.cfg.detector or '').name}, step {self.step}",
                **res,
            }
            save_weights(
                self.out / BEST_DET_VAL, self.net, arch=self.cfg.model, scale=self.cfg.scale, kwargs=self.model_kwargs, meta=meta
            )
            self.save()  # a resume must know this best, or a worse step could replace the file
        return res

    # -- one optimisation step -----------------------------------------------------------------
    def _batch(self) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor] | None]:
        """This rank's (input, target, boxes or None) on the training device: every rank draws the whole global batch
        from the same generator (so the stream is that of one process) and keeps its slice."""
        cfg, par = self.cfg, self.par
        if self.det_data is not None:
            whole = self.det_data.sample(cfg.batch, cfg.patch, self.rng)
            batch = par.to_device(slice_detection_batch(whole, *par.rows))
            return batch.lr, batch.hr, batch.targets
        lr_img, hr_img = par.local(*self.data.sample(cfg.batch, cfg.patch, self.rng, margin=self.margin))
        x, y = network_io(self.card, cfg.scale, lr_img, hr_img, margin=self.margin)
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True), None

    def train_step(self) -> dict[str, float]:
        """One optimisation step on this rank's slice, gradients averaged over the ranks before clipping and the
        optimiser step; returns the loss terms, averaged over the ranks."""
        cfg, par = self.cfg, self.par
        x, y, targets = self._batch()
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
        par.average_gradients(self.net.parameters())
        if cfg.grad_clip:
            nn.utils.clip_grad_norm_(self.net.parameters(), cfg.grad_clip)
        self.opt.step()
        self.sched.step()
        par.broadcast(self.net)
        if self.adv is not None:
            d = self.adv.discriminator_loss(y, pred.clamp(0, 1))
            assert self.dopt is not None
            self.dopt.zero_grad(set_to_none=True)
            d.backward()
            par.average_gradients(self.adv.discriminator.parameters())
            self.dopt.step()
            par.broadcast(self.adv.discriminator)
            parts["adv_d"] = float(d.detach())
        parts["loss"] = float(loss.detach())
        return par.mean(parts)

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
        meta = self._meta(val, half_psnr)
        path = save_weights(cfg.export, self.net, arch=cfg.model, scale=cfg.scale, kwargs=self.model_kwargs, meta=meta, half=half)
        return path, half

    def _meta(self, val: dict[str, float], half_psnr: float) -> dict[str, Any]:
        """What an exported weight file says about its training (``meta`` of :func:`~sr4det.models.save_weights`)."""
        cfg = self.cfg
        return {
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
            "degradation": _degradation_text(cfg),
            "det_val": cfg.det_val,
            "torch": str(torch.__version__),
        }


def _degradation_text(cfg: TrainConfig) -> str:
    """How the training LR was made, for the weight file's card (``degradations``)."""
    spec = cfg.degradation_spec()
    if spec is None or cfg.degradation == "clean":
        return "MATLAB bicubic (sr4det.resize.imresize_uint8), uint8 LR"
    if cfg.degradation == "random":
        return spec.describe()
    return f"preset {cfg.degradation}: {spec.config()}"

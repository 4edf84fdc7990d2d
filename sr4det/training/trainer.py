"""The SR training loop: any zoo architecture, pixel / perceptual / adversarial losses, checkpoints.

One run lives in one folder (``TrainConfig.out``): ``last.pt`` (everything needed to resume: network,
optimisers, schedulers, discriminator, step, RNG states), ``log.csv`` (one row every ``log_every``
steps, plus validation rows) and ``config.json``. ``resume=True`` continues from ``last.pt`` with the
same step count; with the same seed the data stream continues where it stopped. A folder holding another run (a
new run without ``resume``, or a checkpoint of other settings) is refused before any work (:mod:`._folder`).

The pieces: :mod:`.config` (:class:`TrainConfig`, :class:`TrainResult`, re-exported here) and :mod:`._run` (the run's
state: network, optimisers, losses, one optimisation step, checkpoints, log, export); this module is the loop.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from typing import Any

import numpy as np

from .._files import atomic_write
from ._run import BEST_DET_VAL, _Run
from .config import TrainConfig, TrainResult

__all__ = ["TrainConfig", "TrainResult", "train"]


def train(cfg: TrainConfig) -> TrainResult:
    """Train ``cfg.model`` at ``cfg.scale`` on ``cfg.data`` (see :class:`TrainConfig`); returns a :class:`TrainResult`.

    Raises:
        InputError: inconsistent configuration. DataError: no usable training image.
        WeightsError/WeightsNotAvailableError: bad ``init`` or feature-extractor weights.
    """
    run = _Run(cfg)
    if cfg.resume and run.ckpt.exists():
        run.load()
    atomic_write(run.out / "config.json", json.dumps(dataclasses.asdict(cfg), indent=2, default=str))
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
            row.update(_det_row(run.validate_detection(), bar, run.step))
        if row:
            row.update(step=run.step, lr=f"{run.sched.get_last_lr()[0]:.3g}", seconds=f"{run.seconds:.1f}")
            run.log(row)
        if run.step % cfg.ckpt_every == 0:
            run.save()
    if bar is not None:
        bar.close()
    run.save()
    val = run.validate()
    det_val = run.validate_detection()
    if cfg.val or det_val is not None:
        end: dict[str, Any] = {"step": run.step, "seconds": f"{run.seconds:.1f}", **_det_row(det_val, None, run.step)}
        if cfg.val:
            end.update(val_psnr=f"{val['psnr']:.4f}", val_ssim=f"{val['ssim']:.5f}")
        run.log(end)
    export, half = run.export(val)
    best = run.out / BEST_DET_VAL if det_val is not None else None
    return TrainResult(run.step, last_loss, val["psnr"], val["ssim"], run.seconds, run.ckpt, export, half, det_val, best)


def _det_row(det_val: dict[str, float] | None, bar: Any, step: int) -> dict[str, str]:
    """log.csv entries of a detection validation (none without one); a line on the progress bar."""
    if det_val is None:
        return {}
    if bar is not None:
        bar.write(
            f"step {step}: held-out AP {det_val['det_val_ap']:.4f} (bicubic {det_val['det_val_ap_bicubic']:.4f}, "
            f"ΔAP {det_val['det_val_delta']:+.4f} [{det_val['det_val_ci_low']:+.4f}, {det_val['det_val_ci_high']:+.4f}])"
        )
    return {k: f"{v:.5f}" for k, v in det_val.items()}

"""The SR training loop: any zoo architecture, pixel / perceptual / adversarial losses, checkpoints.

One run lives in one folder (``TrainConfig.out``): ``last.pt`` (everything needed to resume: network,
optimisers, schedulers, discriminator, step, RNG states), ``log.csv`` (one row every ``log_every``
steps, plus validation rows) and ``config.json``. ``resume=True`` continues from ``last.pt`` with the
same step count; with the same seed the data stream continues where it stopped. A folder holding another run (a
new run without ``resume``, or a checkpoint of other settings) is refused before any work (:mod:`._folder`).

The pieces: :mod:`.config` (:class:`TrainConfig`, :class:`TrainResult`, re-exported here), :mod:`._run` (the run's
state: network, optimisers, losses, one optimisation step, checkpoints, log, export) and :mod:`._parallel` (the
device, and the data-parallel reductions under torchrun); this module is the loop.

Under torchrun (``torchrun --nproc_per_node N pipelines/train_sr.py ...``; process group from
:func:`sr4det._distributed.setup`) every rank checks the configuration, the run folder and loads the checkpoint
(inside :meth:`~sr4det._distributed.DistContext.step`: an error on one rank fails every rank with its message) before
rank 0 writes anything; then each rank trains on its slice of every global batch (:mod:`._parallel`), and rank 0
alone logs, validates, shows progress, checkpoints and exports; its :class:`TrainResult` is returned on every rank.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from typing import Any

import numpy as np

from .._distributed import DistContext, setup
from .._files import atomic_write
from .._run_folder import RunFolder, open_run_folder
from ._parallel import _Parallel, train_device
from ._run import BEST_DET_VAL, _Run
from .config import TrainConfig, TrainResult

__all__ = ["TrainConfig", "TrainResult", "train"]


def train(cfg: TrainConfig, *, dist: DistContext | None = None) -> TrainResult:
    """Train ``cfg.model`` at ``cfg.scale`` on ``cfg.data`` (see :class:`TrainConfig`); returns a :class:`TrainResult`.

    Under torchrun (``WORLD_SIZE`` > 1) the run is data-parallel over the processes (see the module docstring) and
    every rank returns rank 0's result; ``dist`` overrides the context :func:`sr4det._distributed.setup` makes.

    Raises:
        InputError: inconsistent configuration (also ``batch`` not divisible by the process count, or a ``device``
        this machine lacks). DataError: no usable training image.
        WeightsError/WeightsNotAvailableError: bad ``init`` or feature-extractor weights.
        RankFailedError: another rank failed before training (its message is named).
    """
    cfg.validate()
    ctx = dist if dist is not None else setup(cfg.threads)
    locked: list[RunFolder] = []
    try:
        # the same on every rank, so every rank fails alike without a collective
        device = train_device(cfg.device, ctx)
        par = _Parallel(ctx, device, cfg.batch)

        def start() -> _Run:
            if ctx.is_main:  # one owner: a concurrent run into cfg.out is refused (sr4det._run_folder)
                locked.append(open_run_folder(cfg.out, "train", None, option="--out (out=)"))
            return _start(cfg, par)

        run = ctx.step(start, "the run set-up (run folder, data, network, checkpoint)")
        return _train(cfg, run, ctx)
    finally:
        for folder in locked:
            folder.release()
        if dist is None:
            ctx.close()


def _start(cfg: TrainConfig, par: _Parallel) -> _Run:
    """This rank's run: options and run folder checked, data and networks loaded, the checkpoint read on resume."""
    run = _Run(cfg, par)
    if cfg.resume and run.ckpt.exists():
        run.load()
    return run


def _train(cfg: TrainConfig, run: _Run, ctx: DistContext) -> TrainResult:
    """The loop of :func:`train` on a set-up run; every rank returns rank 0's result."""
    par = run.par
    par.broadcast(run.net, parameters=True)  # as DDP: every rank starts from rank 0's weights
    if run.adv is not None:
        par.broadcast(run.adv.discriminator, parameters=True)
    if ctx.is_main:  # every rank has checked the folder and read the checkpoint (ctx.step above): now rank 0 writes
        atomic_write(run.out / "config.json", json.dumps(dataclasses.asdict(cfg), indent=2, default=str))
    run.net.train()
    if run.adv is not None:
        run.adv.discriminator.train()
    bar = None
    if cfg.progress and ctx.is_main:
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
        if not math.isfinite(parts["loss"]):  # a mean over the ranks: every rank stops here together
            ctx.step(run.save, "saving the checkpoint")  # rank 0 writes before any rank exits
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
        if cfg.val_every and run.step % cfg.val_every == 0 and run.step != cfg.steps and ctx.is_main:
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
    # rank 0 finishes while the others wait (without a deadline) for its result, or for its error
    result = ctx.step(lambda: _finish(cfg, run, last_loss) if ctx.is_main else None, "the final validation and export")
    return ctx.broadcast(result, "the training result")


def _finish(cfg: TrainConfig, run: _Run, last_loss: float) -> TrainResult:
    """The last checkpoint, validation and log row, the export (rank 0)."""
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

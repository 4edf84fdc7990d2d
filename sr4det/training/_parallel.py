"""Where SR training runs: the device (:func:`train_device`) and data-parallel training under torchrun
(:class:`_Parallel`), driven by :func:`sr4det.training.trainer.train` and used by :class:`~._run._Run`.

Data parallelism (``torchrun --nproc_per_node N pipelines/train_sr.py ...``, the process group from
:func:`sr4det._distributed.setup`: gloo on CPU, NCCL with ``cuda:LOCAL_RANK`` per rank on GPUs):

* ``batch`` is the *global* batch and must divide by the number of processes. Every rank draws the same global
  batch from the same seeded generator and trains on its contiguous slice (:func:`local_rows`), so N processes see
  exactly the data of one, and a run may resume with another process count.
* After ``backward`` the gradients of each optimiser's parameters are averaged over the ranks with **one flattened
  ``all_reduce``** (:meth:`_Parallel.average_gradients`), before clipping and the optimiser step. Not
  ``DistributedDataParallel``: DDP does not allow ``requires_grad`` to change after it wraps a module, which the
  GAN step does to the discriminator on every step (frozen for the generator loss, trained after), and the
  discriminator runs twice (real and fake) before its one ``backward``, which DDP's reducer only accepts with
  ``static_graph``; the frozen detector and feature extractor need no wrapping at all. One explicit reduction keeps
  the step readable (average, clip the global norm, step, exactly as in one process). What it gives up is DDP's
  overlap of communication with ``backward`` (bucketed reductions during the backward pass): for the zoo's SR
  networks (< 2 M parameters, a few MB of gradients per step) that is a small share of a step.
* Buffers (BatchNorm running statistics) follow rank 0, as DDP's ``broadcast_buffers``: rank 0's are broadcast after
  every optimiser step (and parameters and buffers once at the start). BatchNorm still normalises each rank's slice
  by its own statistics (no SyncBatchNorm), so networks with BatchNorm in training mode (srresnet, srgan and its
  discriminator) are close to, not equal to, one process's run; networks without it (espcn, fsrcnn, imdn, rfdn ...)
  and the pixel, perceptual and adversarial losses (means over the batch) give one process's gradients up to
  floating-point summation order. The detector terms normalise over the batch (teacher confidence, assigned boxes),
  so under N ranks they normalise over each slice: the same objective in expectation, not bit for bit.
* The logged loss terms are means over the ranks (:meth:`_Parallel.mean`); a non-finite loss on any rank makes
  the mean non-finite on every rank, so the check stops all ranks at the same step.

Outside torchrun every method is the identity and nothing is communicated.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from .._distributed import DistContext
from ..errors import InputError
from .detection_data import DetectionBatch


def train_device(requested: str | None, ctx: DistContext) -> torch.device:
    """The device this rank trains on: ``requested`` (checked by :meth:`TrainConfig.validate`), else CUDA when
    available, else the CPU; under torchrun ``cuda`` (or nothing, with CUDA) becomes ``cuda:LOCAL_RANK``.

    Raises:
        InputError: an indexed CUDA device (``cuda:1``) under torchrun, where every rank would share it.
    """
    if ctx.distributed and requested is not None and torch.device(requested).type == "cuda":
        if torch.device(requested).index is not None:
            raise InputError(
                f"device {requested} under torchrun would put every process on one GPU; use --device cuda "
                "(device='cuda': each process takes cuda:LOCAL_RANK) or --device cpu"
            )
    device = ctx.device(requested)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def local_rows(batch: int, rank: int, world_size: int) -> tuple[int, int]:
    """``[start, stop)`` of rank ``rank``'s slice of a global batch of ``batch`` crops (``batch / world_size`` each).

    Raises:
        InputError: ``batch`` does not divide by ``world_size``.
    """
    if batch % world_size:
        up = -(-batch // world_size) * world_size
        down = batch // world_size * world_size
        fits = f"--batch {up}" + (f" or {down}" if down else "")
        raise InputError(
            f"batch {batch} is the global batch of all {world_size} processes and must divide by their number; use "
            f"{fits} (batch=), or a process count (--nproc_per_node) that divides {batch}"
        )
    size = batch // world_size
    return rank * size, (rank + 1) * size


def slice_detection_batch(batch: DetectionBatch, start: int, stop: int) -> DetectionBatch:
    """Crops ``[start, stop)`` of a :class:`DetectionBatch` with their boxes (``batch_idx`` renumbered from 0)."""
    idx = batch.targets["batch_idx"]
    keep = (idx >= start) & (idx < stop)
    targets = {k: v[keep] for k, v in batch.targets.items()}
    targets["batch_idx"] = targets["batch_idx"] - start
    return DetectionBatch(batch.lr[start:stop], batch.hr[start:stop], targets)


def cpu_copy(obj):
    """``obj`` (nested dicts / lists / tuples of tensors, as state dicts are) with every tensor on the CPU, so that a
    checkpoint of a GPU run loads on a machine without one."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(cpu_copy(v) for v in obj)
    return obj


class _Parallel:
    """This rank's part of a (possibly single-process) training run: its slice of each batch and the reductions.

    Args:
        ctx: the run's :class:`~sr4det._distributed.DistContext` (from :func:`~sr4det._distributed.setup`).
        device: this rank's training device (:func:`train_device`).
        batch: the global batch (must divide by ``ctx.world_size``).

    Creating one under torchrun is a collective when the process group is NCCL and the device the CPU (a gloo group
    is made for the CPU tensors): every rank must create it, outside :meth:`DistContext.step`.
    """

    def __init__(self, ctx: DistContext, device: torch.device, batch: int):
        self.ctx = ctx
        self.device = device
        self.rows = local_rows(batch, ctx.rank, ctx.world_size)
        self._group: Any = None  # None: the default group
        self._comm_device = device
        if ctx.distributed:
            import torch.distributed as dist

            if dist.get_backend() == "nccl" and device.type == "cuda":
                self._comm_device = device
            else:  # gloo reduces CPU tensors: a gloo group (the default one on CPU) and CPU copies of GPU tensors
                self._comm_device = torch.device("cpu")
                if dist.get_backend() != "gloo":
                    self._group = dist.new_group(backend="gloo")

    @property
    def is_main(self) -> bool:
        return self.ctx.is_main

    def _all_reduce_mean(self, flat: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        buf = flat.to(self._comm_device)
        dist.all_reduce(buf, group=self._group)
        return buf.div_(self.ctx.world_size).to(flat.device)

    def average_gradients(self, params: Iterable[nn.Parameter]) -> None:
        """Replace each gradient of ``params`` (those that have one; the same set on every rank) by its mean over the
        ranks: one ``all_reduce`` of the flattened gradients."""
        if not self.ctx.distributed:
            return
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = self._all_reduce_mean(torch.cat([g.reshape(-1) for g in grads]))
        offset = 0
        for g in grads:
            g.copy_(flat[offset : offset + g.numel()].view(g.shape))
            offset += g.numel()

    def broadcast(self, module: nn.Module, *, parameters: bool = False) -> None:
        """Rank 0's buffers (and with ``parameters`` its parameters) on every rank, as DDP's ``broadcast_buffers``."""
        if not self.ctx.distributed:
            return
        import torch.distributed as dist

        tensors = [*module.buffers(), *(module.parameters() if parameters else ())]
        for t in tensors:
            buf = t.detach().to(self._comm_device)  # t itself (a view of it) when already there
            dist.broadcast(buf, src=0, group=self._group)
            if t.device != self._comm_device:
                with torch.no_grad():
                    t.copy_(buf)

    def mean(self, parts: dict[str, float]) -> dict[str, float]:
        """The logged loss terms averaged over the ranks (every rank logs the same terms); the identity in one process.
        A non-finite term on any rank gives a non-finite mean on all."""
        if not self.ctx.distributed:
            return parts
        keys = sorted(parts)
        values = self._all_reduce_mean(torch.tensor([parts[k] for k in keys], dtype=torch.float64))
        return dict(zip(keys, values.tolist(), strict=True))

    def local(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """This rank's rows of whole-batch tensors (B, ...) -> (B / world_size, ...), on the device they were on."""
        start, stop = self.rows
        return tuple(t[start:stop] for t in tensors)

    def to_device(self, batch: DetectionBatch) -> DetectionBatch:
        """A :class:`DetectionBatch` (crops and boxes) on the training device."""
        move = lambda t: t.to(self.device, non_blocking=True)  # noqa: E731
        return DetectionBatch(move(batch.lr), move(batch.hr), {k: move(v) for k, v in batch.targets.items()})

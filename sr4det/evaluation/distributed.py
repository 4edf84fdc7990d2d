"""Sharded execution with ``torch.distributed``, as torchrun-based evaluation does it (detectron2's
``inference_on_dataset`` + ``InferenceSampler``, mmdetection's ``collect_results``).

    torchrun --nproc_per_node 2 --no-python sr4det compare --data ... --detector ... --out OUT
    torchrun --nnodes 2 --nproc_per_node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29500 --no-python sr4det compare ...

Each rank takes a contiguous shard of the images (:func:`shard_bounds`), runs SR and detection on it, and the
per-image outputs are shared with every rank (``all_gather_object`` over a gloo group, also when the compute
backend is NCCL). Each rank then runs the COCO evaluation and the bootstrap of its share of the conditions
(round-robin; the resample weights are seeded, so they are the same on every rank and the CIs stay paired);
rank 0 gathers those, computes the deltas and writes; the result is then broadcast so every rank returns it.
Outside torchrun (no ``WORLD_SIZE`` > 1 in the environment) everything runs in one process, unchanged.

The helpers (:class:`DistContext`, :func:`setup`, :func:`shard_bounds` ...) are generic (``sr4det materialize``
shards the same way) and live in :mod:`sr4det._distributed`, which also describes failures (a rank that raises
fails the run on every rank, :class:`RankFailedError`) and timeouts; this module re-exports them.
"""

from __future__ import annotations

from .._distributed import (
    DEFAULT_TIMEOUT_S,
    DistContext,
    RankFailedError,
    available_cores,
    default_threads,
    env_world_size,
    setup,
    shard_bounds,
)

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "DistContext",
    "RankFailedError",
    "available_cores",
    "default_threads",
    "env_world_size",
    "setup",
    "shard_bounds",
]

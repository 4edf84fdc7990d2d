"""Scoring each condition in a second process as soon as its detections are final, while the next condition's SR
and detection run: the COCO evaluation and the bootstrap (pycocotools' per-image matching is pure Python, ~10 s
per condition at 600 images) leave the critical path except for the last condition's.

A process, not a thread: pycocotools holds the GIL that the detector's pre- and post-processing need (a thread
version slowed detection by a third and gained nothing, eval/RESULTS.md §14). It is used only where it can pay: one
process (not under torchrun: there the ranks already share the scoring) with a CPU core that the intra-op threads
leave free, and enough images to pay for starting it. The worker runs :func:`.scoring.score_one`, the function the serial path runs, on the same inputs, so
the numbers are the same (tests compare results.json byte for byte). An error in the worker (a typed
:class:`~sr4det.errors.InputError` about a result) is raised in the main process when the scores are collected.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

from . import scoring

if TYPE_CHECKING:
    from ..data.datasets import GroundTruth
    from .settings import Settings
    from .shard import ConditionRun

#: False: every condition is scored after the last one ran, in the main process (the tests compare the two)
ENABLED = True
#: fewer images than this are scored in the main process: starting the worker (it imports torch) costs ~2 CPU s,
#: scoring a condition ~15 ms per image
MIN_IMAGES = 100


def free_core(intra_op_threads: int, world_size: int, n_images: int) -> bool:
    """Whether scoring beside the inference can pay: :data:`ENABLED`, a single process, more usable cores than
    ``intra_op_threads``, and at least :data:`MIN_IMAGES` images."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return ENABLED and world_size == 1 and cores > intra_op_threads and n_images >= MIN_IMAGES


class ScoringProcess:
    """Scores conditions in one worker process (``spawn``: no fork of a process that runs OpenVINO and torch
    threads). :meth:`submit` a finished condition, :meth:`results` collects the scores (scoring here any run that
    was not submitted), :meth:`close` stops the worker (always: in a ``finally``)."""

    def __init__(self, gt: GroundTruth, valid_ids: list[int], *, coco_eval: str, n_resamples: int, seed: int, max_dets: int):
        self._gt_coco, self._weights = scoring.prepare(gt, valid_ids, n_resamples, seed)
        self._kw: dict[str, Any] = {"coco_eval": coco_eval, "weights": self._weights, "max_dets": max_dets}
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        self._futures: dict[str, Future] = {}

    def submit(self, run: ConditionRun) -> None:
        """Start scoring ``run`` (its detections are final) in the worker."""
        self._futures[run.name] = self._pool.submit(scoring.score_one, self._gt_coco, run.results, **self._kw)

    def results(self, runs: Sequence[ConditionRun]) -> dict[str, Any]:
        """``{name: scores}`` of ``runs`` (as :func:`.scoring.score`), waiting for the worker; a worker's exception
        is raised here."""
        out = {}
        for run in runs:
            future = self._futures.get(run.name)
            out[run.name] = future.result() if future is not None else scoring.score_one(self._gt_coco, run.results, **self._kw)
        return out

    def close(self) -> None:
        """Drop what has not started and let the worker exit (after its current condition, seconds)."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def start(gt: GroundTruth, valid_ids: list[int], settings: Settings, world_size: int) -> ScoringProcess | None:
    """A :class:`ScoringProcess` for a comparison of ``valid_ids`` where scoring beside the inference can pay
    (:func:`free_core` with torch's intra-op threads), else None (score in the main process)."""
    import torch

    if not free_core(torch.get_num_threads(), world_size, len(valid_ids)):
        return None
    s = settings
    return ScoringProcess(gt, valid_ids, coco_eval=s.coco_eval, n_resamples=s.n_resamples, seed=s.seed, max_dets=s.max_dets)

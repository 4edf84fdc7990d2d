"""The cost of one step and the cache entries that store it: peak memory over a baseline (:class:`_PeakMemory`),
detections and SR metadata as cache entries with their wall seconds and peak MiB.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import numpy as np

from .._heap import trim_heap
from .._overlap import background_cpu_seconds
from ..detectors.base import Detections


class _PeakMemory:
    """One step's own peak memory: the peak over a baseline taken by :meth:`start` just before the step.

    On a CUDA device: ``torch.cuda.max_memory_allocated()`` minus what was allocated at :meth:`start` (the model's
    weights and earlier tensors are not counted). Elsewhere: the process RSS sampled every 2 ms (and once more at
    :meth:`peak_mb`) minus the RSS at :meth:`start`, after freed heap pages were returned to the OS. A step shorter
    than the sampling interval whose temporaries are freed before it returns can read as ~0.
    """

    INTERVAL_S = 0.002

    def __init__(self, device: Any = None):
        import torch

        self.cuda = device is not None and str(device).startswith("cuda") and torch.cuda.is_available()
        self.kind = "cuda_max_allocated_delta" if self.cuda else "cpu_rss_delta"
        self._peak = 0
        self._base = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        if not self.cuda:
            import psutil

            self._proc = psutil.Process()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self.INTERVAL_S):
            rss = self._proc.memory_info().rss
            with self._lock:
                self._peak = max(self._peak, rss)

    def start(self) -> None:
        """Take the baseline: call just before the measured step."""
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._base = torch.cuda.memory_allocated()
        else:
            trim_heap()  # start from what is really in use, not from heap pages earlier conditions freed
            with self._lock:
                self._base = self._peak = self._proc.memory_info().rss

    def peak_mb(self) -> float:
        """The step's peak over the baseline, in MiB (never negative)."""
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            return max(0, torch.cuda.max_memory_allocated() - self._base) / 2**20
        with self._lock:
            return max(0, max(self._peak, self._proc.memory_info().rss) - self._base) / 2**20

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)


# --------------------------------------------------------------------------------------------- helpers


class _StepClock:
    """Wall and process CPU seconds of one step, and the 1-minute load average when it ends.

    CPU seconds are the whole process's (every thread: torch's and OpenVINO's intra-op threads, and the memory
    sampler's) less those of the threads that work beside the step (:func:`sr4det._overlap.background_thread`:
    compare's prefetch and writer); the load average is the system's (None where the OS has none)."""

    def __enter__(self) -> _StepClock:
        self._t0, self._c0 = time.perf_counter(), time.process_time() - background_cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._t0
        self.cpu_seconds = max(0.0, time.process_time() - background_cpu_seconds() - self._c0)
        self.load_1min = load_average()


def load_average() -> float | None:
    """The system's 1-minute load average (runnable and running threads, all processes), or None without one."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def _det_to_dict(d: Detections, clock: _StepClock, peak: float) -> dict:
    return {
        "boxes": d.boxes.astype(float).tolist(),
        "scores": d.scores.astype(float).tolist(),
        "labels": d.labels.tolist(),
        "image_size": list(d.image_size),
        **_cost_fields(clock, peak),
    }


def _cost_fields(clock: _StepClock, peak_delta_mb: float) -> dict:
    """The cost of one step as a cache entry stores it: wall seconds after the warm-up, peak MiB over the baseline,
    process CPU seconds and the 1-minute load average at its end (entries of older versions lack the last two)."""
    return {
        "seconds": clock.seconds,
        "peak_delta_mb": peak_delta_mb,
        "warm": True,
        "cpu_seconds": clock.cpu_seconds,
        "load_1min": clock.load_1min,
    }


def _entry_cost(v: dict) -> tuple[float, float] | None:
    """(seconds, peak MiB over the step's baseline) of a cache entry, or None for an entry written before sr4det
    warmed up and measured each step's own memory (its seconds may include a warm-up, its memory was the whole
    process): such a cost is not reported, the cached output is still used."""
    if v.get("warm") is True:
        return float(v["seconds"]), float(v["peak_delta_mb"])
    float(v["seconds"]), float(v["peak_mb"])  # the older entry is complete
    return None


def _det_from_dict(v: dict, names: dict) -> Detections:
    return Detections(
        np.array(v["boxes"], np.float32).reshape(-1, 4),
        np.array(v["scores"], np.float32),
        np.array(v["labels"], np.int64),
        dict(names),
        tuple(v["image_size"]),
    )


def _check_det_entry(v: dict) -> None:
    """Raise unless ``v`` is a complete detection cache entry (see :func:`_det_to_dict`)."""
    det = _det_from_dict(v, {})  # ValueError when boxes, scores and labels do not fit together
    if len(det.image_size) != 2:
        raise ValueError(f"image_size must be (height, width), got {det.image_size}")
    _entry_cost(v)


def _check_sr_entry(v: dict) -> None:
    """Raise unless ``v`` is a complete SR metadata cache entry."""
    for key in ("psnr", "ssim"):
        float(v[key])
    _entry_cost(v)

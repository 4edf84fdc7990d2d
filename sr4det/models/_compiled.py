"""``CompiledNet``: the base of the SR networks that a runtime compiled (:mod:`.runtime` for the CPU, :mod:`._cuda` for
CUDA); its own module so that both build on it without importing each other."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import torch


class CompiledNet:
    """A network compiled by a runtime: ``net(x)`` with x float (B, C, H, W) -> float32 (B, C, sH, sW) on the CPU, no
    gradient. ``backend``, ``precision`` and ``path`` (the file it was built from) say what it is."""

    backend = "none"

    def __init__(self, path: Path, precision: str, threads: int):
        self.path, self.precision, self.threads = Path(path), precision, int(threads)
        self._lock = threading.Lock()  # one inference request / session run at a time per object

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        arr = np.ascontiguousarray(x.detach().to(device="cpu", dtype=torch.float32).numpy())
        with self._lock:  # the output may be a view of the runtime's buffer: copied before the next call
            out = np.array(self._run(arr), dtype=np.float32, copy=True)
        return torch.from_numpy(out).to(x.device)

    def _run(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path.name}, precision={self.precision}, threads={self.threads})"

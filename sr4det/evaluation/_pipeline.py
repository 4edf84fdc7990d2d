"""What keeps compare's inference busy besides the prefetch and writer threads of :mod:`sr4det._overlap` (the next
images' inputs read ahead: decode, degrade, cache reads; the cache writes behind: PSNR/SSIM, PNG encoding, fsync):
each image's LR made once per run and shared by the conditions (:class:`LRStore`). Each writer task writes an SR
image, then its metadata, atomically, so a failed write never leaves metadata without its image.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

#: bytes of LR images kept for the later conditions of a run (COCO x4: ~58 kB per image)
LR_STORE_BYTES = 256 * 2**20


class LRStore:
    """Each image's degraded LR (uint8 (h, w, 3)), made once by ``degradation`` and handed (as a copy) to every
    condition that needs it. Keyed by the cache's LR key (:func:`~.cache.lr_key`: the HR image's content and the
    degradation), so the LR is the one the serial loop makes. Holds at most ``max_bytes``: once full, later images'
    LRs are made each time they are needed (conditions visit the images in the same order, so keeping the first
    ones beats evicting). ``made`` counts the LRs computed."""

    def __init__(self, degradation: Callable[[np.ndarray], np.ndarray], max_bytes: int | None = None):
        self.degradation = degradation
        self.max_bytes = LR_STORE_BYTES if max_bytes is None else max_bytes
        self.made = 0
        self._items: dict[str, np.ndarray] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str, hr: np.ndarray) -> np.ndarray:
        """The LR of ``hr`` (whose LR key is ``key``): stored, else made (and stored while there is room)."""
        with self._lock:
            lr = self._items.get(key)
        if lr is None:
            lr = self.degradation(hr)
            with self._lock:
                self.made += 1
                if key not in self._items and self._bytes + lr.nbytes <= self.max_bytes:
                    self._items[key] = lr
                    self._bytes += lr.nbytes
        return lr.copy()  # a consumer that writes into its input cannot change another condition's

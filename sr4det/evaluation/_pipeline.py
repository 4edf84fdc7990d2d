"""What keeps compare's inference busy: each image's LR made once per run (:class:`LRStore`), the next images' inputs
read ahead in a thread (:class:`Prefetch`: decode, degrade, cache reads) and the cache writes done in another
(:class:`Writer`: PSNR/SSIM, PNG encoding, fsync), while the main thread runs SR and detection.

Both threads are bounded (:data:`PREFETCH` images ahead, :data:`WRITE_QUEUE` writes behind), keep the image order
(one thread each, first in first out: the outputs are those of the serial loop) and register with
:mod:`._cost` so the CPU seconds of a timed step leave their work out. ``PREFETCH = 0`` / ``WRITE_QUEUE = 0`` run
the same work inline in the main thread (the serial loop; tests compare the two).

Errors: an exception of the prefetch (a decode's ``DataError``) is raised in the main thread when it reaches that
image; the first exception of a write (a ``DiskFullError``) is raised in the main thread at its next image or when
the condition ends, the writes queued after it are dropped (never half done: each task writes the image, then its
metadata, atomically), and a rerun recomputes what is missing. On an error in the main thread the writes already
queued (complete results of earlier images) are still made; on ``KeyboardInterrupt`` they are dropped.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from ._cost import background_thread

log = logging.getLogger(__name__)

#: images whose inputs are read ahead of the one being inferred (0: inline, the serial loop)
PREFETCH = 3
#: cache writes that may wait behind the main thread (0: inline)
WRITE_QUEUE = 6
#: bytes of LR images kept for the later conditions of a run (COCO x4: ~58 kB per image)
LR_STORE_BYTES = 256 * 2**20

_END = object()


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


class Prefetch:
    """``fetch(item)`` for each of ``items``, in order, up to :data:`PREFETCH` items ahead in one thread; iterate to
    get the results (an exception of ``fetch`` is raised when its item's turn comes). :meth:`close` stops it."""

    def __init__(self, fetch: Callable[[Any], Any], items: Iterable[Any], depth: int | None = None):
        self._fetch, self._items = fetch, list(items)
        depth = PREFETCH if depth is None else depth
        self._stop = threading.Event()
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        if depth > 0 and self._items:
            self._queue = queue.Queue(maxsize=depth)
            self._thread = threading.Thread(target=self._run, name="sr4det-prefetch", daemon=True)
            self._thread.start()

    def _put(self, value: Any) -> bool:
        assert self._queue is not None
        while not self._stop.is_set():
            try:
                self._queue.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        with background_thread():
            for item in self._items:
                if self._stop.is_set():
                    return
                try:
                    value: tuple[bool, Any] = (True, self._fetch(item))
                except BaseException as exc:  # handed to the main thread, raised there
                    value = (False, exc)
                if not self._put(value) or not value[0]:
                    return

    def __iter__(self) -> Iterator[Any]:
        if self._queue is None:
            for item in self._items:
                yield self._fetch(item)
            return
        for _ in self._items:
            ok, value = self._queue.get()
            if not ok:
                raise value
            yield value

    def close(self) -> None:
        """Stop reading ahead and wait for the thread (its current item, milliseconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class Writer:
    """Runs ``submit``-ted tasks (cache and image writes) in order in one thread, at most :data:`WRITE_QUEUE` behind.

    The first task that raises stops the writing: the tasks after it are dropped and :meth:`check` (called by the
    main thread before each image) and :meth:`close` raise that exception, so a full disk is the same typed error
    as in the serial loop."""

    def __init__(self, depth: int | None = None):
        depth = WRITE_QUEUE if depth is None else depth
        self.error: BaseException | None = None
        self._raised = False
        self._drop = threading.Event()
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        if depth > 0:
            self._queue = queue.Queue(maxsize=depth)
            self._thread = threading.Thread(target=self._run, name="sr4det-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        assert self._queue is not None
        with background_thread():
            while True:
                task = self._queue.get()
                if task is _END:
                    return
                if self.error is not None or self._drop.is_set():
                    continue  # after a failure (or an interrupt) nothing more is written
                try:
                    task()
                except BaseException as exc:
                    self.error = exc

    def submit(self, task: Callable[[], object]) -> None:
        """Run ``task`` after the ones before it (inline without a thread: its exception propagates now)."""
        if self._queue is None:
            task()
            return
        self.check()
        self._queue.put(task)

    def check(self) -> None:
        """Raise the first exception of a write, once."""
        if self.error is not None and not self._raised:
            self._raised = True
            raise self.error

    def close(self, drop: bool = False) -> None:
        """Finish the queued writes (or drop them: ``drop``) and stop the thread; then :meth:`check`."""
        if self._thread is not None and self._thread.is_alive():
            assert self._queue is not None
            if drop:
                self._drop.set()
            self._queue.put(_END)
            self._thread.join()
        self.check()


class Pending:
    """A value a writer task computes later (PSNR/SSIM of an SR output), read by the main thread after the writes
    finished (:meth:`Writer.close`)."""

    def __init__(self) -> None:
        self.value: Any = None

    def get(self) -> Any:
        if self.value is None:
            raise RuntimeError("the writer task that computes this value did not run")
        return self.value

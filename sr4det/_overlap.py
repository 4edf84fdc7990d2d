"""What keeps the cores busy around a main thread's inference: the next items read ahead in one thread
(:class:`Prefetch`: decode, degrade, cache reads) and the writes done behind it in another (:class:`Writer`: PNG
encoding, labels, cache entries, fsync), used by ``compare`` (:mod:`sr4det.evaluation.shard`), ``detect`` and
``materialize``; :func:`overlapped` runs a loop between the two.

Both threads are bounded (:data:`PREFETCH` items ahead, :data:`WRITE_QUEUE` writes behind), keep the order (one
thread each, first in first out: the outputs are those of the serial loop) and register as background threads
(:func:`background_thread`), so the CPU seconds a caller measures for a step can leave their work out
(:func:`background_cpu_seconds`). ``PREFETCH = 0`` / ``WRITE_QUEUE = 0`` run the same work inline in the main
thread (the serial loop; tests compare the two).

Errors: an exception of the prefetch (a decode's ``DataError``) is raised in the main thread when it reaches that
item; the first exception of a write (a ``DiskFullError``) is raised in the main thread at its next item
(:meth:`Writer.check`) or when the loop ends, the writes queued after it are dropped (each task must be whole or
nothing: atomic writes), and a rerun redoes what is missing. On an error in the main thread the writes already
queued (complete results of earlier items) are still made; on ``KeyboardInterrupt`` they are dropped.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ._files import ignore_sigxfsz

log = logging.getLogger(__name__)

#: items whose inputs are read ahead of the one being processed (0: inline, the serial loop)
PREFETCH = 3
#: writes that may wait behind the main thread (0: inline)
WRITE_QUEUE = 6

_END = object()

# ------------------------------------------------------------------------------------- background CPU clocks

#: CPU seconds of the background threads that ended, and the CPU clocks of those running (see background_thread)
_BACKGROUND_LOCK = threading.Lock()
_BACKGROUND: dict[int, int] = {}
_background_done = 0.0


@contextlib.contextmanager
def background_thread() -> Iterator[None]:
    """Run the calling thread's work as background work: its CPU seconds count in :func:`background_cpu_seconds`
    (the thread's own CPU clock, where the OS has one; elsewhere they are not counted there)."""
    global _background_done
    ident = threading.get_ident()
    try:
        clock = time.pthread_getcpuclockid(ident)
    except (AttributeError, OSError):  # no per-thread CPU clocks here
        yield
        return
    with _BACKGROUND_LOCK:
        _BACKGROUND[ident] = clock
    try:
        yield
    finally:
        with _BACKGROUND_LOCK:  # read and removed before the thread ends: a clock is never read after its thread
            _background_done += time.clock_gettime(clock)
            del _BACKGROUND[ident]


def background_cpu_seconds() -> float:
    """CPU seconds of every background thread of this process so far (running and ended)."""
    with _BACKGROUND_LOCK:
        return _background_done + sum(time.clock_gettime(c) for c in _BACKGROUND.values())


# ----------------------------------------------------------------------------------------------- threads


class Prefetch:
    """``fetch(item)`` for each of ``items``, in order, up to ``depth`` (default :data:`PREFETCH`) items ahead in one
    thread; iterate to get the results (an exception of ``fetch`` is raised when its item's turn comes).
    :meth:`close` stops it."""

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
        """Stop reading ahead and wait for the thread (its current item)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class Writer:
    """Runs ``submit``-ted tasks (image, label and cache writes) in order in one thread, at most ``depth`` (default
    :data:`WRITE_QUEUE`) behind.

    The first task that raises stops the writing: the tasks after it are dropped and :meth:`check` (called by the
    main thread before each item) and :meth:`close` raise that exception, so a full disk is the same typed error
    as in the serial loop."""

    def __init__(self, depth: int | None = None):
        depth = WRITE_QUEUE if depth is None else depth
        self.error: BaseException | None = None
        self._raised = False
        self._drop = threading.Event()
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        if depth > 0:
            ignore_sigxfsz()  # from the main thread: a write over `ulimit -f` in the thread is a DiskFullError
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


@contextlib.contextmanager
def overlapped(
    fetch: Callable[[Any], Any], items: Iterable[Any], prefetch: int | None = None, write_queue: int | None = None
) -> Iterator[tuple[Prefetch, Writer]]:
    """A :class:`Prefetch` of ``fetch`` over ``items`` and a :class:`Writer`, closed at the end of the block: the
    prefetch stopped, then the queued writes finished (dropped on ``KeyboardInterrupt``). The block's own exception
    is the one raised (a write error after it is only logged); else the first write error is raised at the end."""
    reader, writer = Prefetch(fetch, items, prefetch), Writer(write_queue)
    failed: BaseException | None = None
    try:
        yield reader, writer
    except BaseException as exc:
        failed = exc
        raise
    finally:
        reader.close()
        try:
            writer.close(drop=isinstance(failed, KeyboardInterrupt))
        except BaseException as exc:
            if failed is None:
                raise
            log.warning("a write failed after %s: %s", type(failed).__name__, exc)

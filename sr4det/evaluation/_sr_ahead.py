"""SR run ahead of the detector on a second core: while the main thread detects one condition's images, a worker
thread computes the SR outputs of the SR conditions (in the order the main thread will need them) into the cache;
the main thread's prefetch waits for each output and reads it back, as it reads a cached one. On a CPU whose cores
the intra-op threads do not fill (``--threads 1`` on 2 cores), SR and detection then run at the same time instead
of one after the other: the wall time of a comparison tends to the larger of the two instead of their sum.

Used only where it can pay and cannot change a result: one process (under torchrun the ranks fill the cores), a CPU
device, a core the intra-op threads leave free, and a cache to hand the outputs over (without one, SR stays on the
main thread). The worker runs the same :meth:`~.conditions.SRCondition.upscale` with the same number of intra-op
threads on its own copy of the condition's model, and writes the same entries through the same function
(:func:`.shard._score_and_cache`), so SR outputs, cache entries and results are the serial loop's (the tests
compare them byte for byte).

Cost of an SR step done here: wall seconds, the worker thread's own CPU seconds (with one intra-op thread torch and
OpenVINO compute in the calling thread, so that is all of it), and the process's peak RSS over the step's baseline,
which also holds whatever the main thread allocated meanwhile (detection: tens of MiB).

An exception of the worker (a model that returns the wrong size, a full disk) stops it and is raised in the main
thread when it reaches that image of that condition, typed as it was raised.
"""

from __future__ import annotations

import copy
import os
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .._overlap import Pending, background_thread
from ..errors import InputError

if TYPE_CHECKING:
    from ._pipeline import LRStore
    from .conditions import Condition
    from .settings import Settings
    from .shard import ShardState

#: False: SR always runs on the main thread (the tests compare the two)
ENABLED = True


def wanted(state: ShardState, conditions: Sequence[Condition], world_size: int) -> bool:
    """Whether running SR ahead can pay: :data:`ENABLED`, one process, a CPU device, a cache, an SR condition, and
    more usable cores than torch's intra-op threads."""
    import torch

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    cpu = state.device is None or str(state.device) == "cpu"
    has_sr = any(c.kind == "sr" for c in conditions)
    return ENABLED and world_size == 1 and cpu and state.cache.root is not None and has_sr and cores > torch.get_num_threads()


class _ThreadClock:
    """Wall and this thread's CPU seconds of one step, and the load average at its end (as :class:`._cost._StepClock`
    records them)."""

    def __enter__(self) -> _ThreadClock:
        self._t0, self._c0 = time.perf_counter(), time.thread_time()
        return self

    def __exit__(self, *exc: object) -> None:
        from ._cost import load_average

        self.seconds = time.perf_counter() - self._t0
        self.cpu_seconds = time.thread_time() - self._c0
        self.load_1min = load_average()


class SRAhead:
    """The worker: SR outputs of ``conditions``' SR conditions on ``images`` into ``state.cache`` (images whose
    entry is already there are skipped), one condition after the other. :meth:`wait` blocks until an image of a
    condition is ready; :meth:`close` stops the worker (always: in a ``finally``)."""

    def __init__(
        self,
        settings: Settings,
        state: ShardState,
        conditions: Sequence[Condition],
        images: Sequence[Any],
        hr_keys: dict[int, str],
        lrs: LRStore,
    ):
        self._settings, self._state, self._images, self._hr_keys, self._lrs = settings, state, list(images), hr_keys, lrs
        self._conds = [c for c in conditions if c.kind == "sr"]
        self._image_index = {im.id: i for i, im in enumerate(self._images)}
        self._ready = threading.Condition()
        self._done: set[tuple[str, int]] = set()  # (condition name, image id) whose entry is in the cache
        self.computed: set[tuple[str, int]] = set()  # of those, the ones the worker computed (not found cached)
        self._error: BaseException | None = None
        self._failed_at: tuple[int, int] | None = None  # (condition index, image index) of the error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sr4det-sr-ahead", daemon=True)
        self._thread.start()

    def handles(self, cond: Condition) -> bool:
        return any(c is cond for c in self._conds)

    def wait(self, cond: Condition, image_id: int) -> bool:
        """Block until the SR output of ``image_id`` under ``cond`` is in the cache; True when the worker computed
        it (False: it was cached before). Raises the worker's exception for the image it failed on and after."""
        ci = next(i for i, c in enumerate(self._conds) if c is cond)
        ii = self._image_index[image_id]
        key = (cond.name, image_id)
        with self._ready:
            while key not in self._done:
                if self._error is not None and self._failed_at is not None and (ci, ii) >= self._failed_at:
                    raise self._error
                if not self._thread.is_alive():
                    raise RuntimeError(f"the SR worker stopped before {cond.name} of image {image_id}")
                self._ready.wait(timeout=0.5)
        return key in self.computed

    def close(self) -> None:
        """Stop after the current image and wait for the worker."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with background_thread():
            for ci, cond in enumerate(self._conds):
                if self._stop.is_set():
                    return
                try:
                    self._condition(ci, cond)
                except BaseException as exc:  # raised in the main thread by wait()
                    with self._ready:
                        self._error = exc
                        self._ready.notify_all()
                    return

    def _condition(self, ci: int, cond: Condition) -> None:
        from ._cost import _check_sr_entry, _cost_fields, _PeakMemory
        from .cache import lr_key
        from .shard import _score_and_cache, load_hr

        s, cache = self._settings, self._state.cache
        self._failed_at = (ci, 0)
        mine = copy.copy(cond)  # its own model: the main thread loads and releases the condition's
        mine.load(s.scale, device=self._state.device)
        memory = _PeakMemory(self._state.device)
        warm = False
        try:
            for ii, im in enumerate(self._images):
                if self._stop.is_set():
                    return
                self._failed_at = (ci, ii)
                lkey = lr_key(self._hr_keys[im.id], s.deg_key)
                key = mine.key(self._hr_keys[im.id], lkey, tile=s.tile)
                computed = False
                if cache.get_json("sr", key, _check_sr_entry) is None or cache.get_image(key) is None:
                    hr = load_hr(im)
                    lr = self._lrs.get(lkey, hr)
                    if not warm:
                        mine.upscale(lr, s.tile)  # type: ignore[attr-defined]  # warm-up, untimed
                        warm = True
                    memory.start()
                    with _ThreadClock() as clock:
                        img, how = mine.upscale(lr, s.tile)  # type: ignore[attr-defined]
                    peak = memory.peak_mb()
                    if img.shape[:2] != hr.shape[:2]:
                        raise InputError(
                            f"{cond.name} returned {img.shape[:2]} for a {lr.shape[:2]} input at x{s.scale}; "
                            f"expected {hr.shape[:2]}"
                        )
                    meta = {**_cost_fields(clock, peak), "how": how}  # type: ignore[arg-type]
                    _score_and_cache(cache, key, img, hr, s.scale, meta, Pending())  # PSNR/SSIM: read back from the entry
                    computed = True
                with self._ready:
                    self._done.add((cond.name, im.id))
                    if computed:
                        self.computed.add((cond.name, im.id))
                    self._ready.notify_all()
        finally:
            memory.close()
            mine.release()


def start(
    settings: Settings,
    state: ShardState,
    conditions: Sequence[Condition],
    images: Sequence[Any],
    hr_keys: dict[int, str],
    lrs: LRStore,
    world_size: int,
) -> SRAhead | None:
    """An :class:`SRAhead` where it can pay (:func:`wanted`) and there are images, else None."""
    if not images or not wanted(state, conditions, world_size):
        return None
    return SRAhead(settings, state, conditions, images, hr_keys, lrs)

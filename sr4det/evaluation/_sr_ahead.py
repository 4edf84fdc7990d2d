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

import numpy as np

from .._overlap import Pending, background_thread
from ..errors import InputError

if TYPE_CHECKING:
    from ._cost import _PeakMemory
    from ._pipeline import LRStore
    from .conditions import Condition
    from .settings import Settings

#: False: SR always runs on the main thread (the tests compare the two)
ENABLED = True
#: bytes of SR outputs handed to the main thread in memory (beyond them it reads them back from the cache)
HANDOFF_BYTES = 256 * 2**20
#: the worker thread's name
WORKER = "sr4det-sr-ahead"


def wanted(state: Any, conditions: Sequence[Condition], world_size: int) -> bool:
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
    entry is already there are skipped), one condition after the other. :meth:`wait` hands an image's output to the
    main thread's prefetch, computing it there when the worker has not started it (so both cores do SR while the
    detector waits); :meth:`close` stops the worker (always: in a ``finally``)."""

    def __init__(
        self,
        settings: Settings,
        state: Any,
        conditions: Sequence[Condition],
        images: Sequence[Any],
        hr_keys: dict[int, str],
        lrs: LRStore,
        load_hr: Any = None,
        score_and_cache: Any = None,
    ):
        self._settings, self._state, self._images, self._hr_keys, self._lrs = settings, state, list(images), hr_keys, lrs
        #: shard's image loader and entry writer (passed in: this module must not import shard, which imports it)
        self.load_hr, self.score_and_cache = load_hr, score_and_cache
        self._conds = [c for c in conditions if c.kind == "sr"]
        self._image_index = {im.id: i for i, im in enumerate(self._images)}
        self._ready = threading.Condition()
        self._claimed: set[tuple[str, int]] = set()  # (condition name, image id) someone is computing or has done
        self._done: set[tuple[str, int]] = set()  # ... whose entry is in the cache
        self.computed: set[tuple[str, int]] = set()  # of those, the ones this run computed (not found cached)
        self._outputs: dict[tuple[str, int], np.ndarray] = {}  # computed, not yet handed over (HANDOFF_BYTES)
        self._held = 0
        self._warm: set[tuple[int, str]] = set()  # (thread, condition) that ran its untimed warm-up
        self._memory: dict[int, _PeakMemory] = {}  # a peak-memory window per computing thread
        self._error: BaseException | None = None
        self._failed_at: tuple[int, int] | None = None  # (condition index, image index) of the error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=WORKER, daemon=True)
        self._thread.start()

    def handles(self, cond: Condition) -> bool:
        return any(c is cond for c in self._conds)

    def wait(self, cond: Condition, image_id: int) -> tuple[bool, np.ndarray | None]:
        """The SR output of ``image_id`` under ``cond`` once it is in the cache: (whether this run computed it, the
        image when it is still held in memory, else None: read it from the cache). While the worker is busy with
        it, the calling thread computes the next image of ``cond`` nobody has started, with ``cond``'s own model
        (loaded by the main thread), so both cores do SR while the detector waits. Raises the worker's exception
        for the image it failed on and after."""
        ci = next(i for i, c in enumerate(self._conds) if c is cond)
        ii = self._image_index[image_id]
        key = (cond.name, image_id)
        while True:
            with self._ready:
                if key in self._done:
                    img = self._outputs.pop(key, None)
                    if img is not None:
                        self._held -= img.nbytes
                    return key in self.computed, img
                if self._error is not None and self._failed_at is not None and (ci, ii) >= self._failed_at:
                    raise self._error
                if not self._thread.is_alive() and key not in self._claimed:
                    raise RuntimeError(f"the SR worker stopped before {cond.name} of image {image_id}")
                target = None if self._error is not None else self._claim_next(cond.name, ii)
                if target is None:
                    self._ready.wait(timeout=0.5)
                    continue
            self._compute(cond, self._images[target])

    def _claim_next(self, name: str, start: int) -> int | None:
        """Claim the first image from index ``start`` on that nobody computes under condition ``name`` (call with
        the lock held); None when there is none."""
        for jj in range(start, len(self._images)):
            k = (name, self._images[jj].id)
            if k not in self._claimed:
                self._claimed.add(k)
                return jj
        return None

    def close(self) -> None:
        """Stop after the current image and wait for the worker."""
        self._stop.set()
        self._thread.join()
        for memory in self._memory.values():
            memory.close()

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
        self._failed_at = (ci, 0)
        mine = copy.copy(cond)  # its own model: the main thread loads and releases the condition's
        mine.load(self._settings.scale, device=self._state.device)
        try:
            for ii, im in enumerate(self._images):
                if self._stop.is_set():
                    return
                key = (cond.name, im.id)
                with self._ready:
                    if key in self._claimed:
                        continue  # the main thread's prefetch took it
                    self._claimed.add(key)
                self._failed_at = (ci, ii)
                self._compute(mine, im)
        finally:
            mine.release()

    def _compute(self, cond: Any, im: Any) -> None:
        """The SR step of ``im`` with ``cond``'s model, in the calling thread, into the cache (unless it is there),
        then marked done (and the output kept for :meth:`wait` while :data:`HANDOFF_BYTES` allow)."""
        from ._cost import _check_sr_entry, _cost_fields, _PeakMemory
        from .cache import lr_key

        s, cache = self._settings, self._state.cache
        lkey = lr_key(self._hr_keys[im.id], s.deg_key)
        key = cond.key(self._hr_keys[im.id], lkey, tile=s.tile)
        img = None
        if cache.get_json("sr", key, _check_sr_entry) is None or cache.get_image(key) is None:
            hr = self.load_hr(im)
            lr = self._lrs.get(lkey, hr)
            me = threading.get_ident()
            if (me, cond.name) not in self._warm:
                cond.upscale(lr, s.tile)  # warm-up, untimed
                self._warm.add((me, cond.name))
            memory = self._memory.get(me)
            if memory is None:
                memory = self._memory[me] = _PeakMemory(self._state.device)
            memory.start()
            with _ThreadClock() as clock:
                img, how = cond.upscale(lr, s.tile)
            peak = memory.peak_mb()
            if img.shape[:2] != hr.shape[:2]:
                raise InputError(
                    f"{cond.name} returned {img.shape[:2]} for a {lr.shape[:2]} input at x{s.scale}; expected {hr.shape[:2]}"
                )
            meta = {**_cost_fields(clock, peak), "how": how}  # type: ignore[arg-type]
            self.score_and_cache(cache, key, img, hr, s.scale, meta, Pending())  # PSNR/SSIM: read back from the entry
        with self._ready:
            done = (cond.name, im.id)
            self._done.add(done)
            if img is not None:
                self.computed.add(done)
                if self._held + img.nbytes <= HANDOFF_BYTES:
                    self._outputs[done] = img
                    self._held += img.nbytes
            self._ready.notify_all()


def start(
    settings: Settings,
    state: Any,
    conditions: Sequence[Condition],
    images: Sequence[Any],
    hr_keys: dict[int, str],
    lrs: LRStore,
    world_size: int,
    load_hr: Any = None,
    score_and_cache: Any = None,
) -> SRAhead | None:
    """An :class:`SRAhead` where it can pay (:func:`wanted`) and there are images, else None."""
    if not images or not wanted(state, conditions, world_size):
        return None
    return SRAhead(settings, state, conditions, images, hr_keys, lrs, load_hr, score_and_cache)

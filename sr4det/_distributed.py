"""torchrun helpers shared by the sharded commands (``sr4det compare``, see :mod:`sr4det.evaluation.distributed`, and
``sr4det materialize``, :mod:`sr4det.data.materialize`): this process's rank, world size and device
(:class:`DistContext`, :func:`setup`), contiguous shards (:func:`shard_bounds`), the intra-op thread count per rank
(:func:`default_threads`) and the collectives (``all_gather_object`` / ``gather_object`` / ``broadcast_object_list``
over a gloo group, also when the compute backend is NCCL). Outside torchrun (no ``WORLD_SIZE`` > 1 in the
environment) every collective is the identity and everything runs in one process.

Failures: every collective step runs the rank's work inside :meth:`DistContext.step`, which shares a small
status object among all ranks; when any rank raised, every rank raises (the failing rank its own exception,
the others a :class:`RankFailedError` naming the rank and its message), so the run fails with that rank's error
instead of waiting at a collective. Ranks waiting for slower ones poll the rendezvous store (no deadline:
a shard may take hours); a rank that dies outright is torn down by torchrun with the whole group, and the
process-group timeout (``SR4DET_DIST_TIMEOUT`` seconds, default 1800) bounds every collective itself.
A rank whose launcher dies (``kill -9`` of torchrun) stops within about a second (:func:`die_with_parent`: the
kernel's parent-death signal on Linux, and a watchdog thread everywhere) instead of running on until its next
collective.

Private: the public names are re-exported by :mod:`sr4det.evaluation.distributed`.
"""

from __future__ import annotations

import datetime
import logging
import os
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .errors import RankFailedError, SR4DetError

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_TIMEOUT_S = 1800.0
_CONTEXTS = 0  # contexts made in this process: store keys of successive runs in one process group differ


def shard_bounds(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """``[start, stop)`` of ``rank``'s contiguous shard of ``n`` items: sizes differ by at most one, the first
    ``n % world_size`` ranks take one more (as detectron2's ``InferenceSampler``); concatenating the shards in
    rank order gives the items in their order."""
    size, extra = divmod(n, world_size)
    start = rank * size + min(rank, extra)
    return start, start + size + (1 if rank < extra else 0)


def env_world_size() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def default_threads(local_world_size: int) -> int:
    """Intra-op threads per rank: the cores this process may use divided by the ranks on this node (at least 1)."""
    return max(1, available_cores() // max(1, local_world_size))


@dataclass
class DistContext:
    """This process's place in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1
    backend: str | None = None
    owns_group: bool = False
    _object_group: Any = field(default=None, repr=False)
    _steps: int = field(default=0, repr=False)
    _run: int = field(default=0, repr=False)

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, requested: str | None) -> str | None:
        """The device of this rank: ``cuda:LOCAL_RANK`` when the user asked for ``cuda`` (or nothing and CUDA
        exists) in a sharded run; the requested device otherwise."""
        if not self.distributed:
            return requested
        import torch

        if requested in (None, "cuda") and torch.cuda.is_available():
            return f"cuda:{self.local_rank % torch.cuda.device_count()}"
        return requested

    def shard(self, items: Sequence[T]) -> list[T]:
        start, stop = shard_bounds(len(items), self.rank, self.world_size)
        return list(items[start:stop])

    # ----------------------------------------------------------------------------------- collectives

    def _wait_for_peers(self, tag: str) -> None:
        """Wait (polling the rendezvous store, without a deadline) until every rank reached ``tag``."""
        import torch.distributed as dist

        try:
            store = dist.distributed_c10d._get_default_store()
        except Exception:  # noqa: BLE001 - a private API: without it the collective's own timeout applies
            return
        keys = [f"sr4det/{self._run}/{tag}/{r}" for r in range(self.world_size)]
        store.set(keys[self.rank], "1")
        while not store.check(keys):
            time.sleep(0.2)

    def step(self, fn: Callable[[], T], what: str) -> T:
        """Run ``fn`` on this rank; if any rank raised, raise on every rank. Returns ``fn()``'s value."""
        status: dict[str, Any] | None = None
        try:
            value = fn()
        except Exception as exc:
            if not self.distributed:
                raise
            # `value` stays unbound: this rank's failure is raised below before any return
            status = {
                "rank": self.rank,
                "type": type(exc).__name__,
                "module": type(exc).__module__,
                "message": str(exc),
                "traceback": traceback.format_exc(),
            }
            error = exc
        if not self.distributed:
            return value
        statuses = self.all_gather(status, what)
        failed = [s for s in statuses if s is not None]
        if failed:
            if status is not None:
                raise error
            first = failed[0]
            raise RankFailedError(f"rank {first['rank']} failed during {what}: {first['type']}: {first['message']}")
        return value

    def _group(self):
        if self._object_group is None:
            import torch.distributed as dist

            self._object_group = dist.new_group(backend="gloo") if self.backend != "gloo" else dist.group.WORLD
        return self._object_group

    def all_gather(self, obj: Any, tag: str) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank (pickled: statuses, per-image detections)."""
        if not self.distributed:
            return [obj]
        import torch.distributed as dist

        self._steps += 1
        self._wait_for_peers(f"{self._steps}-{tag}")
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj, group=self._group())
        return out

    def gather(self, obj: Any, tag: str) -> list[Any] | None:
        """Every rank's ``obj`` in rank order on rank 0 (``gather_object``); None on the other ranks."""
        if not self.distributed:
            return [obj]
        import torch.distributed as dist

        self._steps += 1
        self._wait_for_peers(f"{self._steps}-{tag}")
        out: list[Any] | None = [None] * self.world_size if self.is_main else None
        dist.gather_object(obj, out, dst=0, group=self._group())
        return out

    def broadcast(self, obj: Any, tag: str) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if not self.distributed:
            return obj
        import torch.distributed as dist

        self._steps += 1
        self._wait_for_peers(f"{self._steps}-{tag}")
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0, group=self._group())
        return box[0]

    def close(self) -> None:
        """Destroy the process group if this context created it."""
        if self.owns_group:
            import gc

            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
            self.owns_group = False
            self._object_group = None
            # Collect now, while the interpreter is whole: after object collectives, with torch._dynamo imported (any
            # torch.optim optimizer imports it), cycles still holding collective work and its tensors were otherwise
            # freed during interpreter shutdown, where torch 2.14 aborted ("terminate called without an active
            # exception", exit -6) in about half of the 2-process runs here; with this collect, 0 of 32.
            gc.collect()


_WATCHED: set[int] = set()


def die_with_parent(poll_s: float = 1.0) -> None:
    """Make this process end when its parent (torchrun's agent) dies: ``prctl(PR_SET_PDEATHSIG, SIGTERM)`` on Linux
    (immediate); elsewhere a daemon thread that sends SIGTERM to this process when its parent changes (within
    ``poll_s``). Once per process."""
    import signal
    import sys
    import threading

    parent = os.getppid()
    if os.getpid() in _WATCHED or parent <= 1:
        return
    _WATCHED.add(os.getpid())
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(1, int(signal.SIGTERM), 0, 0, 0) == 0:  # 1 = PR_SET_PDEATHSIG
                if os.getppid() != parent:  # the parent died before the prctl: no signal will come
                    os.kill(os.getpid(), signal.SIGTERM)
                return  # the kernel does it: no thread (a daemon thread alive at interpreter exit is a risk)
        except (OSError, AttributeError):  # pragma: no cover - no libc symbol: the watchdog
            pass

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                log.error("the launcher (pid %d) is gone: stopping this rank", parent)
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(poll_s)

    threading.Thread(target=watch, name="sr4det-parent-watchdog", daemon=True).start()


def setup(threads: int | None = None, timeout_s: float | None = None) -> DistContext:
    """The :class:`DistContext` of this process; under torchrun (``WORLD_SIZE`` > 1) the default process group is
    initialised here if it is not yet (gloo on CPU, NCCL when CUDA exists), with a timeout.

    Intra-op threads: ``threads`` if given, else in a sharded run cores / local world size (ranks on one node
    must not oversubscribe the cores); a single process keeps torch's default.
    """
    import torch

    global _CONTEXTS
    _CONTEXTS += 1
    world = env_world_size()
    ctx = DistContext(_run=_CONTEXTS)
    if world > 1:
        import torch.distributed as dist

        die_with_parent()  # a killed launcher takes its ranks with it

        if not dist.is_available():  # pragma: no cover - torch builds without distributed
            raise SR4DetError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
        if timeout_s is None:
            timeout_s = float(os.environ.get("SR4DET_DIST_TIMEOUT", DEFAULT_TIMEOUT_S))
        if not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            local = int(os.environ.get("LOCAL_RANK", "0"))
            if backend == "nccl":
                torch.cuda.set_device(local % torch.cuda.device_count())
            dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))
            ctx.owns_group = True
        ctx.backend = dist.get_backend()
        ctx.rank, ctx.world_size = dist.get_rank(), dist.get_world_size()
        ctx.local_rank = int(os.environ.get("LOCAL_RANK", ctx.rank))
        ctx.local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", ctx.world_size))
    if threads is not None:
        torch.set_num_threads(max(1, int(threads)))
    elif ctx.distributed:
        torch.set_num_threads(default_threads(ctx.local_world_size))
    return ctx

"""Memory budget of tiled upscaling: parsing ``max_memory``, the per-model memory probe and its cache, tile choice.

:func:`estimate_memory` measures ``fixed + per_pixel * LR pixels`` once per (model, device, dtype) and caches it
in memory and in ``$SR4DET_CACHE/tiling/probe.json``; ``_choose_tile`` turns it and a budget into a tile size.
"""

from __future__ import annotations

import json
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from .._files import atomic_write, cache_root
from .._validators import parse_memory as parse_memory  # the --max-memory validator, one for every command
from ..errors import TileOOMError
from ._device import _amp_dtype, _autocast, _free_device_memory, _is_oom
from .plan import _align_down, _align_up

if TYPE_CHECKING:
    from .sink import _Source

__all__ = ["estimate_memory", "parse_memory"]

# fraction of the free memory used when no max_memory is given: leave room for the rest of the process
_CPU_BUDGET_FRACTION = 0.5
_CUDA_BUDGET_FRACTION = 0.8
# the probe sees tensors, not allocator slack or library workspaces (oneDNN, cuDNN): keep a margin
_PROBE_SAFETY = 1.25
_PROBE_SIDES = (32, 64)


# ------------------------------------------------------------------------------------------------ memory probe


class _LiveBytes(TorchDispatchMode):
    """Tracks the bytes of tensor storages created inside the mode that are still alive, and their peak.

    Storages are keyed by data pointer and counted per live tensor (views share a storage), released
    through weakref finalizers when the last tensor using them dies.
    """

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._refs: dict[int, list[int]] = {}

    def _release(self, key: int) -> None:
        entry = self._refs.get(key)
        if entry is None:
            return
        entry[0] -= 1
        if entry[0] == 0:
            self.live -= entry[1]
            del self._refs[key]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                try:
                    storage = t.untyped_storage()
                    key, nbytes = storage.data_ptr(), storage.nbytes()
                except (RuntimeError, NotImplementedError):
                    continue
                if key == 0:
                    continue
                entry = self._refs.get(key)
                if entry is None:
                    entry = self._refs[key] = [0, nbytes]
                    self.live += nbytes
                    self.peak = max(self.peak, self.live)
                entry[0] += 1
                weakref.finalize(t, self._release, key)
        return out


@dataclass(frozen=True)
class _MemoryModel:
    """Peak memory of one model call: ``fixed + per_pixel * (batch * LR pixels)`` bytes (probe safety included)."""

    fixed: float
    per_pixel: float

    def bytes(self, pixels: int, batch: int = 1) -> int:
        return int(self.fixed + self.per_pixel * pixels * batch)


_PROBE_CACHE: dict[str, _MemoryModel] = {}


def _probe_key(model, device: torch.device, dtype: torch.dtype | None, channels: int, channels_last: bool) -> str:
    card = model.card
    return "|".join(
        str(v)
        for v in (
            card.name,
            card.params,
            model.scale,
            card.weights_source,
            device.type,
            dtype,
            channels,
            channels_last,
            torch.__version__,
            # a compiled runtime (SRModel.set_runtime) allocates otherwise; torch keys stay as they were
            *(() if getattr(model, "backend", "torch") == "torch" else (model.backend, model.precision)),
        )
    )


def _probe_file() -> Path:
    return cache_root() / "tiling" / "probe.json"


def _load_disk_probe(key: str) -> _MemoryModel | None:
    try:
        data = json.loads(_probe_file().read_text())
        entry = data[key]
        return _MemoryModel(float(entry["fixed"]), float(entry["per_pixel"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save_disk_probe(key: str, mm: _MemoryModel) -> None:
    path = _probe_file()
    try:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        data[key] = {"fixed": mm.fixed, "per_pixel": mm.per_pixel}
        atomic_write(path, json.dumps(data))
    except OSError:
        pass  # the on-disk cache is an optimisation; a read-only cache folder must not stop upscaling


def _measure_call(model, x: torch.Tensor, device: torch.device, amp: torch.dtype | None) -> int:
    """Peak bytes allocated while ``model(x)`` runs (x already on ``device``; x itself excluded)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        with torch.inference_mode(), _autocast(device, amp):
            y = model(x)
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - base
        del y
        return int(peak)
    mode = _LiveBytes()
    with torch.inference_mode(), _autocast(device, amp), mode:
        y = model(x)
    del y
    return int(mode.peak)


def estimate_memory(
    model,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    channels: int = 3,
    channels_last: bool = False,
) -> _MemoryModel:
    """Measure (once, then cached) the peak memory of one call of ``model`` as ``fixed + per_pixel * LR pixels``.

    Runs the model on two small random tiles (``_PROBE_SIDES``) on ``device``: on CUDA from
    ``torch.cuda.max_memory_allocated``, elsewhere by tracking every tensor storage created during the
    call. The result includes a safety factor for allocator slack and library workspaces.
    Cached per (model, device, dtype, channels, channels_last) in memory and in ``$SR4DET_CACHE/tiling/probe.json``.
    """
    device = torch.device(device) if device is not None else model.device
    amp = _amp_dtype(model, device, dtype)
    key = _probe_key(model, device, amp, channels, channels_last)
    hit = _PROBE_CACHE.get(key) or _load_disk_probe(key)
    if hit is not None:
        _PROBE_CACHE[key] = hit
        return hit
    mult = max(1, model.card.size_multiple)
    smallest = max(_align_up(model.card.min_size, mult), mult, 2)
    base = list(_PROBE_SIDES)
    while True:
        sides = [max(_align_up(s, mult), smallest) for s in base]
        if sides[1] <= sides[0]:
            sides[1] = sides[0] * 2
        failed: BaseException | None = None
        try:
            peaks = _probe_peaks(model, sides, channels, channels_last, device, amp)
            break
        except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled; everything else re-raised
            if not _is_oom(exc):
                raise
            failed = exc
        _free_device_memory(device)
        # back off as the tiler does for tiles: halve the probe tiles until the smallest the model accepts
        if sides[0] <= smallest:
            raise TileOOMError(
                f"out of memory on {device} while measuring the model's memory for tile='auto', even with probe tiles of "
                f"{sides[0]} and {sides[1]} px: the device has (almost) no free memory. Free memory (other processes, "
                "cached tensors), use another device, or pass an explicit small tile instead of 'auto'. "
                f"({type(failed).__name__}: {str(failed)[:200]})",
                tile=sides[0],
                min_tile=smallest,
                device=str(device),
            ) from failed
        warnings.warn(
            f"out of memory on {device} while probing tile memory with {sides[1]} px; retrying with smaller probe tiles",
            stacklevel=2,
        )
        base = [max(b // 2, 1) for b in base]
        del failed
    p0, p1 = sides[0] ** 2, sides[1] ** 2
    per_pixel = max((peaks[1] - peaks[0]) / (p1 - p0), peaks[1] / p1 * 0.5, 1.0)
    fixed = max(peaks[1] - per_pixel * p1, 0.0)
    mm = _MemoryModel(fixed * _PROBE_SAFETY, per_pixel * _PROBE_SAFETY)
    _PROBE_CACHE[key] = mm
    _save_disk_probe(key, mm)
    return mm


def _probe_peaks(model, sides: list[int], channels: int, channels_last: bool, device: torch.device, amp) -> list[int]:
    gen = torch.Generator().manual_seed(0)
    peaks = []
    for s in sides:
        x = torch.rand(1, channels, s, s, generator=gen).to(device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        peaks.append(_measure_call(model, x, device, amp))
        del x
    return peaks


def _available_memory(device: torch.device) -> int:
    """Bytes the tiler may use by default: a fraction of the free memory of ``device``."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        # memory torch has cached but not handed out is free for us too
        free += torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(free * _CUDA_BUDGET_FRACTION)
    import psutil

    return int(psutil.virtual_memory().available * _CPU_BUDGET_FRACTION)


def _choose_tile(
    mem: _MemoryModel, budget: int, src: _Source, scale: int, batch: int, non_local: bool, min_tile: int, mult: int, device: str
) -> int:
    """Largest tile whose predicted peak (model call, our tile copies, blend strip) fits ``budget``."""
    C = src.channels

    def need(t: int) -> int:
        px = t * t
        # around the model call: the float input tile, and the HR float output converted once more
        own = batch * px * (C * 4 + 2 * scale * scale * C * 4)
        # non-local blending keeps a float strip (C + weight) of one tile row band across the output width
        strip = (t * scale) * (src.w * scale) * (C + 1) * 4 if non_local else 0
        return mem.bytes(px, batch) + own + strip

    hi = _align_up(max(src.h, src.w), mult)
    if need(min_tile) > budget:
        raise TileOOMError(
            f"memory budget {_fmt_bytes(budget)} is too small: the minimum tile of {min_tile} px "
            f"(batch {batch}) needs about {_fmt_bytes(need(min_tile))} "
            f"({_fmt_bytes(mem.per_pixel)}/px measured + {_fmt_bytes(mem.fixed)} fixed). "
            "Raise max_memory, lower batch_tiles or the overlap",
            tile=min_tile,
            min_tile=min_tile,
            device=device,
            bytes_requested=need(min_tile),
        )
    lo = min_tile
    if need(hi) <= budget:
        return hi
    while hi - lo > 1:  # need() grows with t: bisect for the largest fitting tile
        mid = (lo + hi) // 2
        if need(mid) <= budget:
            lo = mid
        else:
            hi = mid
    return max(min_tile, _align_down(lo, mult) if lo >= mult else lo)


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n} B"

"""Memory-aware tiled super-resolution: exact seams for convolutional models, feathered seams for non-local ones.

Pure planning functions (:func:`plan_tiles`, :func:`blend_weights`, :func:`parse_memory`) plus one executor,
:func:`upscale`, which

* reads the input **per tile** (tensor, ndarray or ``np.memmap``) and moves only that tile to the device;
* writes each finished tile straight into a preallocated output (uint8/uint16/float array, a
  ``np.memmap`` on disk when the output alone does not fit the budget, or a float32 tensor);
* crops tile cores for local (convolutional) models: with the overlap at the model's receptive-field
  radius the result equals the untiled output; non-local models (windows, attention) are blended with
  feathered weights instead;
* picks the tile size from a memory budget using a per-(model, device, dtype) probe of the peak memory
  per pixel, cached in memory and on disk (``$SR4DET_CACHE/tiling/probe.json``);
* halves the tile and redoes only the failing tile on out-of-memory, raising :class:`TileOOMError`
  with the numbers below the minimum tile.

Tile sizes and overlaps are in **LR (input) pixels**. A tile is the whole box handed to the model,
overlap included: each tile reaches ``overlap`` pixels past its core on every side that is not an
image border, so a tile must be larger than ``2 * overlap``.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from ._files import atomic_write, cache_root
from .errors import InputError, TileOOMError

__all__ = [
    "Tile",
    "blend_weights",
    "estimate_memory",
    "measure_receptive_field",
    "parse_memory",
    "plan_tiles",
    "upscale",
]

# fraction of the free memory used when no max_memory is given: leave room for the rest of the process
_CPU_BUDGET_FRACTION = 0.5
_CUDA_BUDGET_FRACTION = 0.8
# the probe sees tensors, not allocator slack or library workspaces (oneDNN, cuDNN): keep a margin
_PROBE_SAFETY = 1.25
_PROBE_SIDES = (32, 64)
_MIN_TILE_FLOOR = 16
# feathered blending ignores this fraction of the overlap next to a tile's artificial edge, where
# non-local models are least like their untiled selves, and cross-fades over the rest
_FEATHER_MARGIN = 0.25


class Tile(NamedTuple):
    """One tile in LR pixels: the input box handed to the model and the core it is responsible for.

    ``y0:y1, x0:x1`` is the input box; ``cy0:cy1, cx0:cx1`` its core (inside the box). The cores of a
    plan partition the image. ``row``/``col`` index the tile grid.
    """

    y0: int
    y1: int
    x0: int
    x1: int
    cy0: int
    cy1: int
    cx0: int
    cx1: int
    row: int
    col: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0


def _align_down(v: int, m: int) -> int:
    return v // m * m


def _align_up(v: int, m: int) -> int:
    return -(-v // m) * m


def _plan_1d(n: int, tile: int, overlap: int, multiple: int) -> list[tuple[int, int, int, int]]:
    """Split ``[0, n)`` into boxes ``(start, end, core_start, core_end)``.

    Boxes are at most ``tile`` long and (nearly) equal, so that the overlap, not a ragged last tile,
    is all the extra work; starts are multiples of ``multiple`` (pixel-unshuffle grids stay aligned);
    neighbours overlap by at least ``2 * overlap`` and the core boundary is the middle of the overlap,
    so every core pixel is at least ``overlap`` away from any edge that is not an image border.
    """
    if n <= tile:
        return [(0, n, 0, n)]
    k0 = math.ceil((n - 2 * overlap) / (tile - 2 * overlap))
    length = min(tile, _align_up(math.ceil((n + 2 * overlap * (k0 - 1)) / k0), multiple))
    while True:
        # largest aligned step between starts that still leaves 2 * overlap shared by neighbours
        step = _align_down(length - 2 * overlap, multiple)
        if step >= multiple:
            break
        if length >= tile:
            raise InputError(
                f"cannot tile a side of {n} px with tile {tile}, overlap {overlap} and starts on multiples of "
                f"{multiple}: tile - 2 * overlap must be at least {multiple}"
            )
        length = min(tile, length + multiple)
    last = _align_up(n - length, multiple)  # the last box ends at n and is at most `length` long
    units, max_units = last // multiple, step // multiple
    gaps = math.ceil(units / max_units)
    q, r = divmod(units, gaps)
    starts = [0]
    for i in range(gaps):  # spread the slack evenly: gaps of q or q + 1 units
        starts.append(starts[-1] + (q + (1 if i < r else 0)) * multiple)
    ends = [min(st + length, n) for st in starts]
    k = len(starts)
    bounds = [0] + [(starts[i + 1] + ends[i]) // 2 for i in range(k - 1)] + [n]
    return [(starts[i], ends[i], bounds[i], bounds[i + 1]) for i in range(k)]


def plan_tiles(h: int, w: int, tile: int, overlap: int, size_multiple: int = 1) -> list[Tile]:
    """Plan the tiles of an ``h`` x ``w`` image (LR pixels), row-major.

    Args:
        h, w: image size in pixels (> 0).
        tile: largest tile side (input box, overlap included), > ``2 * overlap``.
        overlap: context in pixels each core gets on every side that is not an image border (>= 0).
        size_multiple: tile starts are multiples of this (models that pixel-unshuffle or use windows).

    Returns:
        ``Tile`` boxes whose cores partition the image; every core pixel lies at least ``overlap`` pixels
        inside its box unless the box edge is an image border.

    Raises:
        InputError: empty image, negative overlap, or ``tile <= 2 * overlap``.
    """
    h, w, tile, overlap, size_multiple = int(h), int(w), int(tile), int(overlap), int(size_multiple)
    if h <= 0 or w <= 0:
        raise InputError(f"cannot tile an empty image of size {h}x{w}")
    if overlap < 0:
        raise InputError(f"overlap must be >= 0, got {overlap}")
    if size_multiple < 1:
        raise InputError(f"size_multiple must be >= 1, got {size_multiple}")
    if tile >= h and tile >= w:  # one tile holds the whole image: no seams, so no overlap is needed
        return [Tile(0, h, 0, w, 0, h, 0, w, 0, 0)]
    if tile <= 2 * overlap:
        raise InputError(
            f"tile {tile} px must be larger than twice the overlap ({overlap} px): each tile needs "
            f"{overlap} px of context on both sides plus at least one core pixel; use tile >= {2 * overlap + 1} "
            "or a smaller overlap"
        )
    if size_multiple > 1 and tile >= size_multiple:
        tile = _align_down(tile, size_multiple)
        if tile <= 2 * overlap:
            raise InputError(
                f"tile rounded down to a multiple of {size_multiple} is {tile}, not larger than 2 * overlap ({overlap})"
            )
    rows = _plan_1d(h, tile, overlap, size_multiple)
    cols = _plan_1d(w, tile, overlap, size_multiple)
    return [
        Tile(y0, y1, x0, x1, cy0, cy1, cx0, cx1, r, c)
        for r, (y0, y1, cy0, cy1) in enumerate(rows)
        for c, (x0, x1, cx0, cx1) in enumerate(cols)
    ]


def _feather_1d(start: int, end: int, lo_border: bool, hi_border: bool, overlap: int, scale: int) -> np.ndarray:
    n = (end - start) * scale
    centres = (np.arange(n, dtype=np.float64) + 0.5) / scale  # HR pixel centres in LR units from the box start
    w = np.ones(n, dtype=np.float64)
    if overlap <= 0:
        return w.astype(np.float32)
    margin = _FEATHER_MARGIN * overlap
    span = max(overlap - margin, 1e-6)
    if not lo_border:
        w = np.minimum(w, np.clip((centres - margin) / span, 0.0, 1.0))
    if not hi_border:
        w = np.minimum(w, np.clip(((end - start) - centres - margin) / span, 0.0, 1.0))
    # a pixel never has zero total weight (it is >= overlap inside its own core tile), but keep every
    # weight strictly positive so rounding can never divide by zero either
    return np.maximum(w, 1e-6).astype(np.float32)


def blend_weights(t: Tile, h: int, w: int, overlap: int, scale: int) -> np.ndarray:
    """Feathering weights (float32, shape ``(s*(y1-y0), s*(x1-x0))``, in (0, 1]) for tile ``t`` of an ``h`` x ``w`` image.

    Weight 1 everywhere except within ``overlap`` LR pixels of an edge that is not an image border, where
    it ramps linearly to ~0: zero over the first ``_FEATHER_MARGIN * overlap`` pixels, then up to 1.
    Dividing the weighted sum of overlapping tiles by the summed weights cross-fades between them.
    """
    wy = _feather_1d(t.y0, t.y1, t.y0 == 0, t.y1 == h, overlap, scale)
    wx = _feather_1d(t.x0, t.x1, t.x0 == 0, t.x1 == w, overlap, scale)
    return np.outer(wy, wx)


_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}


def parse_memory(value: str | int | float) -> int:
    """Bytes from ``"1.5GB"``, ``"512MiB"``, ``"800M"``, ``2_000_000_000`` ...

    Decimal units (KB, MB, GB, TB; also K, M, G, T) are powers of 1000, binary ones (KiB, MiB, GiB, TiB)
    powers of 1024; case and spaces are ignored.

    Raises:
        InputError: unparsable or not positive.
    """
    if isinstance(value, bool):
        raise InputError(f"memory size must be a number of bytes or a string like '1.5GB', got {value!r}")
    if isinstance(value, (int, float)):
        n = float(value)
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(value))
        if m is None or m.group(2).lower() not in _UNITS:
            raise InputError(f"cannot parse memory size {value!r}; use e.g. '1.5GB', '512MiB' or a number of bytes")
        n = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if not math.isfinite(n) or n <= 0:
        raise InputError(f"memory size must be positive, got {value!r}")
    return int(n)


# ------------------------------------------------------------------------------------------------ memory probe


class _LiveBytes(TorchDispatchMode):
    """Tracks the bytes of tensor storages created inside the mode that are still alive, and their peak.

    Storages are keyed by data pointer and counted per live tensor (views share a storage), released
    through weakref finalizers when the last tensor using them dies.
    """

    def __init__(self):
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


# ------------------------------------------------------------------------------------------------ precision


def _amp_dtype(model, device: torch.device, dtype: torch.dtype | None) -> torch.dtype | None:
    """The autocast dtype to use, or None for the model's own precision (warns when a request is refused)."""
    if dtype is None or dtype == torch.float32:
        return None
    if dtype not in (torch.float16, torch.bfloat16):
        raise InputError(f"dtype must be None, torch.float32, torch.float16 or torch.bfloat16, got {dtype}")
    card = model.card
    allowed = card.supports_half if dtype == torch.float16 else card.supports_bf16
    if not allowed:
        warnings.warn(f"{card.name} does not support {dtype} inference (model card); running in float32", stacklevel=3)
        return None
    if device.type not in ("cuda", "cpu", "xpu", "mps"):
        warnings.warn(f"no autocast on device {device}; running in float32", stacklevel=3)
        return None
    return dtype


class _NullContext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _autocast(device: torch.device, amp: torch.dtype | None):
    if amp is None:
        return _NullContext()
    return torch.autocast(device_type=device.type, dtype=amp)


# ------------------------------------------------------------------------------------------------ OOM detection


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)) and not isinstance(exc, TileOOMError):
        return True
    if isinstance(exc, RuntimeError):
        msg = str(exc).lower()
        return "out of memory" in msg or "can't allocate memory" in msg or "cannot allocate memory" in msg
    return False


def _free_device_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()


# ------------------------------------------------------------------------------------------------ image I/O


class _Source:
    """Reads LR boxes as float32 (C, h, w) tensors in [0, 1], one tile at a time."""

    def __init__(self, image: Any):
        self.is_tensor = isinstance(image, torch.Tensor)
        if self.is_tensor:
            if not torch.is_floating_point(image):
                raise InputError(f"image tensor must be float in [0, 1], got {image.dtype}; use x.float() / 255")
            if image.ndim not in (3, 4):
                raise InputError(f"image tensor must be (C, H, W) or (B, C, H, W), got shape {tuple(image.shape)}")
            self.batched = image.ndim == 4
            self.t = image if self.batched else image.unsqueeze(0)
            self.batch, self.channels, self.h, self.w = self.t.shape
            self.np_dtype = None
            self.hwc = False
        elif isinstance(image, np.ndarray):
            if image.dtype not in (np.uint8, np.uint16, np.float32, np.float64, np.float16):
                raise InputError(f"image array must be uint8, uint16 or float in [0, 1], got {image.dtype}")
            if image.ndim not in (2, 3):
                raise InputError(f"image array must be HW or HWC, got shape {image.shape}")
            self.a = image
            self.batched = False
            self.batch = 1
            self.h, self.w = image.shape[:2]
            self.hwc = image.ndim == 3
            self.channels = image.shape[2] if self.hwc else 1
            self.np_dtype = image.dtype
            self.maxval = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(image.dtype, 1.0)
        else:
            raise InputError(f"image must be a torch.Tensor or numpy array, got {type(image).__name__}")
        if self.channels not in (1, 3, 4):
            raise InputError(f"image must have 1, 3 or 4 channels, got {self.channels}")
        if self.h == 0 or self.w == 0 or self.batch == 0:
            raise InputError(f"image is empty: {self.batch} image(s) of {self.h}x{self.w}")

    def read(self, b: int, y0: int, y1: int, x0: int, x1: int) -> torch.Tensor:
        if self.is_tensor:
            return self.t[b, :, y0:y1, x0:x1].float()
        box = np.asarray(self.a[y0:y1, x0:x1])  # only this box is read from a memmap
        t = torch.from_numpy(box.astype(np.float32, copy=True))
        t = t.permute(2, 0, 1) if self.hwc else t.unsqueeze(0)
        return (t / self.maxval) if self.maxval != 1.0 else t

    def read_all(self) -> torch.Tensor:
        if self.is_tensor:
            return self.t.float()
        return self.read(0, 0, self.h, 0, self.w).unsqueeze(0)


class _Sink:
    """Writes HR float tiles (C, h, w) in [0, 1] into the output, converting to its dtype and layout."""

    def __init__(self, src: _Source, scale: int, out: Any, budget: int | None):
        H, W = src.h * scale, src.w * scale
        self.memmap: np.memmap | None = None
        if src.is_tensor:
            shape = (src.batch, src.channels, H, W)
            if out is None:
                nbytes = math.prod(shape) * 4
                if budget is not None and nbytes > budget // 2:
                    self.memmap = _temp_memmap(shape, np.float32)
                    out = torch.from_numpy(self.memmap)
                else:
                    out = torch.empty(shape, dtype=torch.float32)
                self.result = out if src.batched else out[0]
            else:
                want = shape if src.batched else shape[1:]
                if (
                    not isinstance(out, torch.Tensor)
                    or tuple(out.shape) != want
                    or out.dtype != torch.float32
                    or out.device.type != "cpu"
                ):
                    raise InputError(f"out must be a float32 CPU tensor of shape {want}, got {_describe(out)}")
                self.result = out
                out = out if src.batched else out.unsqueeze(0)
            self.t = out
        else:
            shape = (H, W, src.channels) if src.hwc else (H, W)
            if out is None:
                nbytes = math.prod(shape) * src.np_dtype.itemsize
                if budget is not None and nbytes > budget // 2:
                    out = self.memmap = _temp_memmap(shape, src.np_dtype)
                else:
                    out = np.empty(shape, dtype=src.np_dtype)
            elif not isinstance(out, np.ndarray) or out.shape != shape or out.dtype != src.np_dtype:
                raise InputError(f"out must be a {src.np_dtype} array of shape {shape}, got {_describe(out)}")
            elif isinstance(out, np.memmap):
                self.memmap = out
            self.a = out
            self.result = out
            self.maxval = src.maxval
            self.integer = np.issubdtype(src.np_dtype, np.integer)
        self.src = src

    def write(self, b: int, y0: int, x0: int, tile: torch.Tensor) -> None:
        tile = tile.float().cpu()
        h, w = tile.shape[-2:]
        if self.src.is_tensor:
            self.t[b, :, y0 : y0 + h, x0 : x0 + w] = tile
            return
        arr = tile.permute(1, 2, 0) if self.src.hwc else tile[0]
        if self.integer:
            arr = (arr * self.maxval).round_().clamp_(0, self.maxval)
        self.a[y0 : y0 + h, x0 : x0 + w] = arr.numpy()

    def release_pages(self) -> None:
        """Write finished rows of a memmap to disk and drop them from this process's resident set."""
        mm = self.memmap
        if mm is None:
            return
        mm.flush()
        raw = getattr(mm, "_mmap", None)
        if raw is not None and hasattr(raw, "madvise"):
            import mmap

            try:
                raw.madvise(mmap.MADV_DONTNEED)
            except (OSError, ValueError, AttributeError):
                pass


def _describe(x: Any) -> str:
    if isinstance(x, (np.ndarray, torch.Tensor)):
        dev = f" on {x.device}" if isinstance(x, torch.Tensor) else ""
        return f"{type(x).__name__} {x.dtype} {tuple(x.shape)}{dev}"
    return type(x).__name__


def _temp_memmap(shape: tuple[int, ...], dtype) -> np.memmap:
    """A writable memmap in a temporary file that is unlinked at once (the mapping keeps it alive)."""
    fd, path = tempfile.mkstemp(prefix="sr4det-upscale-", suffix=".dat")
    os.close(fd)
    try:
        mm = np.memmap(path, dtype=dtype, mode="w+", shape=shape)
    finally:
        os.unlink(path)
    return mm


# ------------------------------------------------------------------------------------------------ executor


@dataclass
class _Run:
    """State of one upscale call: the model, where it runs, and the tile size after OOM back-offs."""

    model: Any
    device: torch.device
    amp: torch.dtype | None
    channels_last: bool
    overlap: int
    min_tile: int
    tile: int | None  # None: untiled
    batch: int
    mem: _MemoryModel | None
    budget: int | None

    def call(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), _autocast(self.device, self.amp):
            y = self.model(x)
        return y.float()

    def run_box(self, src: _Source, b: int, box: tuple[int, int, int, int]) -> torch.Tensor:
        """HR output (C, s*h, s*w) for the LR box, sub-tiling it (halving on OOM) when it exceeds the tile."""
        y0, y1, x0, x1 = box
        if self.tile is None or max(y1 - y0, x1 - x0) <= self.tile:
            failed: BaseException | None = None
            try:
                return self.call(src.read(b, y0, y1, x0, x1).unsqueeze(0))[0]
            except Exception as exc:  # noqa: BLE001 - only OOM is handled; everything else re-raised below
                if not _is_oom(exc):
                    raise
                failed = exc
            # outside the except block so the traceback (and the tensors its frames hold) is released
            self._back_off(failed, max(y1 - y0, x1 - x0))
            del failed
        return self._subtile(src, b, box)

    def run_batch(self, src: _Source, b: int, boxes: list[tuple[int, int, int, int]]) -> list[torch.Tensor]:
        if len(boxes) == 1 or self.batch <= 1:
            return [self.run_box(src, b, box) for box in boxes]
        shape = (boxes[0][1] - boxes[0][0], boxes[0][3] - boxes[0][2])
        if self.tile is not None and max(shape) > self.tile:
            return [self.run_box(src, b, box) for box in boxes]
        failed = False
        try:
            x = torch.stack([src.read(b, *box) for box in boxes])
            y = self.call(x)
            return list(y.unbind(0))
        except Exception as exc:  # noqa: BLE001
            if not _is_oom(exc):
                raise
            failed = True
        if failed:
            _free_device_memory(self.device)
            self.batch = 1  # batching was too ambitious: one tile per call from now on
        return [self.run_box(src, b, box) for box in boxes]

    def _back_off(self, exc: BaseException, side: int) -> None:
        _free_device_memory(self.device)
        current = side if self.tile is None else min(self.tile, side)
        new = current // 2
        mult = max(1, self.model.card.size_multiple)
        if mult > 1:
            new = _align_down(new, mult)
        if new < self.min_tile:
            need = self.mem.bytes(self.min_tile**2) if self.mem is not None else None
            raise TileOOMError(
                f"out of memory on {self.device} with a {current}x{current} px tile; halving would give {new} px, "
                f"below the minimum tile of {self.min_tile} px (the largest of 2 x overlap + 1 = {2 * self.overlap + 1}, "
                f"the model minimum {self.model.card.min_size} and {_MIN_TILE_FLOOR}). Free memory, lower batch_tiles, "
                "or use a smaller overlap. "
                f"({type(exc).__name__}: {str(exc)[:200]})",
                tile=current,
                min_tile=self.min_tile,
                device=str(self.device),
                bytes_requested=need,
            ) from exc
        warnings.warn(
            f"out of memory on {self.device} with tile {current} px; retrying this tile with tile {new} px", stacklevel=4
        )
        self.tile = new

    def _subtile(self, src: _Source, b: int, box: tuple[int, int, int, int]) -> torch.Tensor:
        # plan inside the box as if it were an image: the box's own artificial edges are >= overlap away
        # from the cores the caller keeps, so the composed output is as exact as the box itself
        y0, y1, x0, x1 = box
        s = self.model.scale
        assert self.tile is not None
        out = torch.empty(src.channels, (y1 - y0) * s, (x1 - x0) * s)
        for t in plan_tiles(y1 - y0, x1 - x0, self.tile, self.overlap, self.model.card.size_multiple):
            sub = self.run_box(src, b, (y0 + t.y0, y0 + t.y1, x0 + t.x0, x0 + t.x1))
            oy, ox = (t.cy0 - t.y0) * s, (t.cx0 - t.x0) * s
            out[:, t.cy0 * s : t.cy1 * s, t.cx0 * s : t.cx1 * s] = sub[
                :, oy : oy + (t.cy1 - t.cy0) * s, ox : ox + (t.cx1 - t.cx0) * s
            ]
        return out


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


#: more tiles than this per image get a warning: each is a model call, so a tiny tile is usually a mistake
MANY_TILES = 10_000


def upscale(
    model,
    image,
    tile: str | int | None = "auto",
    overlap: int | None = None,
    max_memory: str | int | float | None = None,
    batch_tiles: int | None = None,
    out=None,
    progress: bool = False,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> torch.Tensor | np.ndarray:
    """Upscale ``image`` with ``model`` tile by tile, within a memory budget.

    Args:
        model: an :class:`~sr4det.models.wrapper.SRModel` (``.scale``, ``.card``), in eval mode.
        image: float tensor (C, H, W) or (B, C, H, W) in [0, 1] (CPU or device; only tiles are moved), or a
            numpy array (uint8, uint16 or float in [0, 1]) HW or HWC, including ``np.memmap``. C in {1, 3, 4}.
        tile: ``"auto"`` (largest tile that fits the budget, measured by a probe), an int (largest tile side
            in LR pixels, overlap included), or None (untiled: one model call for the whole image/batch).
        overlap: LR pixels of context per tile side; default ``model.card.default_overlap`` (the receptive
            field for shallow models, the measured effective overlap for deep ones). For local models
            ``overlap >= card.receptive_field`` makes the result equal the untiled one.
        max_memory: budget in bytes or as ``"1.5GB"``; default a fraction of the free memory (CUDA
            ``mem_get_info``, CPU available RAM). It covers the model calls, the tile copies and, when the
            output is allocated here, the output (streamed to a ``np.memmap`` when it exceeds half the budget).
        batch_tiles: tiles per model call (same-shape tiles are batched); default 1.
        out: preallocated output to fill: a float32 CPU tensor (C, sH, sW) / (B, C, sH, sW) for tensor input,
            or an array (e.g. ``np.memmap``) of the input's dtype and layout (sH, sW[, C]) for array input.
        progress: show a tqdm progress bar.
        device: where the model runs (default: the model's device; the model is moved if different).
        dtype: ``torch.float16`` / ``torch.bfloat16`` for autocast where the model card allows it (else a
            warning and float32); None or float32 for full precision.
        channels_last: run the model and its inputs in channels-last memory format.

    Returns:
        For tensor input, a float32 CPU tensor (C, sH, sW) or (B, C, sH, sW) in [0, 1]; for array input, an
        array of the same dtype and layout (sH, sW[, C]), rounded and clipped (a ``np.memmap`` backed by an
        unlinked temporary file when the output exceeded the budget). ``out`` itself when given.

    Raises:
        InputError: bad image/out/tile/overlap (e.g. tile <= 2 * overlap, empty image).
        TileOOMError: the budget is too small for the minimum tile, or out of memory at the minimum tile.
    """
    if not hasattr(model, "card") or not hasattr(model, "scale"):
        raise InputError(f"model must be an sr4det SRModel (with .card and .scale), got {type(model).__name__}")
    src = _Source(image)
    card, scale = model.card, int(model.scale)
    if device is not None:
        device = torch.device(device)
        if device != model.device:
            model.to(device)
    device = model.device if device is None else device
    amp = _amp_dtype(model, device, dtype)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if overlap is None:
        overlap = int(card.default_overlap)
    overlap = int(overlap)
    if overlap < 0:
        raise InputError(f"overlap must be >= 0, got {overlap}")
    if batch_tiles is None:
        batch_tiles = 1
    if isinstance(batch_tiles, bool) or not isinstance(batch_tiles, int) or batch_tiles < 1:
        raise InputError(f"batch_tiles must be a positive int or None, got {batch_tiles!r}")
    mult = max(1, int(card.size_multiple))
    min_tile = max(2 * overlap + 1, int(card.min_size), min(_MIN_TILE_FLOOR, max(src.h, src.w)))
    min_tile = _align_up(min_tile, mult)
    budget = parse_memory(max_memory) if max_memory is not None else None

    mem: _MemoryModel | None = None
    if isinstance(tile, str):
        if tile != "auto":
            raise InputError(f"tile must be 'auto', a positive int or None, got {tile!r}")
        total = budget if budget is not None else _available_memory(device)
        out_bytes = _output_bytes(src, scale) if out is None else 0
        sink_budget = total
        # an output that does not fit half the budget goes to disk and costs (almost) no RAM
        tile_budget = total - (out_bytes if out_bytes <= total // 2 else 0)
        mem = estimate_memory(model, device=device, dtype=dtype, channels=src.channels, channels_last=channels_last)
        tile_px = _choose_tile(mem, tile_budget, src, scale, batch_tiles, card.non_local, min_tile, mult, str(device))
    elif tile is None:
        tile_px = None
        sink_budget = budget
    else:
        if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or tile < 1:
            raise InputError(f"tile must be 'auto', a positive int or None, got {tile!r}")
        tile_px = int(tile)
        if tile_px <= 2 * overlap and tile_px < max(src.h, src.w):
            raise InputError(
                f"tile {tile_px} px must be larger than twice the overlap ({overlap} px); use tile >= {2 * overlap + 1}"
                f" or a smaller overlap (the model card's default overlap is {card.default_overlap})"
            )
        sink_budget = budget
    sink = _Sink(src, scale, out, sink_budget)
    run = _Run(model, device, amp, channels_last, overlap, min_tile, tile_px, batch_tiles, mem, budget)

    if tile_px is None:
        y = _untiled(run, src)
        for b in range(src.batch):
            sink.write(b, 0, 0, y[b])
        sink.release_pages()
        return sink.result

    tiles = plan_tiles(src.h, src.w, tile_px, overlap, mult)
    if len(tiles) > MANY_TILES:
        n_rows, n_cols = tiles[-1].row + 1, tiles[-1].col + 1
        warnings.warn(
            f"tile {tile_px} px (overlap {overlap} px) splits the {src.h}x{src.w} image into {len(tiles)} tiles "
            f"({n_rows} x {n_cols}), one model call each{f', for each of {src.batch} images' if src.batch > 1 else ''}: "
            f"this will be very slow. Use a larger tile (e.g. {min(max(src.h, src.w), 512)}), tile='auto' or tile=None",
            stacklevel=2,
        )
    from ._progress import tqdm

    bar = tqdm(total=len(tiles) * src.batch, disable=not progress, desc=f"upscale x{scale} ({card.name})", unit="tile")
    try:
        for b in range(src.batch):
            if card.non_local and len(tiles) > 1:
                _blend_image(run, src, sink, b, tiles, bar)
            else:
                _crop_image(run, src, sink, b, tiles, bar)
    finally:
        bar.close()
    sink.release_pages()
    return sink.result


def _output_bytes(src: _Source, scale: int) -> int:
    px = src.batch * src.channels * src.h * src.w * scale * scale
    return px * (4 if src.is_tensor else src.np_dtype.itemsize)


def _untiled(run: _Run, src: _Source) -> torch.Tensor:
    failed: BaseException | None = None
    try:
        return run.call(src.read_all())
    except Exception as exc:  # noqa: BLE001
        if not _is_oom(exc):
            raise
        failed = exc
    _free_device_memory(run.device)
    raise TileOOMError(
        f"out of memory on {run.device} running untiled (tile=None) on {src.batch} image(s) of {src.h}x{src.w}; "
        "use tile='auto' or an int tile size",
        tile=max(src.h, src.w),
        min_tile=run.min_tile,
        device=str(run.device),
    ) from failed


def _batches(tiles: list[Tile], n: int) -> list[list[Tile]]:
    """Consecutive groups of at most ``n`` tiles of the same shape (row-major order kept)."""
    groups: list[list[Tile]] = []
    for t in tiles:
        if groups and len(groups[-1]) < n and groups[-1][0].shape == t.shape:
            groups[-1].append(t)
        else:
            groups.append([t])
    return groups


def _crop_image(run: _Run, src: _Source, sink: _Sink, b: int, tiles: list[Tile], bar) -> None:
    """Local models: keep each tile's core only (exact when overlap >= receptive field)."""
    s = run.model.scale
    last_row = 0
    for group in _batches(tiles, run.batch):
        outs = run.run_batch(src, b, [(t.y0, t.y1, t.x0, t.x1) for t in group])
        for t, y in zip(group, outs, strict=True):
            oy, ox = (t.cy0 - t.y0) * s, (t.cx0 - t.x0) * s
            core = y[:, oy : oy + (t.cy1 - t.cy0) * s, ox : ox + (t.cx1 - t.cx0) * s]
            sink.write(b, t.cy0 * s, t.cx0 * s, core)
            bar.update(1)
            if t.row != last_row:
                sink.release_pages()
                last_row = t.row


def _blend_image(run: _Run, src: _Source, sink: _Sink, b: int, tiles: list[Tile], bar) -> None:
    """Non-local models: feathered weighted average of overlapping tiles, one row band of tiles at a time.

    A float strip (weighted sum and weight sum) spans the rows of the current band; rows above the next
    band's first row can receive nothing more and are normalised and written out.
    """
    s, C = run.model.scale, src.channels
    W = src.w * s
    rows: dict[int, list[Tile]] = {}
    for t in tiles:
        rows.setdefault(t.row, []).append(t)
    order = sorted(rows)
    strip_y0 = 0
    acc = torch.zeros(C, 0, W)
    wsum = torch.zeros(0, W)
    for i, r in enumerate(order):
        band = rows[r]
        y1 = band[0].y1 * s
        # grow the strip down to this band's last row
        if y1 > strip_y0 + acc.shape[1]:
            extra = y1 - (strip_y0 + acc.shape[1])
            acc = torch.cat([acc, torch.zeros(C, extra, W)], dim=1)
            wsum = torch.cat([wsum, torch.zeros(extra, W)], dim=0)
        for group in _batches(band, run.batch):
            outs = run.run_batch(src, b, [(t.y0, t.y1, t.x0, t.x1) for t in group])
            for t, y in zip(group, outs, strict=True):
                wt = torch.from_numpy(blend_weights(t, src.h, src.w, run.overlap, s))
                ys, xs = t.y0 * s - strip_y0, t.x0 * s
                hh, ww = wt.shape
                acc[:, ys : ys + hh, xs : xs + ww] += y * wt
                wsum[ys : ys + hh, xs : xs + ww] += wt
                bar.update(1)
        done = rows[order[i + 1]][0].y0 * s if i + 1 < len(order) else strip_y0 + acc.shape[1]
        k = done - strip_y0
        if k > 0:
            sink.write(b, strip_y0, 0, (acc[:, :k] / wsum[:k]).clamp_(0, 1))
            acc, wsum = acc[:, k:].clone(), wsum[k:].clone()
            strip_y0 = done
            sink.release_pages()


# ------------------------------------------------------------------------------------------------ receptive field


def measure_receptive_field(model, *, size: int | None = None, channels: int = 3, seed: int = 0) -> int:
    """Radius (LR pixels) of the input region that influences the centre output pixel, from the gradient.

    Backpropagates the centre HR pixel (summed over channels) of ``model`` applied to a random mid-grey
    image of ``size`` x ``size`` (default ``2 * card.receptive_field + 9``, at least 33) and returns the
    largest Chebyshev distance from the centre LR pixel to a pixel with a nonzero input gradient. The
    network's output value is pinned to 0.5 (gradient kept) so the wrapper's final clamp cannot hide it.
    """
    rf = model.card.receptive_field or 32
    n = _align_up(size or max(33, 2 * rf + 9), max(1, model.card.size_multiple))
    c, s = n // 2, model.scale
    gen = torch.Generator().manual_seed(seed)
    x = (0.5 + 0.1 * torch.randn(1, channels, n, n, generator=gen)).clamp(0.05, 0.95)
    x = x.to(device=model.device, dtype=model.dtype).requires_grad_(True)

    def pin(_module, _inputs, output):
        return output - output.detach() + 0.5

    handle = model.net.register_forward_hook(pin)
    try:
        with torch.enable_grad():
            y = model(x)
            if not y.requires_grad:
                raise InputError(
                    f"{model.card.name} runs without autograd (e.g. spandrel descriptors use no_grad); "
                    "its receptive field cannot be measured from gradients"
                )
            y[0, :, c * s + s // 2, c * s + s // 2].sum().backward()
    finally:
        handle.remove()
    g = x.grad.detach().abs().sum(dim=(0, 1)).cpu()
    nz = torch.nonzero(g > 0)
    if not len(nz):
        raise RuntimeError(f"the centre output of {model.card.name} has zero gradient with respect to every input pixel")
    return int((nz - c).abs().max())


def hard_crop_upscale(model, x: torch.Tensor, tile: int, pad: int) -> torch.Tensor:
    """The baseline sr4det is measured against: Real-ESRGAN's tiling, not used by :func:`upscale`.

    A grid of ``tile`` x ``tile`` cores, each run with ``pad`` px of context and cropped hard (``pad=0`` is
    naive non-overlapping tiling). ``x``: float (C, H, W) in [0, 1]; returns float (C, sH, sW).
    """
    s = model.scale
    _, h, w = x.shape
    out = torch.empty(x.shape[0], h * s, w * s)
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            py0, px0, py1, px1 = max(y0 - pad, 0), max(x0 - pad, 0), min(y1 + pad, h), min(x1 + pad, w)
            with torch.inference_mode():
                o = model(x[:, py0:py1, px0:px1])
            out[:, y0 * s : y1 * s, x0 * s : x1 * s] = o[:, (y0 - py0) * s : (y1 - py0) * s, (x0 - px0) * s : (x1 - px0) * s]
    return out

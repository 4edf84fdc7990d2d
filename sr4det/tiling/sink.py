"""Image I/O of tiled upscaling: reads LR boxes from a tensor / ndarray / ``np.memmap`` and writes HR tiles
into a float32 tensor, an array of the input's dtype, or a ``np.memmap`` on disk when the output exceeds the budget.
"""

from __future__ import annotations

import math
import os
import tempfile
from typing import Any

import numpy as np
import torch

from ..errors import InputError


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
            self.np_dtype: np.dtype | None = None
            self.hwc = False
        elif isinstance(image, np.ndarray):
            # byte order is not the dtype's kind: big-endian data (some TIFF readers) is converted tile by tile on read
            native = image.dtype.newbyteorder("=")
            if native not in (np.uint8, np.uint16, np.float32, np.float64, np.float16):
                raise InputError(f"image array must be uint8, uint16 or float in [0, 1], got {image.dtype}")
            if image.ndim not in (2, 3):
                raise InputError(f"image array must be HW or HWC, got shape {image.shape}")
            self.a = image
            self.batched = False
            self.batch = 1
            self.h, self.w = image.shape[:2]
            self.hwc = image.ndim == 3
            self.channels = image.shape[2] if self.hwc else 1
            self.np_dtype = native  # outputs are in native byte order
            self.maxval = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(native, 1.0)
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
            shape: tuple[int, ...] = (src.batch, src.channels, H, W)
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
            assert src.np_dtype is not None  # set for every ndarray source
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


def _output_bytes(src: _Source, scale: int) -> int:
    px = src.batch * src.channels * src.h * src.w * scale * scale
    if src.is_tensor:
        return px * 4
    assert src.np_dtype is not None  # set for every ndarray source
    return px * src.np_dtype.itemsize

"""Precision and out-of-memory helpers shared by the memory probe and the tile executor.

Which autocast dtype a model card allows, the autocast context, and how an out-of-memory error is recognised.
"""

from __future__ import annotations

import warnings

import torch

from ..errors import InputError, TileOOMError

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

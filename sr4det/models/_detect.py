"""Recognising a plain state dict of a zoo architecture by its keys and shapes (spandrel's approach).

Each architecture file may register a ``detect(state_dict) -> Detected | None`` with its card: ``None``
when the keys are not that architecture's, a :class:`Detected` with the build options and the scales the
file holds when they are, and :class:`~sr4det.errors.ArchitectureMismatchError` when the signature keys
are there but the file is incomplete or inconsistent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import ArchitectureMismatchError


@dataclass(frozen=True)
class Detected:
    """What the keys say: registry name, scales the file can run at, and the builder's keyword options."""

    arch: str
    scales: tuple[int, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


def require_keys(sd: dict[str, torch.Tensor], arch: str, keys: Iterable[str]) -> None:
    """Raise :class:`ArchitectureMismatchError` naming ``arch`` and every key of ``keys`` missing from ``sd``."""
    missing = [k for k in keys if k not in sd]
    if missing:
        raise ArchitectureMismatchError(
            f"this looks like a {arch} state dict, but it lacks {len(missing)} key(s): {', '.join(missing[:5])}; "
            "the file is truncated or was saved from a modified network"
        )


def count_indexed(sd: dict[str, torch.Tensor], template: str, start: int = 0) -> int:
    """How many consecutive indices ``i = start, start+1, ...`` have ``template.format(i)`` in ``sd``."""
    n = 0
    while template.format(start + n) in sd:
        n += 1
    return n


def shuffle_scale(sd: dict[str, torch.Tensor], arch: str, key: str, channels: int) -> int:
    """The scale ``s`` of a conv ``key`` that makes ``channels * s**2`` maps for a ``PixelShuffle(s)``."""
    out = int(sd[key].shape[0])
    s = math.isqrt(out // channels) if out % channels == 0 else 0
    if s < 2 or channels * s * s != out:
        raise ArchitectureMismatchError(
            f"{arch}: {key} has {out} output channels, which is not {channels} x s^2 for any scale s >= 2; "
            "the file is not a complete state dict of this architecture"
        )
    return s

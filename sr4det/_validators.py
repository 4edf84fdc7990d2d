"""The validators of the values every ``sr4det`` command shares, one per option type: :func:`check_scale`,
:func:`check_tile` (and :func:`tile_text`, its command-line spelling), :func:`check_overlap`, :func:`check_max_memory`
(:func:`parse_memory`), :func:`check_threads`, :func:`check_seed`, :func:`check_device` (:func:`device_arg`, the
typed ``--device``) and :func:`check_dtype`. Each takes a value from the command line, a YAML config or Python and
returns it checked, or raises a typed error (:class:`~sr4det.errors.InputError`, :class:`~sr4det.errors.ScaleError`)
naming the flag and the forms it takes. The argparse declarations that use them are in :mod:`._options`; the library (tiling, models, transforms) calls them on keyword arguments. Private."""

from __future__ import annotations

import math
import re

from .errors import InputError, ScaleError


def _shown(value: object) -> str:
    """``value`` as a message shows it: text as typed (``''`` when empty), anything else as its repr."""
    if isinstance(value, str):
        return value if value.strip() else repr(value)
    return repr(value)


def _integer(value: object) -> int | None:
    """An int from an int or its text ("4", " 4 "); None for anything else (3.5, "x", True)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if hasattr(value, "__index__") and not isinstance(value, float):  # numpy integers
        try:
            return int(value.__index__())
        except TypeError:
            return None
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def check_scale(value: object, flag: str = "--scale") -> int:
    """The SR factor: a positive integer (``4``, ``"4"``); 0, negatives, ``3.5`` and text are a :class:`ScaleError`
    (a bad scale must never fall back to a default)."""
    scale = _integer(value)
    if scale is None or scale < 1:
        raise ScaleError(f"{flag} must be a positive integer such as 2 or 4, got {_shown(value)}")
    return scale


def check_tile(value: object) -> int | str | None:
    """The tile size (``--tile``, :func:`sr4det.tiling.parse_tile`): ``"none"`` (or None) -> None, ``"auto"`` ->
    ``"auto"``, a positive int (or its text) -> that int; anything else is an :class:`InputError` naming the forms."""
    text = str(value).strip().lower()
    if text == "none":
        return None
    if text == "auto":
        return "auto"
    try:
        tile = int(text)
    except ValueError:
        tile = 0
    if tile < 1:
        raise InputError(f"--tile must be a positive integer (tile side in LR pixels, e.g. 256), 'auto' or 'none', got {value!r}")
    return tile


def tile_text(tile: int | str | None) -> str:
    """A checked tile as the command line writes it: ``"auto"``, ``"none"`` or the number."""
    return "none" if tile is None else str(tile)


def check_overlap(value: object, flag: str = "--overlap") -> int:
    """The tile overlap in LR pixels: an integer >= 0."""
    overlap = _integer(value)
    if overlap is None or overlap < 0:
        raise InputError(
            f"{flag} must be >= 0 LR pixels (an integer), got {_shown(value)}; omit it to use the model card's overlap"
        )
    return overlap


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
        m = re.fullmatch(r"\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(value))
        if m is None or m.group(2).lower() not in _UNITS:
            raise InputError(f"cannot parse memory size {value!r}; use e.g. '1.5GB', '512MiB' or a number of bytes")
        n = float(m.group(1)) * _UNITS[m.group(2).lower()]
    if not math.isfinite(n) or n < 1:  # below one byte (0.1 -> 0) is no budget at all
        raise InputError(
            f"memory size must be positive (at least 1 byte), got {value!r}; use e.g. '1.5GB', '512MiB' or a number of bytes"
        )
    return int(n)


def check_max_memory(value: object, flag: str = "--max-memory") -> str:
    """A memory budget such as ``"1.5GB"`` (:func:`parse_memory`); returned as given."""
    try:
        parse_memory(value)  # type: ignore[arg-type]
    except InputError as exc:
        raise InputError(f"{flag}: {exc}") from exc
    return str(value)


def check_threads(value: object, flag: str = "--threads") -> int:
    """A thread count: an integer >= 1."""
    threads = _integer(value)
    if threads is None or threads < 1:
        raise InputError(f"{flag} must be an integer >= 1, got {_shown(value)}; omit it for the default")
    return threads


def check_seed(value: object, flag: str = "--seed") -> int:
    """A seed: any integer."""
    seed = _integer(value)
    if seed is None:
        raise InputError(f"{flag} must be an integer such as 0, got {_shown(value)}")
    return seed


def check_device(device: object, flag: str = "--device") -> None:
    """Reject a device torch does not know, or a CUDA device this machine does not have (an :class:`InputError`
    naming ``flag``: ``--device`` on the command line, ``device`` for a keyword argument). None / "" pass."""
    if device is None or device == "":
        return
    import torch

    sep = " " if flag.startswith("-") else "="
    try:
        dev = device if isinstance(device, torch.device) else torch.device(device)  # type: ignore[call-overload]
    except (RuntimeError, ValueError, TypeError) as exc:
        raise InputError(
            f"{flag} {device!r} is not a torch device ({exc}); use e.g. {flag}{sep}cpu or {flag}{sep}cuda:0"
        ) from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"{flag} {device} was asked for but CUDA is not available on this machine; use {flag}{sep}cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(
                f"{flag} {device}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                f"(cuda:0..cuda:{torch.cuda.device_count() - 1}); pick one of them or use {flag}{sep}cpu"
            )


def device_arg(value: str) -> str:
    """``--device`` as typed: a torch device (``cpu``, ``cuda``, ``cuda:1``), or a bare index ``N`` meaning
    ``cuda:N`` (ultralytics' spelling); checked by :func:`check_device`."""
    text = value.strip()
    device = f"cuda:{text}" if text.isdigit() else text
    check_device(device)
    return device


def check_dtype(dtype: object, flag: str = "dtype") -> None:
    """Reject a ``dtype`` that is not a floating-point ``torch.dtype`` (a string such as "float16", an int dtype)."""
    if dtype is None:
        return
    import torch

    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise InputError(
            f"{flag} must be a floating-point torch.dtype such as torch.float32, torch.float16 or torch.bfloat16 "
            f"(or None), got {dtype!r}"
        )

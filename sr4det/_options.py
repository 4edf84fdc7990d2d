"""Command-line options that both the CLI (:mod:`sr4det.commands`) and the library's config objects
(:meth:`sr4det.evaluation.config.CompareConfig.add_arguments`) use: the degradation options and the device check.
Private: the public way to these options is the ``sr4det`` command or ``CompareConfig``."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .errors import InputError

if TYPE_CHECKING:
    from .degradation import DegradationSpec


def add_degradation_args(parser: argparse.ArgumentParser, *, seed: bool = False) -> None:
    """``--degradation PRESET``, ``--blur-sigma``, ``--noise-std``, ``--jpeg-quality`` (and ``--seed`` if asked): the
    options of every command that degrades, read by :func:`degradation_from_args`. The three numbers, when given,
    replace the preset's values. ``--blur``, ``--noise`` and ``--jpeg`` are hidden aliases."""
    from .degradation import describe_preset, list_presets

    presets = "; ".join(f"{n}: {describe_preset(n)}" for n in list_presets())
    parser.add_argument(
        "--degradation",
        default=None,
        choices=list_presets(),
        metavar="PRESET",
        help=f"named degradation of the LR images (default: clean). {presets}",
    )
    parser.add_argument("--blur-sigma", type=float, default=None, help="Gaussian blur sigma (HR pixels) before downscaling")
    parser.add_argument("--noise-std", type=float, default=None, help="Gaussian noise std in 8-bit levels after downscaling")
    parser.add_argument("--jpeg-quality", type=int, default=None, help="JPEG quality (1-100) of the LR image")
    for alias, dest, kind in (("--blur", "blur_sigma", float), ("--noise", "noise_std", float), ("--jpeg", "jpeg_quality", int)):
        parser.add_argument(alias, dest=dest, type=kind, default=None, help=argparse.SUPPRESS)
    if seed:
        parser.add_argument(
            "--seed", type=int, default=0, help="noise seed: noise is a function of the seed and the image's pixels"
        )


def degradation_from_args(args: argparse.Namespace, scale: int, *, seed: int | None = None) -> DegradationSpec:
    """The :class:`~sr4det.degradation.DegradationSpec` of :func:`add_degradation_args` options at ``scale``."""
    from .degradation import with_preset

    return with_preset(
        getattr(args, "degradation", None),
        scale,
        seed=getattr(args, "seed", 0) if seed is None else seed,
        blur_sigma=args.blur_sigma,
        noise_std=args.noise_std,
        jpeg_quality=args.jpeg_quality,
    )


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

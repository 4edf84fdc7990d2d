"""Arguments shared by several subcommands."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InputError, ScaleError

if TYPE_CHECKING:
    from ..degradation import DegradationSpec
    from ..models.wrapper import SRModel


def add_model_args(parser: argparse.ArgumentParser, *, default_model: str | None = None) -> None:
    parser.add_argument(
        "--model",
        "-m",
        required=default_model is None,
        default=default_model,
        help="zoo name (see `sr4det models`) or weight file",
    )
    parser.add_argument("--scale", "-s", type=int, default=4, help="upscaling factor (default 4)")
    parser.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda:0 (default: cuda if available)")
    parser.add_argument(
        "--no-pretrained", dest="pretrained", action="store_false", help="random weights for zoo models (testing only)"
    )


def add_tile_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tile", default="auto", help="tile size in LR pixels, 'auto' (from the memory budget) or 'none'")
    parser.add_argument("--overlap", type=int, default=None, help="tile overlap in LR pixels (default: from the model card)")
    parser.add_argument("--max-memory", default=None, help="memory budget such as 1.5GB (default: a fraction of free memory)")


def add_degradation_args(parser: argparse.ArgumentParser, *, seed: bool = False) -> None:
    """``--blur-sigma``, ``--noise-std``, ``--jpeg-quality`` (and ``--seed`` if asked): the options of every command
    that degrades, read by :func:`degradation_from_args`. ``--blur``, ``--noise`` and ``--jpeg`` are hidden aliases."""
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
    from ..degradation import DegradationSpec

    return DegradationSpec(
        scale=scale,
        blur_sigma=args.blur_sigma,
        noise_std=args.noise_std,
        jpeg_quality=args.jpeg_quality,
        seed=getattr(args, "seed", 0) if seed is None else seed,
    )


def check_scale(value: int | None, flag: str = "--scale", *, allow_none: bool = False) -> None:
    """Reject a zero or negative scale before any work (it must never fall back to a default)."""
    if value is None and allow_none:
        return
    if value is None or value < 1:
        raise ScaleError(f"{flag} must be a positive integer such as 2 or 4, got {value}")


def check_device(device: str | None) -> None:
    """Reject a device string torch does not know, or a CUDA device this machine does not have."""
    if not device:
        return
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise InputError(f"--device {device!r} is not a torch device ({exc}); use e.g. --device cpu or --device cuda:0") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"--device {device} was asked for but CUDA is not available on this machine; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(
                f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                f"(cuda:0..cuda:{torch.cuda.device_count() - 1}); pick one of them or use --device cpu"
            )


def default_device(device: str | None) -> str:
    if device:
        check_device(device)
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def check_writable_dir(folder: str | Path, flag: str) -> Path:
    """Create ``folder`` if needed and prove a file can be written there, before any expensive work."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InputError(f"{flag} {path} is not a writable folder ({reason}); choose another {flag}") from exc
    return path


def load_model_from_args(args: argparse.Namespace) -> SRModel:
    from ..models import resolve_model

    check_scale(args.scale)
    return resolve_model(args.model, args.scale, pretrained=args.pretrained, device=default_device(args.device))

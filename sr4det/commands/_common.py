"""Arguments shared by several subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

# the degradation options and the device check live beside the library's own config objects (evaluation/config.py
# uses them too); re-exported here for the subcommands
from .._files import writable_dir
from .._options import add_degradation_args as add_degradation_args
from .._options import check_device as check_device
from .._options import degradation_from_args as degradation_from_args
from ..errors import InputError, ScaleError

if TYPE_CHECKING:
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
    add_runtime_args(parser)


def add_runtime_args(parser: argparse.ArgumentParser) -> None:
    """``--backend`` and ``--precision``: what runs the SR network (:meth:`sr4det.SRModel.set_runtime`)."""
    from ..models.runtime import BACKENDS, PRECISIONS

    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="torch",
        help="what runs the SR network: eager torch, or compiled for the CPU by OpenVINO / ONNX Runtime (converted once, "
        "cached; needs the 'export' extra)",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="fp32",
        help="precision of a compiled backend: fp32 equals torch within ~1e-5; bf16/fp16 (openvino, where the CPU has "
        "them) are faster but differ by grey levels",
    )


def check_runtime_args(args: argparse.Namespace) -> None:
    """Refuse an unknown or unsupported ``--backend``/``--precision`` pair (and ``--half`` with a compiled backend) up front."""
    from ..models.runtime import check_runtime

    backend, precision = getattr(args, "backend", "torch"), getattr(args, "precision", "fp32")
    check_runtime(backend, precision)
    if backend != "torch" and getattr(args, "half", False):
        raise InputError(f"--half is for the torch backend; with --backend {backend} choose --precision bf16 instead")


def add_tile_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tile", default="auto", help="tile size in LR pixels, 'auto' (from the memory budget) or 'none'")
    parser.add_argument("--overlap", type=int, default=None, help="tile overlap in LR pixels (default: from the model card)")
    parser.add_argument("--max-memory", default=None, help="memory budget such as 1.5GB (default: a fraction of free memory)")


def check_tile_args(args: argparse.Namespace) -> int | str | None:
    """Check ``--tile``, ``--overlap`` and ``--max-memory`` (from :func:`add_tile_args`) before any work; returns the tile.

    A bad value must fail once, up front, not once per image after the model has loaded.
    """
    from ..tiling import parse_memory, parse_tile

    tile = parse_tile(args.tile)
    overlap = getattr(args, "overlap", None)
    if overlap is not None and overlap < 0:
        raise InputError(f"--overlap must be >= 0 LR pixels, got {overlap}; omit it to use the model card's overlap")
    max_memory = getattr(args, "max_memory", None)
    if max_memory is not None:
        try:
            parse_memory(max_memory)
        except InputError as exc:
            raise InputError(f"--max-memory: {exc}") from exc
    return tile


def check_tile_overlap(tile: int | str | None, overlap: int | None, model: Any) -> None:
    """Refuse an int ``--tile`` not larger than twice the overlap (``--overlap``, else the model card's default)
    once the model is known and before any image is read: otherwise every image would fail the same way."""
    if not isinstance(tile, int) or isinstance(tile, bool):
        return
    used = int(model.card.default_overlap) if overlap is None else int(overlap)
    if tile <= 2 * used:
        source = "--overlap" if overlap is not None else f"{model.card.name}'s default overlap"
        raise InputError(
            f"--tile {tile} must be larger than twice the overlap ({source}: {used} LR px): use --tile {2 * used + 1} "
            "or more, --tile auto, or a smaller --overlap"
        )


def check_scale(value: int | None, flag: str = "--scale", *, allow_none: bool = False) -> None:
    """Reject a zero or negative scale before any work (it must never fall back to a default)."""
    if value is None and allow_none:
        return
    if value is None or value < 1:
        raise ScaleError(f"{flag} must be a positive integer such as 2 or 4, got {value}")


def default_device(device: str | None) -> str:
    if device:
        check_device(device)
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def check_writable_dir(folder: str | Path, flag: str) -> Path:
    """Create ``folder`` if needed and prove a file can be written there, before any expensive work."""
    return writable_dir(folder, flag)


def load_model_from_args(args: argparse.Namespace) -> SRModel:
    from ..models import resolve_model

    check_scale(args.scale)
    check_runtime_args(args)
    backend, precision = getattr(args, "backend", "torch"), getattr(args, "precision", "fp32")
    # compiled backends run on the CPU: no default move to a GPU for them
    device = default_device(args.device) if backend == "torch" or args.device else "cpu"
    return resolve_model(args.model, args.scale, pretrained=args.pretrained, device=device, backend=backend, precision=precision)

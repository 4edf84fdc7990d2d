"""Arguments shared by several subcommands: the shared option declarations of :mod:`sr4det._options`, grouped."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

# the shared options, their validators and the degradation options live beside the library's own config objects
# (evaluation/config.py uses them too); re-exported here for the subcommands
from .._files import writable_dir
from .._options import add_degradation_args as add_degradation_args
from .._options import add_hidden_alias as add_hidden_alias
from .._options import add_option as add_option
from .._options import add_options as add_options
from .._options import add_switch as add_switch
from .._options import degradation_from_args as degradation_from_args
from .._validators import check_device as check_device
from .._validators import check_scale as check_scale
from ..errors import InputError

if TYPE_CHECKING:
    from ..models.wrapper import SRModel


def add_model_args(parser: argparse.ArgumentParser, *, default_model: str | None = None) -> None:
    """``-m/--model``, ``-s/--scale``, ``--device``, ``--pretrained/--no-pretrained``, ``--backend``, ``--precision``."""
    parser.add_argument(
        "--model",
        "-m",
        required=default_model is None,
        default=default_model,
        help="zoo name (see `sr4det models`) or weight file",
    )
    add_options(parser, "scale", "device", "pretrained")
    add_runtime_args(parser)


def add_runtime_args(parser: argparse.ArgumentParser) -> None:
    """``--backend`` and ``--precision``: what runs the SR network (:meth:`sr4det.SRModel.set_runtime`), as
    :mod:`sr4det._options` declares them for every command that runs SR (``compare`` too)."""
    add_options(parser, "backend", "precision")


def check_runtime_args(args: argparse.Namespace) -> None:
    """Refuse an unknown or unsupported ``--backend``/``--precision`` pair (and ``--half`` with a compiled backend) up front."""
    from ..models.runtime import check_runtime

    backend, precision = getattr(args, "backend", "torch"), getattr(args, "precision", "fp32")
    check_runtime(backend, precision)
    if backend != "torch" and getattr(args, "half", False):
        raise InputError(f"--half is for the torch backend; with --backend {backend} choose --precision bf16 instead")


def add_tile_args(parser: argparse.ArgumentParser) -> None:
    """``--tile``, ``--overlap`` and ``--max-memory`` (checked by their validators while the command line is parsed)."""
    add_options(parser, "tile", "overlap", "max_memory")


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

    check_runtime_args(args)
    backend, precision = getattr(args, "backend", "torch"), getattr(args, "precision", "fp32")
    # compiled backends run on the CPU: no default move to a GPU for them
    device = default_device(args.device) if backend == "torch" or args.device else "cpu"
    return resolve_model(args.model, args.scale, pretrained=args.pretrained, device=device, backend=backend, precision=precision)

"""Arguments shared by several subcommands."""

from __future__ import annotations

import argparse


def add_model_args(parser: argparse.ArgumentParser, *, default_model: str | None = None) -> None:
    parser.add_argument("--model", "-m", required=default_model is None, default=default_model, help="zoo name (see `sr4det models`) or weight file")
    parser.add_argument("--scale", "-s", type=int, default=4, help="upscaling factor (default 4)")
    parser.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda:0 (default: cuda if available)")
    parser.add_argument("--no-pretrained", dest="pretrained", action="store_false", help="random weights for zoo models (testing only)")


def add_tile_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tile", default="auto", help="tile size in LR pixels, 'auto' (from the memory budget) or 'none'")
    parser.add_argument("--overlap", type=int, default=None, help="tile overlap in LR pixels (default: from the model card)")
    parser.add_argument("--max-memory", default=None, help="memory budget such as 1.5GB (default: a fraction of free memory)")


def parse_tile(value: str) -> int | str | None:
    if value.lower() == "none":
        return None
    if value.lower() == "auto":
        return "auto"
    return int(value)


def default_device(device: str | None) -> str:
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model_from_args(args: argparse.Namespace):
    from ..models import resolve_model

    return resolve_model(args.model, args.scale, pretrained=args.pretrained, device=default_device(args.device))

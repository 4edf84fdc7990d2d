"""The ``sr4det`` command line. Every module in :mod:`sr4det.commands` adds one subcommand."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import commands
from .errors import SR4DetError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sr4det", description="Super-resolution before object detection, measured.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{commands.__name__}.{info.name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point. Each subcommand's ``add_parser`` sets ``func(args) -> int`` as the handler."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (SR4DetError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"sr4det {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

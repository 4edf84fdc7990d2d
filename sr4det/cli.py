"""The ``sr4det`` command line. Every module in :mod:`sr4det.commands` adds one subcommand."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import commands
from .errors import SR4DetError


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless its help already states one or the default is None/False (no value)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text.lower() or action.default in (None, False) or action.default is argparse.SUPPRESS:
            return text
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """Every ``sr4det`` parser and subparser: defaults shown in ``--help``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="sr4det", description="Super-resolution before object detection, measured.")
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="load YOLO .pt files even when their pickle imports more than ultralytics checkpoints do (a pickle can "
        "run code: only for files you trust; sets SR4DET_TRUST_PICKLE=1)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{commands.__name__}.{info.name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point. Each subcommand's ``add_parser`` sets ``func(args) -> int`` as the handler."""
    args = build_parser().parse_args(argv)
    from ._files import ignore_sigxfsz

    ignore_sigxfsz()  # a write over `ulimit -f` fails as DiskFullError instead of killing the process
    if getattr(args, "trust_pickle", False):
        import os

        from ._pickle_scan import TRUST_ENV

        os.environ[TRUST_ENV] = "1"
    try:
        return int(args.func(args) or 0)
    except (SR4DetError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"sr4det {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""The ``sr4det`` command line. Every module in :mod:`sr4det.commands` adds one subcommand."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import __version__, commands
from ._options import OptionType, Switch
from .errors import SR4DetError


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless its help already states one or the default is None/False (no value);
    a boolean :class:`~sr4det._options.Switch` reads ``--x/--no-x ... (default: --x)``."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if isinstance(action, Switch):
            return text if "default" in text.lower() else f"{text} (default: {action.default_flag()})"
        if "default" in text.lower() or action.default is None or action.default is False or action.default is argparse.SUPPRESS:
            return text
        return super()._get_help_string(action)

    def _split_lines(self, text: str, width: int) -> list[str]:
        import textwrap

        # flags such as --no-overwrite stay whole
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if isinstance(action, Switch):
            return "/".join(action.option_strings)
        return super()._format_action_invocation(action)


class Parser(argparse.ArgumentParser):
    """Every ``sr4det`` parser and subparser: defaults shown in ``--help``; the validators of the shared options
    (:class:`~sr4det._options.OptionType`) raise their typed error (caught by :func:`main`: exit 2, one line)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def _get_value(self, action: argparse.Action, arg_string: str):
        if isinstance(action.type, OptionType):  # not argparse's "invalid int value": the option's own message
            try:
                return action.type(arg_string)
            except SR4DetError as exc:
                exc.prog = self.prog  # type: ignore[attr-defined]  # "sr4det upscale" for main's message
                raise
        return super()._get_value(action, arg_string)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="sr4det", description="Super-resolution before object detection, measured.")
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="load YOLO .pt files even when their pickle imports more than ultralytics checkpoints do (a pickle can "
        "run code: only for files you trust; sets SR4DET_TRUST_PICKLE=1)",
    )
    parser.add_argument("--version", action="version", version=f"sr4det {__version__}", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{commands.__name__}.{info.name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point. Each subcommand's ``add_parser`` sets ``func(args) -> int`` as the handler."""
    try:
        args = build_parser().parse_args(argv)
    except SR4DetError as exc:  # a shared option's validator: the same message from every command
        print(f"{getattr(exc, 'prog', 'sr4det')}: error: {exc}", file=sys.stderr)
        return 2
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

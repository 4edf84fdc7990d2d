"""The options every ``sr4det`` command shares, declared once (:data:`OPTIONS`: flags, one help text, default) with
one validator per option type (:func:`check_scale`, :func:`check_tile`, :func:`check_overlap`, :func:`check_max_memory`,
:func:`check_threads`, :func:`check_seed`, :func:`check_device`: defined in :mod:`._validators`;
``--backend``/``--precision`` take the SR runtimes of :mod:`._runtime_choices`). Subcommands (:mod:`sr4det.commands`) and
:meth:`sr4det.evaluation.config.CompareConfig.add_arguments` add them with :func:`add_option`; argparse calls the
validator as the option's ``type`` (the ``sr4det`` parser lets its typed error through: the same failure, before any
work, in every command) and config objects call it for values from YAML or Python. Booleans are :class:`Switch`
options, shown as ``--x/--no-x (default: --x)``. Private: the public way in is the ``sr4det`` command or ``CompareConfig``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._runtime_choices import BACKENDS, PRECISIONS
from ._validators import check_max_memory, check_overlap, check_scale, check_seed, check_threads, check_tile, device_arg

if TYPE_CHECKING:
    from .degradation import DegradationSpec


# ----------------------------------------------------------------------------------------------- declarations


class OptionType:
    """An option's ``type=``: calls its validator on the text typed. The ``sr4det`` parser
    (:class:`sr4det.cli.Parser`) lets the validator's typed error through instead of argparse's "invalid value"."""

    def __init__(self, name: str, check: Callable[[str], Any]):
        self.__name__ = name  # argparse names the type in its own messages (plain parsers)
        self.check = check

    def __call__(self, text: str) -> Any:
        return self.check(text)

    def __repr__(self) -> str:
        return self.__name__


class Switch(argparse.BooleanOptionalAction):
    """A boolean option ``--x`` with its ``--no-x``; help shows ``--x/--no-x`` and the default as the flag in effect
    (``(default: --no-x)``), instead of "(default: True)"."""

    def __init__(self, option_strings: Sequence[str], dest: str, default: Any = None, help: str | None = None, **kwargs: Any):
        super().__init__(option_strings, dest, default=default, help=help, **kwargs)
        self.help = help  # Python < 3.12 appends " (default: %(default)s)": the formatter shows the flag instead

    def default_flag(self) -> str:
        positive = self.option_strings[0]
        return positive if self.default else "--no-" + positive.removeprefix("--")


@dataclass(frozen=True)
class Option:
    """One shared option: its flags, one help text, its default and its argparse keywords."""

    flags: tuple[str, ...]
    help: str
    default: Any = None
    kwargs: dict[str, Any] = field(default_factory=dict)


OPTIONS: dict[str, Option] = {
    "scale": Option(
        ("-s", "--scale"),
        "SR factor (x2, x4 ...): the SR model upscales by it; where the command makes LR images, LR = HR downscaled by it",
        4,
        {"type": OptionType("scale", check_scale), "metavar": "N"},
    ),
    "tile": Option(
        ("--tile",),
        "SR tile size in LR pixels: a number, 'auto' (the largest that fits the memory budget) or 'none' (whole image)",
        "auto",
        {"type": OptionType("tile", check_tile), "metavar": "SIZE"},
    ),
    "overlap": Option(
        ("--overlap",),
        "tile overlap in LR pixels (default: the model card's, which makes tiling exact)",
        None,
        {"type": OptionType("overlap", check_overlap), "metavar": "PX"},
    ),
    "max_memory": Option(
        ("--max-memory",),
        "memory budget of the SR tiles such as 1.5GB (default: a fraction of the free memory)",
        None,
        {"type": OptionType("memory size", check_max_memory), "metavar": "SIZE"},
    ),
    "device": Option(
        ("--device",),
        "torch device: cpu, cuda, cuda:N or N (= cuda:N) (default: cuda when available, else cpu; under torchrun "
        "cuda:LOCAL_RANK)",
        None,
        {"type": OptionType("device", device_arg)},
    ),
    "threads": Option(
        ("--threads",),
        "torch CPU threads per process (default: torch's choice, ultralytics' for training; under torchrun cores / "
        "processes per node)",
        None,
        {"type": OptionType("threads", check_threads), "metavar": "N"},
    ),
    "seed": Option(
        ("--seed",),
        "seed of the command's random numbers: LR noise (a function of the seed and the pixels), bootstrap resamples, training",
        0,
        {"type": OptionType("seed", check_seed), "metavar": "N"},
    ),
    "overwrite": Option(
        ("--overwrite",),
        "replace what an earlier run left in the output instead of refusing it (a rerun with the same settings "
        "resumes where the command can)",
        False,
        {"action": Switch},
    ),
    "quiet": Option(("--quiet",), "no progress output", False, {"action": Switch}),
    "pretrained": Option(
        ("--pretrained",),
        "the zoo model's pretrained weights; --no-pretrained: random weights (testing only)",
        True,
        {"action": Switch},
    ),
    "backend": Option(
        ("--backend",),
        "what runs the SR networks: eager torch, or compiled for the CPU by OpenVINO / ONNX Runtime (converted once, "
        "cached; needs the 'export' extra)",
        "torch",
        {"choices": BACKENDS},
    ),
    "precision": Option(
        ("--precision",),
        "precision of a compiled backend: fp32 equals torch within ~1e-5; bf16/fp16 (openvino, where the CPU has them) "
        "are faster but differ by grey levels",
        "fp32",
        {"choices": PRECISIONS},
    ),
}


def add_option(parser: argparse.ArgumentParser, name: str, *, default: Any = ..., **kwargs: Any) -> argparse.Action:
    """Add the shared option ``name`` (a key of :data:`OPTIONS`) to ``parser``: its flags, help and validator;
    ``default`` (and e.g. ``required``) may differ per command, the help text never does."""
    opt = OPTIONS[name]
    kw: dict[str, Any] = {**opt.kwargs, **kwargs}
    if not kw.get("required"):
        kw["default"] = opt.default if default is ... else default
    return parser.add_argument(*opt.flags, dest=name, help=opt.help, **kw)


def add_options(parser: argparse.ArgumentParser, *names: str) -> None:
    """:func:`add_option` for each of ``names``, with their shared defaults."""
    for name in names:
        add_option(parser, name)


def add_switch(parser: argparse.ArgumentParser, flag: str, help: str, *, default: bool = False, dest: str | None = None) -> None:
    """A command's own boolean option, shown like the shared ones: ``--x/--no-x (default: --no-x)``."""
    extra: dict[str, Any] = {} if dest is None else {"dest": dest}
    parser.add_argument(flag, action=Switch, default=default, help=help, **extra)


class DeprecatedAlias(argparse.Action):
    """A deprecated spelling of an option: stores like it (``const`` for a flag without a value), is not shown in
    ``--help``, and says on stderr which spelling replaces it (as Python 3.13's ``deprecated=True`` does)."""

    def __init__(self, option_strings: Sequence[str], dest: str, *, replaced_by: str, **kwargs: Any):
        kwargs.setdefault("default", argparse.SUPPRESS)  # the real option's default stands
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)
        self.replaced_by = replaced_by

    def warn(self, parser: argparse.ArgumentParser, option_string: str | None) -> None:
        print(f"{parser.prog}: warning: option '{option_string}' is deprecated; use {self.replaced_by}", file=sys.stderr)

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: str | None = None) -> None:
        self.warn(parser, option_string)
        setattr(namespace, self.dest, self.const if self.nargs == 0 else values)


def add_hidden_alias(
    parser: argparse.ArgumentParser, flag: str, dest: str, *, replaced_by: str, const: Any = ..., **kwargs: Any
) -> None:
    """Add ``flag`` as a :class:`DeprecatedAlias` of ``dest``: a flag storing ``const`` when given, else an option
    taking a value (``type=`` etc. in ``kwargs``)."""
    if const is not ...:
        kwargs.update(nargs=0, const=const)
    parser.add_argument(flag, dest=dest, action=DeprecatedAlias, replaced_by=replaced_by, **kwargs)


# ----------------------------------------------------------------------------------------------- degradation


def add_degradation_args(parser: argparse.ArgumentParser, *, seed: bool = False) -> None:
    """``--degradation PRESET``, ``--blur-sigma``, ``--noise-std``, ``--jpeg-quality`` (and the shared ``--seed`` if
    asked): the options of every command that degrades, read by :func:`degradation_from_args`. The three numbers,
    when given, replace the preset's values. ``--blur``, ``--noise`` and ``--jpeg`` are hidden aliases."""
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
        add_option(parser, "seed")


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

"""The options every ``sr4det`` command shares, declared once (:data:`OPTIONS`: flags, one help text, default) with
one validator per option type (:func:`check_scale`, :func:`check_tile`, :func:`check_overlap`, :func:`check_max_memory`,
:func:`check_threads`, :func:`check_seed`, :func:`check_device`; ``--backend``/``--precision`` take the SR runtimes
of :mod:`._runtime_choices`). Subcommands (:mod:`sr4det.commands`) and
:meth:`sr4det.evaluation.config.CompareConfig.add_arguments` add them with :func:`add_option`; argparse calls the
validator as the option's ``type`` (the ``sr4det`` parser lets its typed error through: the same failure, before any
work, in every command) and config objects call it for values from YAML or Python. Booleans are :class:`Switch`
options, shown as ``--x/--no-x (default: --x)``. Private: the public way in is the ``sr4det`` command or ``CompareConfig``.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._runtime_choices import BACKENDS, PRECISIONS
from .errors import InputError, ScaleError

if TYPE_CHECKING:
    from .degradation import DegradationSpec


# ----------------------------------------------------------------------------------------------- validators


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

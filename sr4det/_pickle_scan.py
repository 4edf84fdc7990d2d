"""Scan a pickle-based checkpoint (a YOLO ``.pt``) before anything unpickles it: no code runs from a file.

ultralytics loads ``.pt`` detectors with ``torch.load(weights_only=False)``, i.e. a full unpickle that can call any
importable function (``os.system``, ``builtins.exec`` ...). :func:`check_pickle` reads the pickle opcodes without
executing them (:mod:`pickletools`) and collects every global the file would import; each must be on the allow-list
of what ultralytics and torch checkpoints use:

* ``torch.nn.Module`` subclasses defined in ``torch.nn.modules.*``, ``ultralytics.nn.modules.*`` and
  ``ultralytics.nn.tasks`` (the network's layers; resolved by importing those known modules, never from the file);
* the tensor, storage, dtype and container constructors in :data:`ALLOWED` (the set ``torch.save`` writes, numpy
  scalars and arrays, ``OrderedDict``, ``set``, ``SimpleNamespace``-like argument records, paths and dates).

Anything else (and a file whose opcodes cannot be read) raises :class:`~sr4det.errors.UnsafePickleError` naming
the globals and how to load a trusted file anyway (``trust=True``, ``SR4DET_TRUST_PICKLE=1`` or
``sr4det --trust-pickle``). Exported formats (OpenVINO, ONNX) are not pickles and need no scan.
"""

from __future__ import annotations

import importlib
import io
import os
import pickletools
import zipfile
from pathlib import Path

from .errors import UnsafePickleError

#: environment variable that turns the scan off for trusted files (``sr4det --trust-pickle`` sets it)
TRUST_ENV = "SR4DET_TRUST_PICKLE"

_STORAGES = {
    f"{kind}Storage"
    for kind in ("Float", "Half", "BFloat16", "Double", "Long", "Int", "Short", "Char", "Byte", "Bool", "ComplexFloat")
}
#: exact (module, name) globals allowed besides the network's layer classes
ALLOWED: frozenset[tuple[str, str]] = frozenset(
    {("torch", s) for s in _STORAGES}
    | {("torch._utils", f) for f in ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter")}
    | {("torch._utils", f) for f in ("_rebuild_parameter_with_state", "_rebuild_device_tensor_from_numpy")}
    | {("torch", n) for n in ("Size", "device", "dtype", "float32", "float16", "bfloat16", "float64", "int64", "uint8")}
    | {("torch", n) for n in ("int32", "bool")}
    | {("collections", "OrderedDict"), ("collections", "defaultdict")}
    | {(b, n) for b in ("builtins", "__builtin__") for n in ("set", "frozenset", "slice", "complex", "bytearray")}
    | {("types", "SimpleNamespace"), ("argparse", "Namespace"), ("ultralytics.utils", "IterableSimpleNamespace")}
    | {("pathlib", n) for n in ("Path", "PosixPath", "WindowsPath", "PurePosixPath", "PureWindowsPath")}
    | {("datetime", "datetime"), ("datetime", "date"), ("datetime", "timedelta"), ("datetime", "timezone")}
    | {(m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray") for n in ("_reconstruct", "scalar")}
    | {("numpy", "ndarray"), ("numpy", "dtype")}
    | {("numpy.dtypes", n) for n in ("Float64DType", "Float32DType", "Int64DType", "Int32DType", "Float16DType")}
)
#: modules whose torch.nn.Module subclasses are allowed (the layers of an ultralytics network)
LAYER_MODULES = ("torch.nn.modules.", "ultralytics.nn.modules.", "ultralytics.nn.tasks")

_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8", "SHORT_BINSTRING", "BINSTRING", "STRING"}


def _globals(data: bytes) -> set[tuple[str, str]]:
    """Every (module, name) a pickle imports, read from its opcodes without executing them (memoised strings are
    followed for ``STACK_GLOBAL``)."""
    found: set[tuple[str, str]] = set()
    memo: dict[int, object] = {}
    stack: list[object] = []  # only the strings matter; other pushes are placeholders
    for op, arg, _pos in pickletools.genops(io.BytesIO(data)):
        name = op.name
        if name in ("GLOBAL", "INST"):
            module, _, attr = str(arg).partition(" ")
            found.add((module, attr))
            stack.append(None)
        elif name in _STRING_OPS:
            stack.append(arg if isinstance(arg, str) else arg.decode("latin-1") if isinstance(arg, bytes) else arg)
        elif name == "STACK_GLOBAL":
            top = (stack[-2], stack[-1]) if len(stack) >= 2 else (None, None)
            if isinstance(top[0], str) and isinstance(top[1], str):
                found.add((top[0], top[1]))
            else:
                found.add(("<computed>", "<computed>"))  # not two plain strings: cannot be checked, so refused
            del stack[-2:]
            stack.append(None)
        elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[int(arg or 0)] = stack[-1] if stack else None
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1] if stack else None
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            stack.append(memo.get(int(arg or 0)))
        elif name not in ("FRAME", "PROTO", "STOP", "MARK", "POP", "POP_MARK"):  # these push no value
            stack.append(None)
            del stack[:-64]  # bounded: STACK_GLOBAL uses the two topmost entries only
    return found


def _pickles(path: Path) -> list[tuple[str, bytes]] | None:
    """The pickle streams of a torch zip checkpoint (``*/data.pkl`` and any other ``.pkl``); None for any other
    format (torch's legacy format, a bare pickle, garbage), which is not scanned and so refused."""
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as z:
        return [(n, z.read(n)) for n in z.namelist() if n.endswith(".pkl")]


def _allowed(module: str, name: str) -> bool:
    if (module, name) in ALLOWED:
        return True
    if not any(module == m.rstrip(".") or module.startswith(m) for m in LAYER_MODULES):
        return False
    try:
        obj = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return False
    import torch

    return isinstance(obj, type) and issubclass(obj, torch.nn.Module)


def unsafe_globals(path: str | Path) -> list[str]:
    """The globals of the pickle(s) in ``path`` that are not on the allow-list, as ``module.name`` (empty: safe)."""
    path = Path(path)
    streams = _pickles(path)
    if streams is None:
        return ["<not a torch zip checkpoint (legacy torch format, a bare pickle, or not a checkpoint): not scanned>"]
    bad: set[str] = set()
    for part, data in streams:
        try:
            found = _globals(data)
        except Exception as exc:  # noqa: BLE001 - any parse failure means the file cannot be vouched for
            bad.add(f"<unreadable pickle {part}: {type(exc).__name__}>")
            continue
        bad |= {f"{m}.{n}" for m, n in found if not _allowed(m, n)}
    return sorted(bad)


def check_pickle(path: str | Path, *, trust: bool = False, what: str = "detector") -> None:
    """Refuse (:class:`UnsafePickleError`) a pickle checkpoint that imports anything off the allow-list, unless
    ``trust`` or ``SR4DET_TRUST_PICKLE=1``; see the module docstring."""
    if trust or os.environ.get(TRUST_ENV, "").strip().lower() in ("1", "true", "yes"):
        return
    trusting = f"trust_pickle=True, {TRUST_ENV}=1 or `sr4det --trust-pickle ...`"
    try:
        is_zip = zipfile.is_zipfile(path)
    except OSError:
        is_zip = False
    if not is_zip:
        raise UnsafePickleError(
            f"{what} {path} is not an ultralytics detection checkpoint: not a torch zip archive (a legacy torch file, a "
            "bare pickle or no checkpoint at all), which sr4det does not let ultralytics unpickle unchecked; pass a YOLO "
            f".pt written by ultralytics or sr4det, or an OpenVINO/ONNX export (if you trust the file: {trusting})"
        )
    try:
        bad = unsafe_globals(path)
    except (OSError, zipfile.BadZipFile) as exc:
        bad = [f"<unreadable file: {exc}>"]
    if bad:
        shown = ", ".join(bad[:8]) + (f" and {len(bad) - 8} more" if len(bad) > 8 else "")
        raise UnsafePickleError(
            f"{what} {path}: this YOLO .pt is a pickle that would import {shown} when loaded, which ultralytics and "
            "torch checkpoints never do (loading it could run code from the file). If you trust this file, load it "
            f"anyway with {trusting}; better, use an OpenVINO or ONNX export"
        )

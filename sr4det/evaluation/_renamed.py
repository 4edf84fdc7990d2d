"""Old spellings of compare's options, kept working with a :class:`FutureWarning` that names the new one.

One word, one meaning: ``backend``/``precision`` (``--backend``/``--precision``) are the SR runtime in every command
and in :class:`~.config.CompareConfig`, :func:`~.api.compare` and the YAML configs; the COCO metrics implementation is
``coco_eval`` (``--coco-eval``). Before, compare called the SR runtime ``sr_runtime``/``sr_precision`` and the COCO
implementation ``backend``. The two value sets are disjoint, so ``backend="faster-coco-eval"`` is routed by its value.
results.json is an on-disk format and keeps its keys: ``config.backend`` is still the COCO implementation there.
On the command line :class:`BackendOption` routes ``--backend faster-coco-eval``, and ``--sr-runtime``/
``--sr-precision`` are hidden aliases (:meth:`~.config.CompareConfig.add_arguments`); both say the new spelling.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Any

from ..errors import InputError
from .coco import BACKENDS as COCO_EVALS

#: an old keyword (YAML key) -> the option it now is
RENAMED = {"sr_runtime": "backend", "sr_precision": "precision"}
_DEFAULTS = {"backend": "torch", "precision": "fp32"}


def _warn(text: str, stacklevel: int) -> None:
    warnings.warn(text, FutureWarning, stacklevel=stacklevel + 1)


def renamed_options(
    backend: str,
    precision: str,
    coco_eval: str,
    *,
    sr_runtime: str | None = None,
    sr_precision: str | None = None,
    stacklevel: int = 3,
) -> tuple[str, str, str]:
    """``(backend, precision, coco_eval)`` with the old spellings moved to their new names, each with a warning:
    ``backend`` set to a COCO implementation (``"pycocotools"``, ``"faster-coco-eval"``) becomes ``coco_eval``
    (the SR runtime then stays ``"torch"``), ``sr_runtime``/``sr_precision`` become ``backend``/``precision``. An old
    and a new spelling that disagree are an :class:`InputError`. ``stacklevel``: the warning's, from the caller."""
    if backend in COCO_EVALS:
        _warn(
            f"backend={backend!r} is deprecated for the COCO metrics implementation: use coco_eval={backend!r} "
            "(YAML `coco_eval:`, CLI --coco-eval); backend is the SR runtime ('torch', 'openvino', 'onnxruntime') now",
            stacklevel,
        )
        if coco_eval not in ("pycocotools", backend):
            raise InputError(f"backend={backend!r} (the old spelling of coco_eval) and coco_eval={coco_eval!r} disagree")
        backend, coco_eval = "torch", backend
    runtime = {"backend": backend, "precision": precision}
    for old, value in (("sr_runtime", sr_runtime), ("sr_precision", sr_precision)):
        if value is None:
            continue
        new = RENAMED[old]
        _warn(f"{old} is deprecated: use {new}={value!r} (YAML `{new}:`, CLI --{new})", stacklevel)
        if runtime[new] not in (value, _DEFAULTS[new]):
            raise InputError(f"{old}={value!r} and {new}={runtime[new]!r} disagree; give only {new}")
        runtime[new] = value
    return runtime["backend"], runtime["precision"], coco_eval


class RuntimeChoices(tuple[str, ...]):
    """compare's ``--backend`` choices: the SR runtimes (all that ``--help`` and errors list), and the COCO
    implementations it named before (accepted, see :class:`BackendOption`)."""

    def __contains__(self, value: object) -> bool:
        return super().__contains__(value) or value in COCO_EVALS


class BackendOption(argparse.Action):
    """compare's ``--backend``: the SR runtime; a COCO implementation (what ``--backend`` meant here before; the value
    sets are disjoint) is stored as ``--coco-eval`` with a warning on stderr, as deprecated options say it."""

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: str | None = None) -> None:
        if values in COCO_EVALS:
            print(
                f"{parser.prog}: warning: '--backend {values}' is deprecated; use --coco-eval {values} "
                "(--backend is the SR runtime now, as in every command)",
                file=sys.stderr,
            )
            namespace.coco_eval = values
        else:
            namespace.backend = values

"""``Settings``: the frozen settings value of one comparison, the one thing besides explicit state (ground truth,
detectors, conditions, cache, process group) that flows from :func:`~sr4det.evaluation.compare` (built from its
arguments, or by :meth:`~.config.CompareConfig.settings` from the options of the CLI and YAML) into
:class:`~.runner.Comparison` and the modules below it (:mod:`.shard`, :mod:`.examples`, :mod:`._records`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._suggest import did_you_mean
from ..errors import InputError
from .conditions import Degradation


@dataclass(frozen=True)
class Settings:
    """How a comparison runs (see :func:`~sr4det.evaluation.compare` for each field's meaning).

    ``degradation`` is the LR maker (its ``scale`` must be ``scale``); ``coco_eval`` the COCO metrics implementation
    (results.json's ``config.backend``); ``n_resamples``/``seed``/``confidence`` are the paired bootstrap's; ``tile``
    goes to :func:`sr4det.tiling.upscale`; ``device`` is the requested SR device (None: the libraries' choice);
    ``extra_config`` adds entries to results.json's ``config``; ``pairs``: the pre-declared head-to-head
    comparisons ``(A, B)`` of two conditions (:func:`parse_pairs`; given as ``"A:B"`` texts or pairs, stored as a
    tuple of pairs).
    """

    scale: int
    degradation: Degradation
    coco_eval: str = "pycocotools"
    n_resamples: int = 1000
    seed: int = 0
    confidence: float = 0.95
    tile: str | int | None = "auto"
    device: Any = None
    limit: int | None = None
    progress: bool = True
    extra_config: Mapping[str, Any] | None = None
    mos: str | Path | None = None
    save_images: str | Path | None = None
    max_dets: int = 100
    pairs: tuple[tuple[str, str], ...] = ()
    #: :meth:`~sr4det.degradation.DegradationSpec.key` of ``degradation`` (part of every LR cache key)
    deg_key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.degradation.scale != self.scale:
            raise InputError(f"degradation scale {self.degradation.scale} differs from scale {self.scale}")
        if self.n_resamples < 0:
            raise InputError(f"n_resamples must be >= 0, got {self.n_resamples}")
        object.__setattr__(self, "deg_key", self.degradation.key())
        object.__setattr__(self, "pairs", parse_pairs(self.pairs))


def parse_pairs(
    value: str | Iterable[str | Sequence[str]] | None, names: Sequence[str] | None = None
) -> tuple[tuple[str, str], ...]:
    """Head-to-head pairs ``(A, B)`` ("does A beat B on the same images?") from ``"A:B"`` texts (one text may hold
    several, comma-separated: ``"a:b,c:d"``), ``(A, B)`` pairs, or a list of either; None: no pairs.

    ``names``: the conditions of the run; a pair naming another one is an :class:`InputError` listing them. A pair
    of one condition with itself, a repeated pair and a text that is not ``A:B`` are refused too.
    """
    if value is None:
        return ()
    items: list = [value] if isinstance(value, str) else list(value)
    out: list[tuple[str, str]] = []
    for item in items:
        if isinstance(item, str):
            texts = [t.strip() for t in item.split(",") if t.strip()]
            parts = [tuple(p.strip() for p in t.split(":")) for t in texts]
        elif isinstance(item, Sequence) and len(item) == 2 and all(isinstance(p, str) for p in item):
            parts = [tuple(p.strip() for p in item)]
        else:
            raise InputError(f"pairs: {item!r} is not a pair; write A:B (condition A against condition B), e.g. rfdn_det:bicubic")
        for pair in parts:
            if len(pair) != 2 or not all(pair):
                raise InputError(
                    f"pairs: {':'.join(pair)!r} is not A:B (two condition names and one ':'), e.g. rfdn_real:RealESRGAN-compact"
                )
            if pair[0] == pair[1]:
                raise InputError(f"pairs: {pair[0]}:{pair[1]} compares a condition with itself; name two conditions")
            if pair in out:
                raise InputError(f"pairs: {pair[0]}:{pair[1]} is given twice; give each pair once")
            out.append((pair[0], pair[1]))
    if names is not None:
        for pair in out:
            for name in pair:
                if name not in names:
                    raise InputError(
                        f"pairs: {pair[0]}:{pair[1]} names {name!r}, which is not a condition of this comparison"
                        f"{did_you_mean(name, names)}; the conditions are: {', '.join(names)}"
                    )
    return tuple(out)


def pair_texts(value: Any, names: Sequence[str] | None) -> list[str] | None:
    """``pairs`` as ``"A:B"`` texts, None for none (:func:`parse_pairs`; ``names`` repeated are counted once)."""
    return [f"{a}:{b}" for a, b in parse_pairs(value, None if names is None else list(dict.fromkeys(names)))] or None

"""``Settings``: the frozen settings value of one comparison, the one thing besides explicit state (ground truth,
detectors, conditions, cache, process group) that flows from :func:`~sr4det.evaluation.compare` (built from its
arguments, or by :meth:`~.config.CompareConfig.settings` from the options of the CLI and YAML) into
:class:`~.runner.Comparison` and the modules below it (:mod:`.shard`, :mod:`.examples`, :mod:`._records`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from .conditions import Degradation


@dataclass(frozen=True)
class Settings:
    """How a comparison runs (see :func:`~sr4det.evaluation.compare` for each field's meaning).

    ``degradation`` is the LR maker (its ``scale`` must be ``scale``); ``coco_eval`` the COCO metrics implementation
    (results.json's ``config.backend``); ``n_resamples``/``seed``/``confidence`` are the paired bootstrap's; ``tile``
    goes to :func:`sr4det.tiling.upscale`; ``device`` is the requested SR device (None: the libraries' choice);
    ``extra_config`` adds entries to results.json's ``config``.
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
    #: :meth:`~sr4det.degradation.DegradationSpec.key` of ``degradation`` (part of every LR cache key)
    deg_key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.degradation.scale != self.scale:
            raise InputError(f"degradation scale {self.degradation.scale} differs from scale {self.scale}")
        if self.n_resamples < 0:
            raise InputError(f"n_resamples must be >= 0, got {self.n_resamples}")
        object.__setattr__(self, "deg_key", self.degradation.key())

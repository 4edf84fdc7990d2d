"""The typed result of :func:`sr4det.evaluation.compare`; :meth:`CompareResult.to_json` is ``results.json``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._files import atomic_write

#: v2 (conditions with their own detector) adds ``conditions.<name>.detector`` (the label of the detector that
#: scored the condition, ``main`` for the run's ``--detector``) and ``config.detectors`` (label -> ``type``, ``path``,
#: ``weights_sha256``, ``settings``, ``cache_identity``, ``conditions``); everything of v1 is unchanged.
SCHEMA = "sr4det-compare-v2"


@dataclass
class CompareResult:
    """Everything a comparison measured; the field order is the key order of ``results.json`` (schema v2, see
    :data:`SCHEMA`).

    ``conditions``: name -> metrics (COCO AP/AR, PSNR/SSIM, cost, cache hits); ``deltas``: ``vs_bicubic`` /
    ``vs_lr`` -> condition -> AP/AP50 delta with paired-bootstrap CI, its standard error, the smallest difference
    the images resolve and the images an effect that size would need (``se``, ``resolvable``,
    ``n_images_needed``), its bootstrap p-value and, over the family of SR conditions sharing the baseline, the
    Holm-adjusted p-value and Bonferroni interval (``p``, ``p_holm``, ``family_size``, ``ci_low_family``,
    ``ci_high_family``), and PSNR delta (``vs_same_input``: each
    ``X@LABEL`` condition against ``X`` through the main detector, with its ``reference``); ``per_class``: category id
    -> AP per condition and delta vs bicubic; ``config``/``dataset``/``versions``/``machine``: provenance.
    """

    conditions: dict[str, dict[str, Any]]
    deltas: dict[str, dict[str, Any]]
    per_class: dict[str, dict[str, Any]]
    skipped_images: list[dict[str, Any]]
    dataset: dict[str, Any]
    config: dict[str, Any]
    mos: dict[str, Any] | None = None
    versions: dict[str, str] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)
    schema: str = SCHEMA

    @property
    def n_images(self) -> int:
        return int(self.dataset["n_images"])

    @property
    def n_skipped(self) -> int:
        return len(self.skipped_images)

    def to_json(self) -> dict[str, Any]:
        """The ``results.json`` dict (plain JSON types, schema ``sr4det-compare-v2``)."""
        return {
            "schema": self.schema,
            "conditions": self.conditions,
            "deltas": self.deltas,
            "per_class": self.per_class,
            "skipped_images": self.skipped_images,
            "n_images": self.n_images,
            "n_skipped": self.n_skipped,
            "dataset": self.dataset,
            "config": self.config,
            "mos": self.mos,
            "versions": self.versions,
            "machine": self.machine,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CompareResult:
        """Read a ``results.json`` dict back (``n_images``/``n_skipped`` are derived)."""
        return cls(
            conditions=data["conditions"],
            deltas=data["deltas"],
            per_class=data["per_class"],
            skipped_images=data["skipped_images"],
            dataset=data["dataset"],
            config=data["config"],
            mos=data.get("mos"),
            versions=data.get("versions", {}),
            machine=data.get("machine", {}),
            schema=data.get("schema", SCHEMA),
        )

    def write(self, out_dir: str | Path) -> Path:
        """Write ``results.json`` to ``out_dir`` (``report.md`` and the plots: :func:`~.report.write_report`);
        returns its path."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        return atomic_write(out / "results.json", json.dumps(self.to_json(), indent=2, sort_keys=False))

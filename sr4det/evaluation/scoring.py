"""Scoring the conditions: COCO metrics and bootstrap resamples per condition, the paired deltas between conditions
(with their bootstrap intervals and the share of the HR gap recovered) and the per-class AP table.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data.datasets import GroundTruth
from . import bootstrap, coco, multiplicity

if TYPE_CHECKING:
    from .shard import ConditionRun

_BASELINES = ("bicubic", "lr", "native")  # "native": native-resolution mode (evaluation/native.py)
#: compared with a baseline but not a claim about SR: the upper bound and the baselines themselves
_NOT_IN_FAMILY = ("hr", *_BASELINES)


#: below this many images a bootstrap over images has too few distinct resamples to mean anything (with 1 image every
#: resample is that image: a zero-width interval that calls any difference "significant"; 2, 3, 4 images give 3, 10,
#: 35 distinct resamples); no interval is reported
MIN_BOOTSTRAP_IMAGES = 5


def bootstrap_possible(n_images: int) -> bool:
    return n_images >= MIN_BOOTSTRAP_IMAGES


def bootstrap_note(n_images: int) -> str:
    return (
        f"no confidence intervals or p-values: {n_images} image(s) evaluated, fewer than the {MIN_BOOTSTRAP_IMAGES} a "
        "bootstrap over images needs (it would report zero-width intervals and call any difference significant); "
        "evaluate more images (--limit) for intervals"
    )


@dataclass
class _Scored:
    """One condition's COCO evaluation (matches dropped) and its bootstrap AP/AP50 per resample (None: no bootstrap)."""

    coco: coco.CocoResult
    boot: dict[str, np.ndarray] | None


def prepare(gt: GroundTruth, valid_ids: list[int], n_resamples: int, seed: int) -> tuple[dict[str, Any], np.ndarray | None]:
    """The COCO ground truth of the readable images and the bootstrap resample weights ((B, n_images) or None: no
    bootstrap, with a warning when there are too few images for one) that every condition is scored with."""
    gt_coco = gt.subset(valid_ids).to_coco()
    if n_resamples > 0 and not bootstrap_possible(len(valid_ids)):
        warnings.warn(bootstrap_note(len(valid_ids)), stacklevel=4)
        n_resamples = 0
    weights = bootstrap.bootstrap_weights(len(valid_ids), n_resamples, seed) if n_resamples > 0 else None
    return gt_coco, weights


def score_one(
    gt_coco: dict[str, Any], results: list[dict], *, coco_eval: str, weights: np.ndarray | None, max_dets: int = 100
) -> _Scored:
    """One condition's COCO metrics (``results`` against ``gt_coco``, both from :func:`prepare`) and its AP/AP50
    under each bootstrap resample of ``weights``. A pure function: the same inputs give the same floats in any
    process (:mod:`._scoring_process` runs it beside the inference)."""
    ev = coco.evaluate(gt_coco, results, backend=coco_eval, keep_matches=weights is not None, max_dets=max_dets)
    boot = None
    if weights is not None:
        assert ev.matches is not None  # kept because keep_matches=True
        boot = bootstrap.bootstrap_ap({"run": ev.matches}, weights)["run"]
        ev.matches = None  # large, and not needed once resampled
    return _Scored(ev, boot)


def score(
    gt: GroundTruth,
    valid_ids: list[int],
    runs: Sequence[ConditionRun],
    *,
    coco_eval: str,
    n_resamples: int,
    seed: int,
    progress: bool,
    max_dets: int = 100,
) -> dict[str, _Scored]:
    """COCO metrics and the bootstrap resamples of each of ``runs`` (independent per condition: sharded runs
    split the conditions over the ranks). Every rank draws the same resample weights (seeded), so the
    resamples stay paired across conditions whichever rank scored them."""
    from .._progress import tqdm

    gt_coco, weights = prepare(gt, valid_ids, n_resamples, seed)
    return {
        run.name: score_one(gt_coco, run.results, coco_eval=coco_eval, weights=weights, max_dets=max_dets)
        for run in tqdm(runs, desc="COCO eval + bootstrap", disable=not progress, leave=False)
    }


def deltas(
    runs, evals, conditions_out, boot, confidence: float, n_images: int, pairs: Sequence[tuple[str, str]] = ()
) -> dict[str, dict[str, Any]]:
    """Every condition against each baseline (``vs_bicubic``, ``vs_lr``) and against the same input through the
    main detector (``vs_same_input``): see :func:`paired`, plus the PSNR delta and the share of the HR gap, and for
    the family of each baseline the multiplicity-adjusted fields of :func:`_adjust_family`; and each pre-declared
    head-to-head pair ``(A, B)`` of ``pairs`` under ``"pairs"`` (:func:`head_to_head`; no entry without pairs)."""
    deltas: dict[str, dict[str, Any]] = {}
    for base in _BASELINES:
        if base not in evals:
            continue
        for run in runs:
            if run.name == base:
                continue
            entry = paired(run.name, base, evals, boot, confidence, n_images)
            entry["psnr"] = _diff(conditions_out[run.name]["psnr"], conditions_out[base]["psnr"])
            if "hr" in evals and run.name != "hr":
                entry["AP_gap_recovered"] = gap_recovered(run.name, base, evals, boot, confidence)
            deltas.setdefault(f"vs_{base}", {})[run.name] = entry
        if f"vs_{base}" in deltas:
            _adjust_family(deltas[f"vs_{base}"], base, boot, confidence)
    # an input scored by its own detector (``X@LABEL``) against the same input through the main detector (``X``):
    # what swapping the detector buys, paired over the same images
    for run in runs:
        same = run.name.split("@", 1)[0]
        if same != run.name and same in evals:
            deltas.setdefault("vs_same_input", {})[run.name] = {
                "reference": same,
                **paired(run.name, same, evals, boot, confidence, n_images),
            }
    if pairs:
        deltas["pairs"] = head_to_head(pairs, evals, conditions_out, boot, confidence, n_images)
    return deltas


def head_to_head(
    pairs: Sequence[tuple[str, str]], evals, conditions_out, boot, confidence: float, n_images: int
) -> dict[str, dict[str, Any]]:
    """``"A:B"`` -> ``{"reference": B, "AP": ..., "AP50": ..., "psnr": ΔPSNR}`` for each pair ``(A, B)``: A minus B
    over the same images (:func:`paired`), and over the pairs as one family (they are the run's pre-declared
    claims "A beats B") ``family_size``, ``p_holm`` (Holm-adjusted ``p``) and ``ci_low_family``/``ci_high_family``
    (Bonferroni level, simultaneous over the pairs); those are None without a bootstrap."""
    out: dict[str, dict[str, Any]] = {}
    for a, b in pairs:
        entry = {"reference": b, **paired(a, b, evals, boot, confidence, n_images)}
        entry["psnr"] = _diff(conditions_out[a]["psnr"], conditions_out[b]["psnr"])
        out[f"{a}:{b}"] = entry
    level = multiplicity.bonferroni_level(confidence, len(pairs)) if pairs else None
    for key in ("AP", "AP50"):
        adjusted = multiplicity.holm({k: e[key]["p"] for k, e in out.items()})
        for (a, b), (name, entry) in zip(pairs, out.items(), strict=True):
            d = entry[key]
            d.update(family_size=None, p_holm=None, ci_low_family=None, ci_high_family=None)
            if d["p"] is None or level is None:
                continue
            lo, hi = bootstrap.paired_delta_ci(boot[a][key], boot[b][key], level, estimate=d["delta"])
            d.update(family_size=len(pairs), p_holm=adjusted[name], ci_low_family=_finite(lo), ci_high_family=_finite(hi))
    return out


def paired(name: str, base: str, evals, boot, confidence: float, n_images: int) -> dict[str, Any]:
    """AP and AP50 of ``name`` minus ``base``, each with its paired-bootstrap interval, resolution (``se``,
    ``resolvable``, ``n_images_needed``: see :class:`.bootstrap.DeltaResolution`) and two-sided bootstrap p-value
    (``p``, :func:`.multiplicity.bootstrap_p_value`); None where there is no bootstrap."""
    entry: dict[str, Any] = {}
    for key in ("AP", "AP50"):
        a, b = evals[name].metrics[key], evals[base].metrics[key]
        d = {"delta": None if a is None or b is None else a - b, "ci_low": None, "ci_high": None}
        d.update(se=None, resolvable=None, n_images_needed=None, p=None)
        if boot:
            d["p"] = multiplicity.bootstrap_p_value(boot[name][key], boot[base][key])
            lo, hi = bootstrap.paired_delta_ci(boot[name][key], boot[base][key], confidence, estimate=d["delta"])
            d["ci_low"], d["ci_high"] = _finite(lo), _finite(hi)
            res = bootstrap.delta_resolution(boot[name][key], boot[base][key], n_images, confidence, estimate=d["delta"])
            if res is not None:
                d.update(se=res.se, resolvable=res.resolvable, n_images_needed=res.n_images_needed)
        entry[key] = d
    return entry


def _adjust_family(entries: dict[str, dict[str, Any]], base: str, boot, confidence: float) -> None:
    """Add, in place, to each ΔAP/ΔAP50 entry against ``base``: ``family_size`` (m, the conditions compared with
    ``base`` other than ``hr`` and the baselines, through any detector: the claims "this SR beats ``base``"), ``p_holm`` (Holm-adjusted
    ``p`` over that family) and ``ci_low_family``/``ci_high_family`` (the interval at the Bonferroni level
    ``1 - (1 - confidence) / m``, simultaneous over the family). None for entries outside the family, or without
    a bootstrap."""
    family = [n for n in entries if n.split("@", 1)[0] not in _NOT_IN_FAMILY]  # hr@LABEL is no SR claim either
    for key in ("AP", "AP50"):
        adjusted = multiplicity.holm({n: entries[n][key]["p"] for n in family})
        level = multiplicity.bonferroni_level(confidence, len(family)) if family else None
        for name, entry in entries.items():
            d = entry[key]
            d.update(family_size=None, p_holm=None, ci_low_family=None, ci_high_family=None)
            if name not in family or d["p"] is None or level is None:
                continue
            lo, hi = bootstrap.paired_delta_ci(boot[name][key], boot[base][key], level, estimate=d["delta"])
            d.update(family_size=len(family), p_holm=adjusted[name], ci_low_family=_finite(lo), ci_high_family=_finite(hi))


def gap_recovered(name: str, base: str, evals, boot, confidence: float) -> dict[str, Any]:
    """The share of the ``base`` -> ``hr`` AP gap that ``name`` recovers, with its paired-bootstrap interval.

    None (n/a) when HR is not better than ``base`` (no gap to recover)."""
    a, b, top = (evals[k].metrics["AP"] for k in (name, base, "hr"))
    out: dict[str, Any] = {"estimate": None, "ci_low": None, "ci_high": None, "gap": _diff(top, b)}
    if a is None or b is None or top is None or top - b <= 0:
        return out
    out["estimate"] = (a - b) / (top - b)
    if boot:
        lo, hi = bootstrap.gap_fraction_ci(
            boot[name]["AP"], boot[base]["AP"], boot["hr"]["AP"], confidence, estimate=out["estimate"]
        )
        out["ci_low"], out["ci_high"] = _finite(lo), _finite(hi)
    return out


def per_class(gt_eval: GroundTruth, evals: dict[str, coco.CocoResult]) -> dict[str, dict[str, Any]]:
    """Per-class AP of every condition and its delta vs bicubic (classes with ground truth only)."""
    per_class = {}
    for cid, cname in sorted(gt_eval.categories.items()):
        row: dict[str, Any] = {
            "name": cname,
            "n_gt": int(sum(int(((im.category_ids == cid) & (im.iscrowd == 0)).sum()) for im in gt_eval.images)),
        }
        if row["n_gt"] == 0:
            continue
        row["AP"] = {n: e.per_class_ap.get(cid) for n, e in evals.items()}
        base = row["AP"].get("bicubic")
        row["delta_vs_bicubic"] = {n: _diff(v, base) for n, v in row["AP"].items() if n != "bicubic"}
        per_class[str(cid)] = row
    return per_class


def _mean(v: list[float]) -> float | None:
    return float(np.mean(v)) if v else None


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def _diff(a, b):
    return None if a is None or b is None else float(a - b)

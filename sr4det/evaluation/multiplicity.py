"""Many comparisons on the same images: bootstrap p-values, Holm's step-down adjustment and Bonferroni levels.

A compare table holds one ΔAP per SR model, all against the same baseline on the same images. Each 95% interval
excludes 0 by chance 5% of the time, so with ten models about one "significant" row is expected even when no model
helps. ``compare`` therefore reports, beside each interval, a paired-bootstrap p-value, its Holm-adjusted value
over the family of models compared with that baseline (family-wise error controlled at the chosen level) and an
interval at the Bonferroni-adjusted level (simultaneous: all family intervals hold together at the level).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def bootstrap_p_value(a: np.ndarray, b: np.ndarray) -> float | None:
    """Two-sided p-value of "``a - b`` is 0" from paired bootstrap resamples (NaN resamples dropped).

    ``a``, ``b``: (B,) statistics of two conditions under the same resamples. The percentile interval of
    :func:`sr4det.evaluation.bootstrap.paired_delta_ci` at level ``L`` excludes 0 exactly when fewer than
    ``(1 - L) / 2`` of the resampled differences lie on one side of 0; this p-value is the smallest ``1 - L``
    at which that happens, with the usual +1 so it is never 0 from finitely many resamples:
    ``min(1, 2 * (min(#{d <= 0}, #{d >= 0}) + 1) / (B + 1))``. None when no resample is finite.
    """
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    d = d[np.isfinite(d)]
    if not len(d):
        return None
    tail = min(int((d <= 0).sum()), int((d >= 0).sum()))
    return float(min(1.0, 2.0 * (tail + 1) / (len(d) + 1)))


def holm(p_values: Mapping[str, float | None]) -> dict[str, float | None]:
    """Holm's step-down adjusted p-values of one family (None entries are not part of it and stay None).

    Sorted ascending, the i-th of m p-values becomes ``max over j <= i of min(1, (m - j + 1) * p_(j))``; rejecting
    where the adjusted value is below alpha controls the family-wise error at alpha (Holm 1979), never less
    powerful than Bonferroni. Ties keep their input order.
    """
    family = [(p, name) for name, p in p_values.items() if p is not None]
    order = sorted(range(len(family)), key=lambda i: family[i][0])
    m = len(family)
    out: dict[str, float | None] = dict.fromkeys(p_values)
    running = 0.0
    for rank, i in enumerate(order):
        p, name = family[i]
        running = max(running, min(1.0, (m - rank) * p))
        out[name] = running
    return out


def bonferroni_level(level: float, m: int) -> float:
    """The per-interval level that keeps ``level`` for all ``m`` intervals together: ``1 - (1 - level) / m``."""
    if m < 1:
        raise ValueError(f"a family has at least one comparison, got m={m}")
    return 1.0 - (1.0 - level) / m

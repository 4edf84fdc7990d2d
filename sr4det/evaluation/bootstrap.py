"""The paired bootstrap over images: resample weights, AP/AP50 of every condition under every resample (from the
per-image matches of :func:`.coco.evaluate`), percentile intervals of paired differences and of the share of the HR
gap recovered, and how many images a difference needs to be resolved (:func:`delta_resolution`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .coco import ImageMatches


def bootstrap_weights(n_images: int, n_resamples: int = 1000, seed: int = 0) -> np.ndarray:
    """(n_resamples, n_images) multiplicities of images drawn with replacement (``numpy.random.default_rng(seed)``)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_images, size=(n_resamples, n_images))
    w = np.zeros((n_resamples, n_images), dtype=np.int64)
    np.add.at(w, (np.arange(n_resamples)[:, None], draws), 1)
    return w


def bootstrap_ap(
    matches: dict[str, ImageMatches], weights: np.ndarray, chunk: int = 50, progress: bool = False
) -> dict[str, dict[str, np.ndarray]]:
    """AP and AP50 of every condition under every resample: ``{name: {"AP": (B,), "AP50": (B,)}}``.

    All conditions use the same ``weights`` rows, which makes the differences *paired*.
    """
    out: dict[str, dict[str, np.ndarray]] = {}
    from .._progress import tqdm

    for name, m in tqdm(matches.items(), desc="bootstrap", disable=not progress, leave=False):
        aps, ap50s = [], []
        for start in range(0, len(weights), chunk):
            a, a50 = m.ap(weights[start : start + chunk])
            aps.append(a)
            ap50s.append(a50)
        out[name] = {"AP": np.concatenate(aps), "AP50": np.concatenate(ap50s)}
    return out


def paired_delta_ci(a: np.ndarray, b: np.ndarray, level: float = 0.95, estimate: float | None = None) -> tuple[float, float]:
    """Percentile interval of ``a - b`` over resamples (NaN resamples dropped).

    ``estimate``: the point estimate the interval belongs to. The interval is widened to contain it: the
    resampled APs are re-accumulated in another order than the headline AP, so with one image (every resample
    identical) a percentile can miss the estimate by rounding (1e-16), which no interval may do.
    """
    d = np.asarray(a) - np.asarray(b)
    d = d[np.isfinite(d)]
    if not len(d):
        return (float("nan"), float("nan"))
    lo, hi = np.percentile(d, [50 * (1 - level), 100 - 50 * (1 - level)])
    lo, hi = float(lo), float(hi)
    if estimate is not None and np.isfinite(estimate):
        lo, hi = min(lo, float(estimate)), max(hi, float(estimate))
    return lo, hi


def gap_fraction_ci(
    cond: np.ndarray, base: np.ndarray, top: np.ndarray, level: float = 0.95, estimate: float | None = None
) -> tuple[float, float]:
    """Percentile interval of ``(cond - base) / (top - base)`` over paired resamples: the share of the base -> top
    gap (e.g. bicubic -> HR AP) that ``cond`` recovers.

    Resamples without a gap (``top <= base``) have no such share and are dropped; when more than the interval's
    tail mass ((1 - level) / 2) of them are dropped the interval is not reported (NaN, NaN). Like
    :func:`paired_delta_ci`, the interval is widened to contain ``estimate``.
    """
    c, b, t = (np.asarray(v, dtype=np.float64) for v in (cond, base, top))
    gap = t - b
    ok = np.isfinite(c) & np.isfinite(b) & np.isfinite(t) & (gap > 0)
    if not ok.any() or (1 - ok.mean()) > (1 - level) / 2:
        return (float("nan"), float("nan"))
    r = (c[ok] - b[ok]) / gap[ok]
    lo, hi = np.percentile(r, [50 * (1 - level), 100 - 50 * (1 - level)])
    lo, hi = float(lo), float(hi)
    if estimate is not None and np.isfinite(estimate):
        lo, hi = min(lo, float(estimate)), max(hi, float(estimate))
    return lo, hi


@dataclass(frozen=True)
class DeltaResolution:
    """How finely a paired comparison on ``n_images`` images resolves a difference (see :func:`delta_resolution`).

    Attributes:
        se: standard deviation of the paired difference over bootstrap resamples (its standard error).
        resolvable: ``z * se`` for the interval's level (1.96 at 95%): a difference smaller than this in size
            cannot be told from zero on these images.
        n_images_needed: images an evaluation set like this one would need for the interval of ``estimate`` to
            exclude zero if ``estimate`` were the true difference (``n * (z * se / estimate) ** 2``, rounded up;
            the standard error shrinks as 1/sqrt(n) when new images vary as these do); None when the estimate is
            0 or undefined, or the resamples do not vary.
    """

    se: float
    resolvable: float
    n_images_needed: int | None


def delta_resolution(
    a: np.ndarray, b: np.ndarray, n_images: int, level: float = 0.95, estimate: float | None = None
) -> DeltaResolution | None:
    """Standard error of ``a - b`` over paired resamples and what it implies for ``n_images`` images.

    ``a`` and ``b``: (B,) statistics (e.g. AP) of two conditions under the same bootstrap resamples; NaN resamples
    are dropped. None when fewer than two resamples are finite. A normal approximation: the percentile interval
    of :func:`paired_delta_ci` is what the report uses to decide, this only sizes the evaluation set.
    """
    from statistics import NormalDist

    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    d = d[np.isfinite(d)]
    if len(d) < 2 or n_images < 1:
        return None
    se = float(np.std(d, ddof=1))
    z = NormalDist().inv_cdf(0.5 + level / 2)
    needed = None
    if estimate is not None and np.isfinite(estimate) and estimate != 0 and se > 0:
        needed = int(np.ceil(n_images * (z * se / abs(float(estimate))) ** 2))
    return DeltaResolution(se=se, resolvable=z * se, n_images_needed=needed)

"""MOS per method with bootstrap confidence intervals, rater agreement, a text table and a plot.

The CI resamples *raters and scenes* (two-way bootstrap): both are random samples of a larger population,
and resampling only single ratings would ignore that ratings by one rater, or of one scene, are correlated.
A scene is resampled with all its methods, so method comparisons stay paired.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .._files import atomic_path
from ..errors import InputError
from .storage import Study


def _ratings_cube(study: Study) -> tuple[np.ndarray, list[str], list[str], list[str]]:
    """Ratings as a (raters, scenes, methods) float array with NaN where not rated, and the three name lists."""
    rows = study.ratings()
    methods = [m["name"] for m in study.methods()]
    raters = sorted({r["rater"] for r in rows})
    scenes = sorted({r["source"] for r in rows})
    ri = {n: i for i, n in enumerate(raters)}
    si = {n: i for i, n in enumerate(scenes)}
    mi = {n: i for i, n in enumerate(methods)}
    cube = np.full((len(raters), len(scenes), len(methods)), np.nan)
    for r in rows:
        cube[ri[r["rater"]], si[r["source"]], mi[r["method"]]] = r["score"]
    return cube, raters, scenes, methods


def _draw_weights(n_r: int, n_s: int, n_boot: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Multiplicities of each rater (n_boot, n_r) and scene (n_boot, n_s) in each bootstrap replicate."""
    rng = np.random.default_rng(seed)
    w_r = rng.multinomial(n_r, np.full(n_r, 1.0 / n_r), size=n_boot).astype(np.float64)
    w_s = rng.multinomial(n_s, np.full(n_s, 1.0 / n_s), size=n_boot).astype(np.float64)
    return w_r, w_s


def _weighted_means(cube: np.ndarray, w_r: np.ndarray, w_s: np.ndarray) -> np.ndarray:
    """(n_boot, methods) mean rating of each method when rater r counts w_r[b, r] times and scene s w_s[b, s]
    times (the MOS of the resampled data set; NaN where a replicate holds no rating of that method)."""
    n_r, n_s, n_m = cube.shape
    n_boot = w_r.shape[0]
    present = ~np.isnan(cube)
    vals = np.where(present, cube, 0.0).reshape(n_r, -1)
    mask = present.reshape(n_r, -1).astype(np.float64)
    out = np.empty((n_boot, n_m))
    step = max(1, 2_000_000 // max(1, n_s * n_m))  # bound the (chunk, scenes, methods) temporaries
    for a in range(0, n_boot, step):
        b = min(n_boot, a + step)
        num = np.einsum("bs,bsm->bm", w_s[a:b], (w_r[a:b] @ vals).reshape(b - a, n_s, n_m))
        den = np.einsum("bs,bsm->bm", w_s[a:b], (w_r[a:b] @ mask).reshape(b - a, n_s, n_m))
        out[a:b] = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return out


def _bootstrap_means(cube: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, methods) MOS of each replicate; raters and scenes drawn with replacement."""
    w_r, w_s = _draw_weights(cube.shape[0], cube.shape[1], n_boot, seed)
    return _weighted_means(cube, w_r, w_s)


def _f(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _percentiles(samples: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = (1.0 - level) / 2.0
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: methods nobody rated
            return np.nanquantile(samples, alpha, axis=0), np.nanquantile(samples, 1.0 - alpha, axis=0)


def mos_table(db: str | Path, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict[str, dict[str, Any]]:
    """MOS of every method of the study, with a bootstrap CI over raters and scenes.

    Returns:
        ``{method: {"mos", "ci_low", "ci_high", "n", "n_raters", "n_scenes"}}`` in the study's method order
        (``hr`` and ``bicubic`` first). ``mos``/``ci_*`` are floats on the 1-5 scale, or None for a method
        without ratings; ``n`` is the number of ratings. Deterministic for a given ``seed``.
    """
    return mos_report(db, n_boot=n_boot, seed=seed, level=level)["methods"]


def _rank(x: np.ndarray) -> np.ndarray:
    """Ranks with ties averaged (as Spearman's rho needs)."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    _, inv, counts = np.unique(x, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    return (sums / counts)[inv]


def _pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return None  # undefined: too few pairs or a constant series
    return float(np.corrcoef(a, b)[0, 1])


def rater_agreement(cube: np.ndarray, raters: list[str]) -> list[dict[str, Any]]:
    """Each rater's Pearson and Spearman correlation with the mean score of all *other* raters, over the
    images both have rated (None when fewer than 3 such images or a constant series)."""
    n_r = cube.shape[0]
    flat = cube.reshape(n_r, -1)
    out = []
    for i, name in enumerate(raters):
        others = np.delete(flat, i, axis=0)
        mine = flat[i]
        with np.errstate(invalid="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                other_mean = np.nanmean(others, axis=0) if len(others) else np.full_like(mine, np.nan)
        both = ~np.isnan(mine) & ~np.isnan(other_mean)
        a, b = mine[both], other_mean[both]
        rated = mine[~np.isnan(mine)]
        out.append(
            {
                "rater": name,
                "n": int(rated.size),
                "mean_score": _f(float(rated.mean())) if rated.size else None,
                "n_common": int(both.sum()),
                "pearson": _pearson(a, b),
                "spearman": _pearson(_rank(a), _rank(b)) if len(a) >= 3 else None,
            }
        )
    return out


def mos_report(db: str | Path, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict[str, Any]:
    """Everything ``sr4det mos report`` shows, as a JSON-serialisable dict.

    Keys: ``study`` (path, scale, counts), ``level``, ``n_boot``, ``seed``, ``methods`` (see
    :func:`mos_table`, plus ``delta_bicubic`` = MOS minus bicubic's with its paired CI), ``raters``
    (see :func:`rater_agreement`).
    """
    if not 0 < level < 1:
        raise InputError(f"level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise InputError(f"n_boot must be >= 1, got {n_boot}")
    study = Study(db)
    cube, raters, scenes, methods = _ratings_cube(study)
    table: dict[str, dict[str, Any]] = {}
    if cube.size:
        boot = _bootstrap_means(cube, n_boot, seed)
        lo, hi = _percentiles(boot, level)
        b = methods.index("bicubic") if "bicubic" in methods else None
        dlo, dhi = _percentiles(boot - boot[:, [b]], level) if b is not None else (None, None)
    for j, m in enumerate(methods):
        scores = cube[:, :, j] if cube.size else np.empty((0, 0))
        present = ~np.isnan(scores)
        n = int(present.sum())
        row: dict[str, Any] = {
            "mos": _f(float(np.nanmean(scores))) if n else None,
            "ci_low": _f(float(lo[j])) if n else None,
            "ci_high": _f(float(hi[j])) if n else None,
            "n": n,
            "n_raters": int(present.any(axis=1).sum()) if n else 0,
            "n_scenes": int(present.any(axis=0).sum()) if n else 0,
        }
        if n and b is not None and (~np.isnan(cube[:, :, b])).any():
            assert dlo is not None and dhi is not None  # computed whenever b is set
            row["delta_bicubic"] = _f(row["mos"] - float(np.nanmean(cube[:, :, b])))
            row["delta_bicubic_ci"] = [_f(float(dlo[j])), _f(float(dhi[j]))]
        table[m] = row
    meta = study.meta()
    return {
        "study": {
            "db": str(Path(db)),
            "scale": meta.get("scale"),
            "n_raters": len(raters),
            "n_scenes_rated": len(scenes),
            **study.counts(),
        },
        "level": level,
        "n_boot": n_boot,
        "seed": seed,
        "methods": table,
        "raters": rater_agreement(cube, raters) if cube.size else [],
    }


def _fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def format_report(report: dict[str, Any]) -> str:
    """A plain-text table of :func:`mos_report`'s result."""
    s = report["study"]
    pct = round(report["level"] * 100)
    lines = [
        f"MOS study {s['db']}: x{s['scale']}, {s['sources']} scenes x {s['methods']} methods, "
        f"{s['ratings']} ratings by {s['n_raters']} raters ({pct}% CI: bootstrap over raters and scenes, "
        f"{report['n_boot']} resamples, seed {report['seed']})",
        "",
        f"{'method':<16} {'MOS':>5} {f'{pct}% CI':>13} {'vs bicubic':>22} {'n':>5}",
    ]
    for name, r in report["methods"].items():
        ci = f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]" if r["n"] else "-"
        d = r.get("delta_bicubic")
        dci = r.get("delta_bicubic_ci") or [None, None]
        delta = (
            f"{_fmt(d, '+.2f')} [{_fmt(dci[0], '+.2f')}, {_fmt(dci[1], '+.2f')}]" if d is not None and name != "bicubic" else ""
        )
        lines.append(f"{name:<16} {_fmt(r['mos']):>5} {ci:>13} {delta:>22} {r['n']:>5}")
    if report["raters"]:
        lines += [
            "",
            "rater agreement (correlation with the mean of the other raters)",
            f"{'rater':<20} {'n':>4} {'mean':>5} {'pearson':>8} {'spearman':>9}",
        ]
        for r in report["raters"]:
            lines.append(
                f"{r['rater'][:20]:<20} {r['n']:>4} {_fmt(r['mean_score']):>5} {_fmt(r['pearson'], '.3f'):>8} {_fmt(r['spearman'], '.3f'):>9}"
            )
    return "\n".join(lines)


def plot_report(report: dict[str, Any], path: str | Path) -> Path:
    """Bar chart of MOS per method with CI error bars, saved to ``path`` (PNG/PDF/SVG by suffix)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rows = [(m, r) for m, r in report["methods"].items() if r["mos"] is not None]
    if not rows:
        raise InputError("no ratings yet: nothing to plot")
    names = [m for m, _ in rows]
    mos = np.array([r["mos"] for _, r in rows])
    err = np.array([[r["mos"] - r["ci_low"], r["ci_high"] - r["mos"]] for _, r in rows]).T
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(names) + 1.5), 3.6), dpi=120)
    colors = ["#888888" if m in ("hr", "bicubic") else "#3a7bd5" for m in names]
    ax.bar(names, mos, yerr=err, capsize=4, color=colors)
    for x, y, (_, r) in zip(range(len(names)), mos, rows, strict=True):
        ax.text(x, 0.05 + 1.0, f"{y:.2f}\nn={r['n']}", ha="center", va="bottom", fontsize=8, color="white")
    ax.set_ylim(1, 5)
    ax.set_ylabel("MOS (1-5)")
    ax.set_title(f"MOS with {round(report['level'] * 100)}% bootstrap CI (raters x scenes)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    try:
        with atomic_path(path, suffix=path.suffix or ".png") as tmp:
            fig.savefig(tmp, format=path.suffix[1:] or "png")
    finally:
        plt.close(fig)
    return path

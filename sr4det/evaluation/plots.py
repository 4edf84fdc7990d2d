"""The compare report's PNG figures: :func:`plot` (``ap_by_size.png``, ``delta_ap_vs_psnr.png``, ``gain_vs_cost.png``,
from a results dict) and :func:`plot_examples` (``examples.png``, the example crops that :mod:`.examples` picks).
matplotlib is imported on use, with the Agg backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._files import atomic_path
from ._breakdown import size_label

_SIZE_KEYS = ("APs", "APm", "APl")


def ci_level(results: dict[str, Any]) -> str:
    """The intervals' level as text, ``"95"`` or ``"98.75"`` (results.json ``config.bootstrap.confidence``)."""
    return f"{100 * float(results.get('config', {}).get('bootstrap', {}).get('confidence', 0.95)):.4g}"


def plot(results: dict[str, Any], out_dir: Path) -> list[Path]:
    """Draw ``ap_by_size.png``, ``delta_ap_vs_psnr.png`` and ``gain_vs_cost.png`` into ``out_dir``; their paths."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    conds = results["conditions"]
    vs = results.get("deltas", {}).get("vs_bicubic", {})
    sr_names = [n for n in conds if n not in ("hr", "lr", "bicubic") and conds[n].get("psnr") is not None and n in vs]
    return [
        _plot_ap_by_size(results, out_dir / "ap_by_size.png"),
        _plot_delta_vs_psnr(results, sr_names, out_dir / "delta_ap_vs_psnr.png"),
        _plot_gain_vs_cost(results, sr_names, out_dir / "gain_vs_cost.png"),
    ]


def _plot_ap_by_size(results: dict[str, Any], path: Path) -> Path:
    """AP by object size per condition (undefined sizes are left empty, not drawn as 0 or -1)."""
    import matplotlib.pyplot as plt
    import numpy as np

    conds = results["conditions"]
    names = list(conds)
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(names) + 2), 4))
    width = 0.8 / 4
    x = np.arange(len(names))
    for j, key in enumerate(("AP", *_SIZE_KEYS)):
        vals = [conds[n].get(key) for n in names]
        ax.bar(x + (j - 1.5) * width, [np.nan if v is None else v for v in vals], width, label=size_label(results, key))
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.set_ylabel("AP (IoU .50:.95, 0-1)")
    ax.set_xlabel("condition")
    ax.set_title("AP by object size (empty bar: n/a, no objects of that size)")
    ax.set_ylim(0, 1.15)
    ax.legend(ncol=2, loc="upper center", fontsize="small")
    return _save(fig, path)


def _plot_delta_vs_psnr(results: dict[str, Any], sr_names: list[str], path: Path) -> Path:
    """ΔAP vs PSNR per SR model: the review's point is that the two need not agree."""
    import matplotlib.pyplot as plt

    conds, vs = results["conditions"], results.get("deltas", {}).get("vs_bicubic", {})
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for n in sr_names:
        d = vs[n]["AP"]
        ax.errorbar([conds[n]["psnr"]], [d["delta"]], yerr=_yerr(d), fmt="o", capsize=3, label=n)
        ax.annotate(n, (conds[n]["psnr"], d["delta"]), textcoords="offset points", xytext=(4, 4))
    if conds.get("bicubic", {}).get("psnr") is not None:
        ax.axvline(conds["bicubic"]["psnr"], color="grey", lw=0.8, ls="--", label="bicubic PSNR (ΔAP 0 by definition)")
    return _finish_delta_ap(fig, ax, ci_level(results), "PSNR-Y vs HR (dB)", "Detection gain vs image fidelity", path)


def _plot_gain_vs_cost(results: dict[str, Any], sr_names: list[str], path: Path) -> Path:
    """ΔAP vs seconds per image (SR + detector) per SR model, with hr, lr and bicubic as references."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    conds, vs = results["conditions"], results.get("deltas", {}).get("vs_bicubic", {})
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for n in sr_names:
        cost = _cost(conds[n])
        if cost is None:
            continue
        d = vs[n]["AP"]
        ax.errorbar([cost], [d["delta"]], yerr=_yerr(d), fmt="o", capsize=3, label=f"{n} (SR model)")
        ax.annotate(n, (cost, d["delta"]), textcoords="offset points", xytext=(4, 4))
    plotted_ref = False
    for n in ("hr", "lr", "bicubic"):  # references: no SR, or the free baseline (ΔAP 0 by definition)
        cost = _cost(conds.get(n, {}))
        d = {"delta": 0.0} if n == "bicubic" else vs.get(n, {}).get("AP", {})
        if cost is None or d.get("delta") is None:
            continue
        label = None if plotted_ref else "references: hr, lr (no SR), bicubic"
        ax.errorbar([cost], [d["delta"]], yerr=_yerr(d), fmt="x", color="k", capsize=3, label=label)
        plotted_ref = True
        ax.annotate(n, (cost, d["delta"]), textcoords="offset points", xytext=(4, 4))
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())  # under a decade, labelled minor ticks overlap: majors only
    xlabel = "seconds per image, SR + detector (log scale)"
    return _finish_delta_ap(fig, ax, ci_level(results), xlabel, "Gain vs cost", path)


def _finish_delta_ap(fig, ax, level: str, xlabel: str, title: str, path: Path) -> Path:
    """Zero line, labels and legend of a ΔAP-vs-bicubic scatter, saved to ``path``."""
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(xlabel=xlabel, ylabel=f"ΔAP vs bicubic (IoU .50:.95, 0-1; {level}% CI)", title=title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small", loc="best")
    return _save(fig, path)


def _yerr(d: dict[str, Any]):
    """Error bar lengths of a delta with its interval, or None without one."""
    if d.get("ci_low") is None or d.get("ci_high") is None or d.get("delta") is None:
        return None
    # an interval always contains its estimate; max(0, ...) keeps results.json of older versions plottable
    return [[max(0.0, d["delta"] - d["ci_low"])], [max(0.0, d["ci_high"] - d["delta"])]]


def _cost(m: dict[str, Any]) -> float | None:
    """SR + detector seconds per image, or None when the detector time is unknown (or zero: no log-scale point)."""
    det = m.get("detector_seconds_per_image")
    if det is None:
        return None
    total = (m.get("sr_seconds_per_image") or 0) + det
    return total if total > 0 else None


def _save(fig, path: Path) -> Path:
    """Lay out, write atomically and close ``fig``."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=110)
    finally:
        plt.close(fig)
    return path


#: detections drawn in the example crops: the display threshold of ``sr4det detect``
EXAMPLE_CONF = 0.25
EXAMPLE_COLUMNS = ("LR", "bicubic", "best SR", "HR")


def plot_examples(rows: list[dict[str, Any]], path: Path, names: dict[int, str] | None = None) -> Path:
    """Write a figure of example crops, one row per image and :data:`EXAMPLE_COLUMNS` as columns.

    Each row is ``{"title": str, "box": (x0, y0, x1, y1) crop in HR pixels, "panels": [(title, image, dets), ...]}``
    with four panels; ``image`` is a uint8 RGB array (the LR one at 1/scale of the HR size, shown stretched over
    the same crop), ``dets`` COCO-style dicts (``bbox`` xywh in HR pixels, ``score``, ``category_id``) of which those
    scoring at least :data:`EXAMPLE_CONF` are drawn. The column and row titles are also stored in the PNG's
    ``Columns`` and ``Rows`` text chunks.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    ncol = len(EXAMPLE_COLUMNS)
    fig, axes = plt.subplots(len(rows), ncol, figsize=(3.2 * ncol, 3.0 * len(rows) + 0.4), squeeze=False)
    for r, row in enumerate(rows):
        x0, y0, x1, y1 = row["box"]
        if len(row["panels"]) != ncol:
            raise ValueError(f"an example row needs {ncol} panels, got {len(row['panels'])}")
        for c, (title, image, dets) in enumerate(row["panels"]):
            ax = axes[r][c]
            f = image.shape[0] / row["hr_size"][0]  # 1 for HR-sized images, 1/scale for LR
            crop = image[int(y0 * f) : max(int(y1 * f), int(y0 * f) + 1), int(x0 * f) : max(int(x1 * f), int(x0 * f) + 1)]
            ax.imshow(crop, extent=(x0, x1, y1, y0), interpolation="nearest")
            shown = [d for d in dets if d["score"] >= EXAMPLE_CONF]
            for d in shown:
                bx, by, bw, bh = d["bbox"]
                ax.add_patch(Rectangle((bx, by), bw, bh, fill=False, lw=1.2, color=f"C{int(d['category_id']) % 10}"))
                label = (names or {}).get(int(d["category_id"]), str(d["category_id"]))
                ax.text(
                    bx,
                    by,
                    f"{label} {d['score']:.2f}",
                    fontsize=6,
                    color="white",
                    va="bottom",
                    clip_on=True,
                    bbox={"facecolor": f"C{int(d['category_id']) % 10}", "pad": 0.5, "lw": 0},
                )
            ax.set_xlim(x0, x1)
            ax.set_ylim(y1, y0)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{title}: {len(shown)} boxes", fontsize=8)
            if c == 0:
                ax.set_ylabel(row["title"], fontsize=8)
    fig.suptitle(
        f"Images where the best SR changed the most detections vs bicubic (boxes with score >= {EXAMPLE_CONF})", fontsize=9
    )
    fig.tight_layout()
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(
                tmp, dpi=110, metadata={"Columns": ", ".join(EXAMPLE_COLUMNS), "Rows": "\n".join(r["title"] for r in rows)}
            )
    finally:
        plt.close(fig)
    return path

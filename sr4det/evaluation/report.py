"""``report.md`` (tables) and PNG plots from a results dict (see :func:`sr4det.evaluation.compare`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._files import atomic_path, atomic_write

if TYPE_CHECKING:
    from .result import CompareResult

_SIZE_KEYS = ("APs", "APm", "APl")


def _f(v: Any, digits: int = 3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _signed(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:+.{digits}f}"


def _ci(d: dict[str, Any]) -> str:
    if d.get("ci_low") is None or d.get("ci_high") is None:
        return _signed(d.get("delta"))
    return f"{_signed(d['delta'])} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"


def _cost_note(memory_kind: str | None) -> str:
    """What the cost columns measure (``config.memory`` names the memory measure)."""
    mem = {
        "cpu_rss_delta": "peak process RSS during the step minus the RSS just before it (sampled every 2 ms)",
        "cuda_max_allocated_delta": "CUDA max allocated during the step minus what was allocated just before it",
    }.get(memory_kind or "", f"{memory_kind} (results of an older sr4det: whole-process peak)")
    return (
        "seconds per image are wall time after one untimed warm-up call per condition (SR and detector); "
        f"peak MiB is each step's own peak memory: {mem}"
    )


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.0f}%"


def _gap_text(g: dict[str, Any] | None, base: str) -> str:
    arrow = f"{base}->HR"
    if not g or g.get("estimate") is None:
        return f"n/a of the {arrow} AP gap (HR is not better than {base} here)"
    ci = f" [{_pct(g['ci_low'])}, {_pct(g['ci_high'])}]" if g.get("ci_low") is not None else ""
    return f"{_pct(g['estimate'])}{ci} of the {arrow} AP gap (gap {g['gap']:.3f} AP)"


def headline(name: str, deltas: dict[str, Any]) -> str | None:
    """``"espcn recovers 48% [31%, 66%] of the bicubic->HR AP gap (0.068 AP) and 61% [...] of the lr->HR AP gap"``,
    or None for ``hr`` and ``lr`` (and conditions without a gap entry)."""
    parts = []
    for base in ("bicubic", "lr"):
        g = deltas.get(f"vs_{base}", {}).get(name, {})
        if "AP_gap_recovered" in g:
            parts.append(_gap_text(g["AP_gap_recovered"], base))
    if name in ("hr", "lr") or not parts:
        return None
    return f"{name} recovers " + " and ".join(parts)


def _flat(d: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as (dotted key, value) rows."""
    if not isinstance(d, dict):
        return [(prefix, d)]
    rows: list[tuple[str, Any]] = []
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        rows += _flat(v, key) if isinstance(v, dict) and v else [(key, v)]
    return rows


def _table(rows: list[tuple[str, Any]]) -> list[str]:
    out = ["| setting | value |", "|---|---|"]
    for k, v in rows:
        text = "n/a" if v is None else (", ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v))
        out.append(f"| {k} | {text.replace('|', '/')} |")
    return out


def _as_dict(results: CompareResult | dict[str, Any]) -> dict[str, Any]:
    return results.to_json() if hasattr(results, "to_json") else results


def render_summary(results: CompareResult | dict[str, Any]) -> str:
    """A short text table of AP, ΔAP vs bicubic (CI), PSNR and seconds per image, then each condition's headline
    (the share of the bicubic->HR and lr->HR AP gap it recovers): what ``sr4det compare`` prints."""
    results = _as_dict(results)
    lines = [
        f"{'condition':<24} {'AP':>6} {'AP50':>6} {'ΔAP vs bicubic [95% CI]':>28} {'PSNR':>6} {'SR s/img':>9} {'det s/img':>9}"
    ]
    vs = results["deltas"].get("vs_bicubic", {})
    for name, m in results["conditions"].items():
        d = vs.get(name, {}).get("AP")
        delta = (
            ""
            if d is None or d["delta"] is None
            else f"{d['delta']:+.3f}" + (f" [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]" if d.get("ci_low") is not None else "")
        )
        fmt = lambda v, spec: "n/a" if v is None else format(v, spec)  # noqa: E731
        lines.append(
            f"{name:<24} {fmt(m['AP'], '6.3f')} {fmt(m['AP50'], '6.3f')} {delta:>28} {fmt(m['psnr'], '6.2f')} "
            f"{fmt(m['sr_seconds_per_image'], '9.3f')} {fmt(m['detector_seconds_per_image'], '9.3f')}"
        )
    heads = [m.get("headline") for m in results["conditions"].values() if m.get("headline")]
    if heads:
        lines += ["", *heads]
    if results["n_skipped"]:
        lines.append(f"skipped images: {results['n_skipped']} (see results.json)")
    return "\n".join(lines)


def render_markdown(results: CompareResult | dict[str, Any], examples: str | None = None) -> str:
    """The report as markdown text, from a :class:`~sr4det.evaluation.result.CompareResult` or its JSON dict
    (``examples``: the file name of the example-crops figure to link, if one was written)."""
    results = _as_dict(results)
    conds = results["conditions"]
    cfg = results["config"]
    ds = results["dataset"]
    boot = cfg.get("bootstrap", {})
    det = cfg.get("detector", {})
    level = int(round(100 * boot.get("confidence", 0.95)))
    deltas = results.get("deltas", {})
    heads = [h for h in (headline(n, deltas) for n in conds) if h]
    lines = ["# SR before detection: COCO mAP comparison", ""]
    if heads:
        lines += [
            f"**How much of the AP lost to x{cfg['scale']} downscaling each method gives back** "
            f"(share of the AP gap to HR; {level}% paired bootstrap CI):",
            "",
        ]
        lines += [f"- {h}" for h in heads] + [""]
    lines += [
        f"- data: `{ds['source']}` ({ds['format']}), {results['n_images']} images evaluated, {ds['n_boxes']} boxes "
        f"({ds['n_crowd']} crowd), mod-cropped to x{ds['mod_crop']}; sha256 `{ds['sha256'][:16]}`",
        f"- skipped images: {results['n_skipped']}"
        + "".join(f"\n  - `{s['file_name']}`: {s['reason']}" for s in results["skipped_images"]),
        f"- metrics: {cfg['backend']}; CIs: {level}% paired bootstrap over images, "
        f"{boot.get('n_resamples')} resamples, seed {boot.get('seed')}",
        f"- PSNR/SSIM: {cfg['psnr_ssim']}; SR via {cfg['sr_backend']} (tile={cfg['tile']})",
        f"- cost: {_cost_note(cfg.get('memory'))}",
        "",
        "## Settings",
        "",
        *_table(
            [
                ("scale", f"x{cfg['scale']}"),
                *_flat(cfg.get("degradation") or {}, "degradation"),
                *_flat(det if isinstance(det, dict) else {"repr": det}, "detector"),
            ]
        ),
        "",
        "## Accuracy, quality and cost per condition",
        "",
        "| condition | AP | AP50 | AP75 | APs | APm | APl | AR1 | AR10 | AR100 | PSNR-Y | SSIM-Y | SR s/img | det s/img "
        "| SR peak MiB | det peak MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    unmeasured = {n: m["cost_unmeasured_images"] for n, m in conds.items() if m.get("cost_unmeasured_images")}
    for name, m in conds.items():
        lines.append(
            f"| {name} | "
            + " | ".join(_f(m.get(k)) for k in ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100"))
            + f" | {_f(m.get('psnr'), 2)} | {_f(m.get('ssim'), 4)} | {_f(m.get('sr_seconds_per_image'), 3)}"
            + f" | {_f(m.get('detector_seconds_per_image'), 3)} | {_f(m.get('sr_peak_memory_mb'), 1)}"
            + f" | {_f(m.get('detector_peak_memory_mb'), 1)} |"
        )
    if unmeasured:
        lines += [
            "",
            "Cost not measured on "
            + ", ".join(f"{k} images of {n}" for n, k in unmeasured.items())
            + ": their outputs came from cache entries of an older sr4det (timings with the warm-up, whole-process memory). "
            "The cost columns average the other images; use a fresh `--cache` folder to measure all.",
        ]
    lines += _by_detector(results)
    for base, rows in deltas.items():
        if base == "vs_same_input":
            lines += [
                "",
                f"## Deltas vs the same input through the run's main detector ({level}% CI)",
                "",
                "| condition | same input, main detector | ΔAP | ΔAP50 |",
                "|---|---|---|---|",
            ]
            lines += [f"| {name} | {d['reference']} | {_ci(d['AP'])} | {_ci(d['AP50'])} |" for name, d in rows.items()]
            continue
        ref = base.removeprefix("vs_")
        lines += [
            "",
            f"## Deltas {base.replace('_', ' ')} ({level}% CI)",
            "",
            f"| condition | ΔAP | ΔAP50 | ΔPSNR (dB) | share of the {ref}->HR AP gap |",
            "|---|---|---|---|---|",
        ]
        for name, d in rows.items():
            g = d.get("AP_gap_recovered")
            share = "" if g is None else _gap_text(g, ref).split(" of the ")[0]
            lines.append(f"| {name} | {_ci(d['AP'])} | {_ci(d['AP50'])} | {_signed(d.get('psnr'), 2)} | {share} |")
    mos = results.get("mos")
    if mos:
        lines += [
            "",
            f"## MOS beside PSNR, SSIM and ΔAP (study `{mos['study']}`)",
            "",
            "MOS 1-5 with 95% bootstrap CI over raters and images; methods are matched to conditions by name.",
            "",
            "| method | MOS [95% CI] | ratings | AP | ΔAP vs bicubic | PSNR-Y | SSIM-Y |",
            "|---|---|---|---|---|---|---|",
        ]
        vs = results.get("deltas", {}).get("vs_bicubic", {})
        for name, e in mos["methods"].items():
            m = conds.get(name, {})
            ci = "n/a" if e.get("mos") is None else f"{e['mos']:.2f} [{e['ci_low']:.2f}, {e['ci_high']:.2f}]"
            lines.append(
                f"| {name} | {ci} | {e.get('n', 0)} | {_f(m.get('AP'))} | {_signed((vs.get(name) or {}).get('AP', {}).get('delta'))} "
                f"| {_f(m.get('psnr'), 2)} | {_f(m.get('ssim'), 4)} |"
            )
    per_class = results.get("per_class", {})
    if per_class:
        others = [n for n in conds if n != "bicubic"]
        lines += [
            "",
            "## Per-class AP delta vs bicubic",
            "",
            "AP (IoU .50:.95) of bicubic, and each condition's difference from it.",
            "",
            "| class | GT | bicubic AP | " + " | ".join(f"Δ {n}" for n in others) + " |",
            "|---|---|---|" + "---|" * len(others),
        ]
        for row in sorted(per_class.values(), key=lambda r: -r["n_gt"]):
            lines.append(
                f"| {row['name']} | {row['n_gt']} | {_f(row['AP'].get('bicubic'))} | "
                + " | ".join(_signed(row["delta_vs_bicubic"].get(n)) for n in others)
                + " |"
            )
    if examples:
        lines += [
            "",
            "## Example crops",
            "",
            f"LR / bicubic / best SR / HR on the images where the best SR condition changed the most detections versus "
            f"bicubic, with the detector's boxes (score >= {EXAMPLE_CONF}).",
            "",
            f"![example crops]({examples})",
        ]
    lines += ["", "n/a: undefined (e.g. no objects of that size); never averaged in as -1.", ""]
    return "\n".join(lines)


def _by_detector(results: dict[str, Any]) -> list[str]:
    """The conditions grouped by detector (only when some condition brings its own detector): each detector's
    weights and digest, then AP with each input (rows) through each detector (columns)."""
    dets = results["config"].get("detectors") or {}
    if len(dets) < 2:
        return []
    conds = results["conditions"]
    lines = [
        "",
        "## Conditions by detector",
        "",
        "Conditions named `INPUT@LABEL` run INPUT through detector LABEL (`main`: the run's `--detector`); every "
        "detector sees the same images and is scored on the same image set, so the deltas below stay paired.",
        "",
        "| detector | weights | sha256 | imgsz / conf / iou / max_det | conditions |",
        "|---|---|---|---|---|",
    ]
    rows: dict[str, dict[str, str]] = {}
    for label, d in dets.items():
        st = d.get("settings") if isinstance(d.get("settings"), dict) else {}
        setting = " / ".join(_f(st.get(k)) for k in ("imgsz", "conf", "iou", "max_det"))
        sha = f"`{d['weights_sha256'][:16]}`" if d.get("weights_sha256") else "n/a"
        lines.append(
            f"| {label} | `{d.get('path') or d.get('type')}` | {sha} | {setting} | {', '.join(d.get('conditions', []))} |"
        )
        for name in d.get("conditions", []):
            base = name.removesuffix(f"@{label}") if label != "main" else name
            rows.setdefault(base, {})[label] = name
    labels = list(dets)
    lines += [
        "",
        "AP (IoU .50:.95) of each input through each detector:",
        "",
        "| input | " + " | ".join(labels) + " |",
        "|---|" + "---|" * len(labels),
    ]
    for base, by in rows.items():
        lines.append(f"| {base} | " + " | ".join(_f(conds.get(by[k], {}).get("AP")) if k in by else "" for k in labels) + " |")
    return lines


def write_report(results: CompareResult | dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write ``report.md`` and the plots (``ap_by_size.png``, ``delta_ap_vs_psnr.png``, ``gain_vs_cost.png``); an
    ``examples.png`` already in ``out_dir`` (written by the runner, see :func:`plot_examples`) is linked."""
    results = _as_dict(results)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    examples = "examples.png" if (out / "examples.png").is_file() else None  # written just before by the runner
    atomic_write(out / "report.md", render_markdown(results, examples=examples))
    return [out / "report.md", *plot(results, out)]


def plot(results: dict[str, Any], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    conds = results["conditions"]
    names = list(conds)
    written = []

    # AP by object size per condition (undefined sizes are left empty, not drawn as 0 or -1)
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(names) + 2), 4))
    width = 0.8 / 4
    x = np.arange(len(names))
    for j, key in enumerate(("AP", *_SIZE_KEYS)):
        vals = [conds[n].get(key) for n in names]
        ax.bar(x + (j - 1.5) * width, [np.nan if v is None else v for v in vals], width, label=key)
    ax.set_xticks(x, names, rotation=20, ha="right")
    ax.set_ylabel("AP (IoU .50:.95, 0-1)")
    ax.set_xlabel("condition")
    ax.set_title("AP by object size (empty bar: n/a, no objects of that size)")
    ax.set_ylim(0, 1.15)
    ax.legend(ncol=4, loc="upper center", fontsize="small")
    written.append(_save(fig, out_dir / "ap_by_size.png"))

    vs = results.get("deltas", {}).get("vs_bicubic", {})
    level = int(round(100 * results.get("config", {}).get("bootstrap", {}).get("confidence", 0.95)))
    sr_names = [n for n in names if n not in ("hr", "lr", "bicubic") and conds[n].get("psnr") is not None and n in vs]

    # ΔAP vs PSNR per SR model: the review's point is that the two need not agree
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for n in sr_names:
        d = vs[n]["AP"]
        ax.errorbar([conds[n]["psnr"]], [d["delta"]], yerr=_yerr(d), fmt="o", capsize=3, label=n)
        ax.annotate(n, (conds[n]["psnr"], d["delta"]), textcoords="offset points", xytext=(4, 4))
    if conds.get("bicubic", {}).get("psnr") is not None:
        ax.axvline(conds["bicubic"]["psnr"], color="grey", lw=0.8, ls="--", label="bicubic PSNR (ΔAP 0 by definition)")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(
        xlabel="PSNR-Y vs HR (dB)",
        ylabel=f"ΔAP vs bicubic (IoU .50:.95, 0-1; {level}% CI)",
        title="Detection gain vs image fidelity",
    )
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small", loc="best")
    written.append(_save(fig, out_dir / "delta_ap_vs_psnr.png"))

    # gain vs cost
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    plotted_ref = False
    for n in sr_names:
        cost = _cost(conds[n])
        if cost is None:
            continue
        d = vs[n]["AP"]
        ax.errorbar([cost], [d["delta"]], yerr=_yerr(d), fmt="o", capsize=3, label=f"{n} (SR model)")
        ax.annotate(n, (cost, d["delta"]), textcoords="offset points", xytext=(4, 4))
    for n in ("hr", "lr", "bicubic"):  # references: no SR, or the free baseline (ΔAP 0 by definition)
        cost = _cost(conds.get(n, {}))
        if cost is None:
            continue
        d = {"delta": 0.0} if n == "bicubic" else vs.get(n, {}).get("AP", {})
        if d.get("delta") is None:
            continue
        ax.errorbar(
            [cost],
            [d["delta"]],
            yerr=_yerr(d),
            fmt="x",
            color="k",
            capsize=3,
            label=None if plotted_ref else "references: hr, lr (no SR), bicubic",
        )
        plotted_ref = True
        ax.annotate(n, (cost, d["delta"]), textcoords="offset points", xytext=(4, 4))
    ax.set_xscale("log")
    # a span of less than a decade gets labelled minor ticks that overlap; label the major ones only
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(
        xlabel="seconds per image, SR + detector (log scale)",
        ylabel=f"ΔAP vs bicubic (IoU .50:.95, 0-1; {level}% CI)",
        title="Gain vs cost",
    )
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small", loc="best")
    written.append(_save(fig, out_dir / "gain_vs_cost.png"))
    return written


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


# ------------------------------------------------------------------------------------------------ example crops

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

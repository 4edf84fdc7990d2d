"""The sections of ``report.md`` (:func:`~.report.render_markdown` puts them together) and the formatting of
its numbers; each section is a function of the results dict returning its markdown lines."""

from __future__ import annotations

import statistics
from typing import Any

from ._breakdown import cost_section, size_counts_text
from .plots import EXAMPLE_CONF, ci_level
from .scoring import bootstrap_note, bootstrap_possible
from .verdict import cost_flags, count, pct, signed


def as_dict(results: Any) -> dict[str, Any]:
    """A :class:`~.result.CompareResult` as its results.json dict (a dict is returned as is)."""
    return results.to_json() if hasattr(results, "to_json") else results


def _f(v: Any, digits: int = 3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


_signed = signed


def _ci(d: dict[str, Any]) -> str:
    if d.get("ci_low") is None or d.get("ci_high") is None:
        return _signed(d.get("delta"))
    return f"{_signed(d['delta'])} [{_signed(d['ci_low'])}, {_signed(d['ci_high'])}]"


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


def _p(v: float | None) -> str:
    return "" if v is None else f"{v:.3f}"


_pct = pct


def _gap_text(g: dict[str, Any] | None, base: str) -> str:
    arrow = f"{base}->HR"
    if not g or g.get("estimate") is None:
        return f"n/a of the {arrow} AP gap (HR is not better than {base} here)"
    ci = f" [{_pct(g['ci_low'])}, {_pct(g['ci_high'])}]" if g.get("ci_low") is not None else ""
    return f"{_pct(g['estimate'])}{ci} of the {arrow} AP gap (gap {g['gap']:.3f} AP)"


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


def _cost_cell(m: dict[str, Any], step: str) -> str:
    """Seconds per image of ``step`` ("sr", "detector") with a mark when they were cached or measured while busy."""
    text = _f(m.get(f"{step}_seconds_per_image"), 3)
    if step == "sr" and not m.get("sr_seconds_per_image"):
        return text  # no SR step (hr, lr): nothing to mark
    marks = ["cached" if "cached" in f else "busy" for f in cost_flags(m, step)]
    return f"{text} ({', '.join(marks)})" if marks else text


def _cost_marks(conds: dict[str, Any]) -> list[str]:
    """The note under the cost columns that explains their ``(cached)`` and ``(busy)`` marks, when any is used."""
    notes = []
    cached = {n: m for n, m in conds.items() if m.get("sr_cached") or m.get("detections_cached")}
    if cached:
        notes.append(
            "(cached): outputs reused from the cache (made by an earlier run, or by another condition of this run with "
            "the same input), whose cost is the one measured when they were made (under that machine load): "
            + ", ".join(
                f"{n} SR {m.get('sr_cached', 0)}, detections {m.get('detections_cached', 0)} of {m.get('n_images')}"
                for n, m in cached.items()
            )
            + ". A fresh `--cache` folder measures everything in this run."
        )
    if any(m.get("sr_machine_busy") or m.get("detector_machine_busy") for m in conds.values()):
        notes.append("(busy): measured while other processes used the cores (see the load columns): inflated.")
    return ["", *notes] if notes else []


def _resolved_rows(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """ΔAP vs bicubic entries that carry a standard error (results of a run with a bootstrap)."""
    vs = results.get("deltas", {}).get("vs_bicubic", {})
    return {n: d["AP"] for n, d in vs.items() if (d.get("AP") or {}).get("se") is not None}


def resolution_text(results: Any) -> str | None:
    """``"resolution: with 128 images a ΔAP vs bicubic smaller than about ±0.017 cannot be told from zero (...)"``:
    the median over conditions of ``resolvable`` (z x the bootstrap standard error); None without a bootstrap."""
    results = as_dict(results)
    rows = _resolved_rows(results)
    if not rows:
        return None
    level = ci_level(results)
    median = statistics.median(d["resolvable"] for d in rows.values())
    return (
        f"resolution: with {results.get('n_images', '?')} images a ΔAP vs bicubic smaller than about ±{median:.3f} cannot be "
        f"told from zero (median over conditions of the {level}% half-width from the paired bootstrap's standard error)"
    )


def family_text(results: Any) -> str | None:
    """``"all 7 SR conditions together (Holm, 95% family-wise): ΔAP vs bicubic > 0 for rfdn_det, rfdn; < 0 for
    srgan; not resolved for the other 4"``: which ΔAP vs bicubic survive the correction for comparing many
    conditions with the same baseline on the same images; None without a bootstrap or with no family."""
    results = as_dict(results)
    rows = {n: d for n, d in _resolved_rows(results).items() if d.get("p_holm") is not None}
    if not rows:
        return None
    alpha = 1 - float(results.get("config", {}).get("bootstrap", {}).get("confidence", 0.95))
    up = [n for n, d in rows.items() if d["p_holm"] < alpha and d["delta"] > 0]
    down = [n for n, d in rows.items() if d["p_holm"] < alpha and d["delta"] < 0]
    rest = len(rows) - len(up) - len(down)
    parts = [f"> 0 for {', '.join(up)}" if up else "> 0 for none", *([f"< 0 for {', '.join(down)}"] if down else [])]
    if rest:
        parts.append(f"not resolved for the other {rest}" if up or down else f"not resolved for any of the {rest}")
    m = next(iter(rows.values()))["family_size"]
    return f"all {m} SR conditions together (Holm, {ci_level(results)}% family-wise): ΔAP vs bicubic " + "; ".join(parts)


def resolution_section(results: dict[str, Any], level: str) -> list[str]:
    rows = _resolved_rows(results)
    if not rows:
        return []
    family = family_text(results)
    lines = [
        "",
        "## Resolution: which ΔAP these images can tell from zero",
        "",
        f"{resolution_text(results)}. Per condition: the standard error of ΔAP vs bicubic over the paired bootstrap, "
        f"the half-width of a {level}% interval it implies, and, where the interval includes 0, how many images an "
        "evaluation set like this one would need for it to exclude 0 *if the observed ΔAP were the true effect* "
        "(n x (half-width / ΔAP)^2: the standard error shrinks as 1/sqrt(n) when the new images vary as these do). "
        "A guide for sizing the next evaluation, not a result: the observed ΔAP is itself uncertain.",
        "",
        "Many conditions are compared with bicubic on the same images, so some intervals exclude 0 by chance. "
        "`p` is the paired-bootstrap p-value of ΔAP = 0, `p Holm` the same adjusted by Holm's step-down method over "
        "the SR conditions (family-wise error at the level above), and the family interval holds for all of them "
        "together (Bonferroni level)." + (f" {family}." if family else ""),
        "",
        "| condition | ΔAP vs bicubic | SE | ± half-width | interval includes 0 | images needed at this ΔAP | p | p Holm "
        "| family interval |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, d in rows.items():
        lo, hi = d.get("ci_low"), d.get("ci_high")
        includes = lo is not None and hi is not None and lo <= 0 <= hi
        needed = d.get("n_images_needed") if includes else None
        family_ci = f"[{d['ci_low_family']:+.3f}, {d['ci_high_family']:+.3f}]" if d.get("ci_low_family") is not None else ""
        lines.append(
            f"| {name} | {_signed(d.get('delta'))} | {d['se']:.4f} | {d['resolvable']:.3f} | "
            f"{'yes' if includes else 'no'} | {'' if needed is None else needed} | {_p(d.get('p'))} | "
            f"{_p(d.get('p_holm'))} | {family_ci} |"
        )
    return lines


def intro_section(results: dict[str, Any], verdict: list[str], level: str) -> list[str]:
    """The verdict (when there is one) and the bullet list: data, skipped images, metrics and intervals, PSNR/SSIM,
    cost."""
    cfg, ds = results["config"], results["dataset"]
    boot = cfg.get("bootstrap", {})
    lines: list[str] = []
    if verdict:
        lines += [
            f"**Does SR help the detector, by how much, at what cost** (x{cfg['scale']}; ΔAP vs bicubic with its "
            f"{level}% paired bootstrap interval; share of the AP lost to downscaling that it gives back):",
            "",
        ]
        lines += [f"- {v}" if v else "" for v in verdict[:-1]] + [""]
    return lines + [
        f"- data: `{ds['source']}` ({ds['format']}), {count(results['n_images'], 'image')} evaluated, "
        f"{count(ds['n_boxes'], 'box', 'boxes')} "
        f"({ds['n_crowd']} crowd), mod-cropped to x{ds['mod_crop']}; sha256 `{ds['sha256'][:16]}`",
        f"- skipped images: {results['n_skipped']}"
        + "".join(f"\n  - `{s['file_name']}`: {s['reason']}" for s in results["skipped_images"]),
        f"- metrics: {cfg['backend']}; "
        + (
            f"CIs: {level}% paired bootstrap over images, {boot.get('n_resamples')} resamples, seed {boot.get('seed')}"
            if bootstrap_possible(int(results["n_images"])) or not boot.get("n_resamples")
            else bootstrap_note(int(results["n_images"]))
        ),
        f"- PSNR/SSIM: {cfg['psnr_ssim']}; SR via {cfg['sr_backend']} (tile={cfg['tile']})",
        f"- cost: {_cost_note(cfg.get('memory'))}",
    ]


def settings_section(cfg: dict[str, Any]) -> list[str]:
    """## Settings: scale, degradation and detector settings as a two-column table."""
    det = cfg.get("detector", {})
    return [
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
    ]


def conditions_section(results: dict[str, Any]) -> list[str]:
    """## Accuracy, quality and cost per condition: the main table, the size and cost figures and their notes."""
    conds = results["conditions"]
    lines = [
        "",
        "## Accuracy, quality and cost per condition",
        "",
        "| condition | AP | AP50 | AP75 | APs | APm | APl | AR1 | AR10 | AR100 | PSNR-Y | SSIM-Y | SR s/img | det s/img "
        "| SR peak MiB | det peak MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in conds.items():
        lines.append(
            f"| {name} | "
            + " | ".join(_f(m.get(k)) for k in ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100"))
            + f" | {_f(m.get('psnr'), 2)} | {_f(m.get('ssim'), 4)} | {_cost_cell(m, 'sr')}"
            + f" | {_cost_cell(m, 'detector')} | {_f(m.get('sr_peak_memory_mb'), 1)}"
            + f" | {_f(m.get('detector_peak_memory_mb'), 1)} |"
        )
    sizes = size_counts_text(results)
    lines += ["", "![AP by object size](ap_by_size.png)", "", *([sizes] if sizes else [])]
    lines += cost_section(results)
    lines += _cost_marks(conds)
    lines += ["", "![Gain vs cost: ΔAP vs bicubic against seconds per image](gain_vs_cost.png)"]
    unmeasured = {n: m["cost_unmeasured_images"] for n, m in conds.items() if m.get("cost_unmeasured_images")}
    if unmeasured:
        lines += [
            "",
            "Cost not measured on "
            + ", ".join(f"{k} images of {n}" for n, k in unmeasured.items())
            + ": their outputs came from cache entries of an older sr4det (timings with the warm-up, whole-process memory). "
            "The cost columns average the other images; use a fresh `--cache` folder to measure all.",
        ]
    return lines


def deltas_sections(deltas: dict[str, Any], level: str) -> list[str]:
    """One ## Deltas table per baseline (``vs_bicubic``, ``vs_lr``, ...) and the same-input table of conditions with
    their own detector."""
    lines: list[str] = []
    for base, rows in deltas.items():
        if base == "pairs":
            lines += head_to_head_section(rows, level)
            continue
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
        if base == "vs_bicubic":
            lines += ["", "![ΔAP vs bicubic against PSNR-Y: fidelity and detection need not agree](delta_ap_vs_psnr.png)"]
    return lines


def head_to_head_lines(rows: dict[str, Any]) -> list[str]:
    """One line per pre-declared pair: ``"rfdn_real - RealESRGAN: ΔAP +0.012 [+0.004, +0.020] (p 0.002, Holm 0.004)"``."""
    out = []
    for key, d in rows.items():
        a = key[: -len(d["reference"]) - 1]
        ap = d["AP"]
        holm = f", Holm {ap['p_holm']:.3f}" if ap.get("p_holm") is not None and (ap.get("family_size") or 0) > 1 else ""
        p = f" (p {ap['p']:.3f}{holm})" if ap.get("p") is not None else ""
        out.append(f"{a} - {d['reference']}: ΔAP {_ci(ap)}{p}, ΔAP50 {_ci(d['AP50'])}")
    return out


def head_to_head_section(rows: dict[str, Any], level: str) -> list[str]:
    """## Head-to-head: the pre-declared pairs (A minus B on the same images)."""
    lines = [
        "",
        f"## Head-to-head: pre-declared pairs, A minus B on the same images ({level}% CI)",
        "",
        "| A | B | ΔAP | ΔAP50 | p | p (Holm over the pairs) | ΔPSNR (dB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, d in rows.items():
        a, ap = key[: -len(d["reference"]) - 1], d["AP"]
        lines.append(
            f"| {a} | {d['reference']} | {_ci(ap)} | {_ci(d['AP50'])} | {_p(ap.get('p'))} | {_p(ap.get('p_holm'))} "
            f"| {_signed(d.get('psnr'), 2)} |"
        )
    return lines


def mos_section(results: dict[str, Any]) -> list[str]:
    """## MOS beside PSNR, SSIM and ΔAP, when the run had a MOS study."""
    mos = results.get("mos")
    if not mos:
        return []
    conds = results["conditions"]
    lines = [
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
    return lines


def examples_section(examples: str | None) -> list[str]:
    """## Example crops, linking the figure ``examples`` (None: no section)."""
    if not examples:
        return []
    return [
        "",
        "## Example crops",
        "",
        f"LR / bicubic / best SR / HR on the images where the best SR condition changed the most detections versus "
        f"bicubic, with the detector's boxes (score >= {EXAMPLE_CONF}).",
        "",
        f"![example crops]({examples})",
    ]

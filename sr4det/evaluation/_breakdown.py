"""The report's breakdowns, as markdown lines: AP by object size (with the boxes each size has), the per-class ΔAP
table (classes with fewer than :data:`MIN_CLASS_BOXES` boxes folded into one line) and the conditions by detector.
"""

from __future__ import annotations

from typing import Any

from .verdict import count, signed


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


#: classes with fewer ground-truth boxes than this are folded away in report.md (their AP moves by whole matches)
MIN_CLASS_BOXES = 10

_SIZES = (("APs", "small", "< 32²"), ("APm", "medium", "32²-96²"), ("APl", "large", ">= 96²"))


def size_counts_text(results: dict[str, Any]) -> str | None:
    """``"APs/APm/APl rest on 420 small, 305 medium and 216 large boxes ..."``, or None for results without counts."""
    counts = results.get("dataset", {}).get("n_boxes_by_size")
    if not counts:
        return None
    few = [name for _, name, _ in _SIZES if 0 < counts.get(name, 0) < 10 * MIN_CLASS_BOXES]
    return (
        f"APs / APm / APl rest on {counts.get('small', 0)} small (area {_SIZES[0][2]} px), {counts.get('medium', 0)} "
        f"medium ({_SIZES[1][2]}) and {counts.get('large', 0)} large ({_SIZES[2][2]}) non-crowd boxes; they have no "
        "interval: read only differences larger than the ΔAP interval of the whole set"
        + (f" ({' and '.join(few)} rest on fewer than {10 * MIN_CLASS_BOXES} boxes: noisier still)." if few else ".")
    )


def size_label(results: dict[str, Any], key: str) -> str:
    """A legend label for ``key`` (AP, APs, APm, APl) with its box count when results.json has it."""
    counts = results.get("dataset", {}).get("n_boxes_by_size") or {}
    name = {k: n for k, n, _ in _SIZES}.get(key)
    if name is None or name not in counts:
        return key
    return f"{key} ({counts[name]} boxes)"


def cost_section(results: dict[str, Any]) -> list[str]:
    """Wall seconds per image beside process CPU seconds and the machine's 1-minute load for each step (results of
    sr4det versions that record them), and whether the machine was busy."""
    conds = results["conditions"]
    if not any("detector_cpu_seconds_per_image" in m for m in conds.values()):
        return []
    mach = results.get("machine", {})
    lines = [
        "",
        "### Cost on this machine: wall time, CPU time and load",
        "",
        f"Wall seconds depend on what else runs: this run used {mach.get('cores_used', '?')} of "
        f"{mach.get('cpu_count', '?')} cores; a step counts as *busy* when the 1-minute load average at its end "
        f"exceeded that by more than 0.5 (other processes competed for the cores, wall time inflated). CPU seconds "
        "are the process's (all its threads); load is the mean over the condition's timed steps.",
        "",
        "| condition | SR s/img | SR CPU s/img | SR load | det s/img | det CPU s/img | det load | busy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, m in conds.items():
        busy = [s for s, k in (("SR", "sr_machine_busy"), ("det", "detector_machine_busy")) if m.get(k)]
        cells = [
            _fmt(m.get("sr_seconds_per_image")),
            _fmt(m.get("sr_cpu_seconds_per_image")),
            _load(m.get("sr_load_average")),
            _fmt(m.get("detector_seconds_per_image")),
            _fmt(m.get("detector_cpu_seconds_per_image")),
            _load(m.get("detector_load_average")),
            ", ".join(busy) if busy else ("n/a" if m.get("detector_machine_busy") is None else "no"),
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _load(v: float | None) -> str:
    return "" if v is None else f"{v:.2f}"


def per_class_section(results: dict[str, Any], min_boxes: int = MIN_CLASS_BOXES) -> list[str]:
    """The per-class ΔAP vs bicubic table, classes by box count, those under ``min_boxes`` folded into one line."""
    per_class = results.get("per_class", {})
    conds = results["conditions"]
    if not per_class:
        return []
    others = [n for n in conds if n != "bicubic"]
    rows = sorted(per_class.values(), key=lambda r: -r["n_gt"])
    shown = [r for r in rows if r["n_gt"] >= min_boxes]
    folded = [r for r in rows if r["n_gt"] < min_boxes]
    lines = [
        "",
        "## Per-class AP delta vs bicubic",
        "",
        f"AP (IoU .50:.95) of bicubic, and each condition's difference from it, for the {count(len(shown), 'class', 'classes')} with at "
        f"least {min_boxes} ground-truth boxes (GT). These have no interval: a class's AP rests on its GT boxes only, "
        "so its ΔAP is much noisier than the whole set's; read only large differences that several classes share.",
        "",
        "| class | GT | bicubic AP | " + " | ".join(f"Δ {n}" for n in others) + " |",
        "|---|---|---|" + "---|" * len(others),
    ]
    for row in shown:
        ap = row["AP"].get("bicubic")
        lines.append(
            f"| {row['name']} | {row['n_gt']} | {'n/a' if ap is None else f'{ap:.3f}'} | "
            + " | ".join(signed(row["delta_vs_bicubic"].get(n)) for n in others)
            + " |"
        )
    if folded:
        lines += [
            "",
            f"{count(len(folded), 'class', 'classes')} with fewer than {min_boxes} boxes "
            f"({count(sum(r['n_gt'] for r in folded), 'box', 'boxes')} in all) "
            f"{'is' if len(folded) == 1 else 'are'} "
            f"not listed: each match more or less moves their AP by a large step (the smallest has "
            f"{min(r['n_gt'] for r in folded)}). "
            "results.json `per_class` has them.",
        ]
    return lines


def by_detector_section(results: dict[str, Any]) -> list[str]:
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
        setting = " / ".join(_fmt(st.get(k)) for k in ("imgsz", "conf", "iou", "max_det"))
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
        lines.append(f"| {base} | " + " | ".join(_fmt(conds.get(by[k], {}).get("AP")) if k in by else "" for k in labels) + " |")
    return lines

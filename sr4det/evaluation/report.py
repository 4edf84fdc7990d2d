"""``report.md`` (tables) and the text summary from a results dict (see :func:`sr4det.evaluation.compare`); the PNG
plots are drawn by :mod:`.plots` (:func:`plot`, :func:`plot_examples`, re-exported here), the report's sections by
:mod:`._report_sections`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._files import atomic_write
from ._breakdown import by_detector_section, per_class_section
from ._report_sections import (
    _gap_text,
    _signed,
    as_dict,
    conditions_section,
    deltas_sections,
    examples_section,
    family_text,
    head_to_head_lines,
    intro_section,
    mos_section,
    resolution_section,
    resolution_text,
    settings_section,
)
from .plots import EXAMPLE_COLUMNS, EXAMPLE_CONF, ci_level, plot, plot_examples
from .result import CompareResult
from .verdict import best_verdict, busy_note, verdict_lines

__all__ = [
    "EXAMPLE_COLUMNS",
    "EXAMPLE_CONF",
    "family_text",
    "headline",
    "plot",
    "plot_examples",
    "render_markdown",
    "render_summary",
    "resolution_text",
    "write_report",
]


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


def _verdict_block(results: dict[str, Any]) -> list[str]:
    """The verdict lines (one per condition), the best model's verdict and the busy-machine note, then a blank line."""
    lines = verdict_lines(results)
    best = best_verdict(results)
    busy = busy_note(results)
    out = [*lines, *([best] if best else []), *([busy] if busy else [])]
    return [*out, ""] if out else []


def render_summary(results: CompareResult | dict[str, Any]) -> str:
    """What ``sr4det compare`` prints: the verdict (one line per condition: ΔAP vs bicubic with its interval and
    Holm significance, share of the bicubic->HR gap, SR seconds per image; then one line for the best condition),
    a short table of AP, ΔAP vs bicubic (CI), PSNR and seconds per image, the resolution and the family lines."""
    results = as_dict(results)
    head = f"ΔAP vs bicubic [{ci_level(results)}% CI]"
    lines = _verdict_block(results)
    lines += [f"{'condition':<24} {'AP':>6} {'AP50':>6} {head:>28} {'PSNR':>6} {'SR s/img':>9} {'det s/img':>9}"]
    vs = results["deltas"].get("vs_bicubic", {})
    for name, m in results["conditions"].items():
        d = vs.get(name, {}).get("AP")
        delta = (
            ""
            if d is None or d["delta"] is None
            else _signed(d["delta"])
            + (f" [{_signed(d['ci_low'])}, {_signed(d['ci_high'])}]" if d.get("ci_low") is not None else "")
        )
        fmt = lambda v, spec: "n/a" if v is None else format(v, spec)  # noqa: E731
        lines.append(
            f"{name:<24} {fmt(m['AP'], '6.3f')} {fmt(m['AP50'], '6.3f')} {delta:>28} {fmt(m['psnr'], '6.2f')} "
            f"{fmt(m['sr_seconds_per_image'], '9.3f')} {fmt(m['detector_seconds_per_image'], '9.3f')}"
        )
    resolution = resolution_text(results)
    if resolution:
        lines += ["", resolution]
    family = family_text(results)
    if family:
        lines.append(family)
    pairs = results["deltas"].get("pairs")
    if pairs:
        lines += ["", f"head-to-head (A - B on the same images, {ci_level(results)}% CI):", *head_to_head_lines(pairs)]
    if results["n_skipped"]:
        lines.append(f"skipped images: {results['n_skipped']} (see results.json)")
    return "\n".join(lines)


def render_markdown(results: CompareResult | dict[str, Any], examples: str | None = None) -> str:
    """The report as markdown text, from a :class:`~sr4det.evaluation.result.CompareResult` or its JSON dict
    (``examples``: the file name of the example-crops figure to link, if one was written)."""
    results = as_dict(results)
    level = ci_level(results)
    lines = ["# SR before detection: COCO mAP comparison", ""]
    lines += intro_section(results, _verdict_block(results), level)
    lines += settings_section(results["config"])
    lines += conditions_section(results)
    lines += by_detector_section(results)
    lines += deltas_sections(results.get("deltas", {}), level)
    lines += resolution_section(results, level)
    lines += mos_section(results)
    lines += per_class_section(results)
    lines += examples_section(examples)
    lines += ["", "n/a: undefined (e.g. no objects of that size); never averaged in as -1.", ""]
    return "\n".join(lines)


def write_report(results: CompareResult | dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write ``report.md`` and the plots (``ap_by_size.png``, ``delta_ap_vs_psnr.png``, ``gain_vs_cost.png``); an
    ``examples.png`` already in ``out_dir`` (written by the runner, see :func:`plot_examples`) is linked."""
    results = as_dict(results)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    examples = "examples.png" if (out / "examples.png").is_file() else None  # written just before by the runner
    atomic_write(out / "report.md", render_markdown(results, examples=examples))
    return [out / "report.md", *plot(results, out)]

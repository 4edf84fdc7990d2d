"""The verdict a comparison opens with: one line per condition (ΔAP vs bicubic with its interval, whether it survives
Holm's correction over the SR conditions, the share of the bicubic->HR gap it recovers, its SR seconds per image on
this machine) and one line for the best condition, from a results dict (``results.json``). Also the number formats
the report shares (no ``-0%`` or ``-0.000``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["best_verdict", "busy_note", "cost_flags", "pct", "signed", "verdict_lines"]

_REFERENCES = {
    "hr": "the upper bound (the original images, not downscaled)",
    "lr": "the LR image given to the detector as is (its own resize decides)",
}


def signed(v: float | None, digits: int = 3) -> str:
    """``+0.053``, ``-0.012``; a value that rounds to zero is ``0.000`` (never ``-0.000``); None is ``n/a``."""
    if v is None:
        return "n/a"
    text = f"{v:+.{digits}f}"
    return text[1:] if float(text) == 0 else text


def count(n: Any, noun: str, nouns: str | None = None) -> str:
    """``"1 class"``, ``"3 classes"``, ``"? images"``: ``n`` with the noun in the number it takes (``nouns``: the
    plural when it is not ``noun + "s"``)."""
    return f"{n} {noun if n == 1 else nouns or noun + 's'}"


def pct(v: float | None) -> str:
    """``48%``, ``-4%``; a share that rounds to zero is ``0%`` (never ``-0%``); None is ``n/a``."""
    if v is None:
        return "n/a"
    text = f"{100 * v:.0f}"
    return f"{'0' if float(text) == 0 else text}%"


def _interval(d: dict[str, Any]) -> str:
    if d.get("ci_low") is None or d.get("ci_high") is None:
        return ""
    return f" [{signed(d['ci_low'])}, {signed(d['ci_high'])}]"


def _alpha(results: dict[str, Any]) -> float:
    return 1 - float(results.get("config", {}).get("bootstrap", {}).get("confidence", 0.95))


def _significance(d: dict[str, Any], alpha: float) -> str:
    """Whether ΔAP ``d`` is told from zero: after Holm over the family when it is in one, else by its interval."""
    if d.get("p_holm") is not None:
        m = d.get("family_size")
        over = f"after Holm over {m} SR condition{'s' if m != 1 else ''}"
        if d["p_holm"] < alpha:
            return f"significant {over} (p {d['p_holm']:.3f})"
        return f"not significant {over} (p {d['p_holm']:.3f})"
    if d.get("ci_low") is None or d.get("ci_high") is None:
        return "no interval (no bootstrap)"
    return "interval includes 0" if d["ci_low"] <= 0 <= d["ci_high"] else "interval excludes 0"


def cost_flags(m: dict[str, Any], step: str = "sr") -> list[str]:
    """Why a condition's ``step`` ("sr" or "detector") seconds may not be this run's: reused from the cache, measured
    while other processes used the cores (see :func:`busy_note`)."""
    flags = []
    cached = m.get("sr_cached" if step == "sr" else "detections_cached") or 0
    n = m.get("n_images") or 0
    if cached and n:
        flags.append("cached: cost measured when first computed" if cached >= n else f"{cached} of {n} cached")
    busy = m.get(f"{step}_machine_busy")
    if busy:
        flags.append("busy machine: inflated")
    return flags


def busy_note(results: dict[str, Any]) -> str | None:
    """One sentence when some step ran while the machine was busy (load above the cores the run used), else None."""
    conds = results.get("conditions", {})
    busy = [n for n, m in conds.items() if m.get("sr_machine_busy") or m.get("detector_machine_busy")]
    if not busy:
        return None
    mach = results.get("machine", {})
    return (
        f"The machine was busy while {', '.join(busy)} ran: the 1-minute load average exceeded the "
        f"{mach.get('cores_used', '?')} core(s) this run used (of {mach.get('cpu_count', '?')}), so other processes "
        "competed for the cores and those wall times are inflated; CPU seconds (process time) are less affected."
    )


def _seconds(m: dict[str, Any]) -> str:
    s = m.get("sr_seconds_per_image")
    if s is None:
        return "SR cost not measured"
    flags = cost_flags(m, "sr")
    return f"SR {s:.3f} s/img on this machine" + (f" ({'; '.join(flags)})" if flags else "")


def verdict_lines(results: dict[str, Any]) -> list[str]:
    """One line per condition, e.g. ``"rfdn_det: +0.053 AP [+0.029, +0.071] over bicubic, significant after Holm over
    4 SR conditions (p 0.002); recovers 55% [38%, 78%] of the bicubic->HR gap; SR 1.100 s/img on this machine"``.
    Empty without a ``bicubic`` condition."""
    conds = results.get("conditions", {})
    vs = results.get("deltas", {}).get("vs_bicubic", {})
    if "bicubic" not in conds:
        return []
    alpha = _alpha(results)
    lines = []
    for name, m in conds.items():
        if name == "bicubic":
            lines.append(f"bicubic: AP {m['AP']:.3f}, the baseline; {_seconds(m)}" if m.get("AP") is not None else "")
            continue
        d = (vs.get(name) or {}).get("AP") or {}
        if d.get("delta") is None:
            continue
        word = "over" if d["delta"] > 0 else "vs"
        text = f"{name}: {signed(d['delta'])} AP{_interval(d)} {word} bicubic, {_significance(d, alpha)}"
        reference = _REFERENCES.get(name)
        if reference:
            lines.append(f"{text}; {reference}")
            continue
        g = (vs.get(name) or {}).get("AP_gap_recovered")
        if g and g.get("estimate") is not None:
            ci = f" [{pct(g['ci_low'])}, {pct(g['ci_high'])}]" if g.get("ci_low") is not None else ""
            text += f"; recovers {pct(g['estimate'])}{ci} of the bicubic->HR gap"
        no_sr = name.split("@", 1)[0] in _REFERENCES  # hr or lr through another detector
        lines.append(text if no_sr else f"{text}; {_seconds(m)}")
    return [line for line in lines if line]


def best_verdict(results: dict[str, Any]) -> str | None:
    """One line on the best SR condition (largest ΔAP vs bicubic among those Holm's family holds), or None when no
    condition was compared with bicubic with a bootstrap."""
    vs = results.get("deltas", {}).get("vs_bicubic", {})
    family = {n: e["AP"] for n, e in vs.items() if (e.get("AP") or {}).get("p_holm") is not None}
    if not family:
        return None
    alpha = _alpha(results)
    best = max(family, key=lambda n: family[n]["delta"])
    d = family[best]
    m = results["conditions"].get(best, {})
    m_size = d.get("family_size")
    n_images = results.get("n_images", "these")
    if d["delta"] > 0 and d["p_holm"] < alpha:
        g = (vs[best].get("AP_gap_recovered") or {}).get("estimate")
        share = f", {pct(g)} of the way from bicubic to HR" if g is not None else ""
        return (
            f"Verdict: SR helps this detector. Best: {best}, {signed(d['delta'])} AP{_interval(d)} over bicubic{share} "
            f"(significant after Holm over {m_size}), for {_seconds(m)}."
        )
    return (
        f"Verdict: no SR condition is told apart from bicubic on {count(n_images, 'image')} after Holm over {m_size} "
        f"(largest ΔAP: {best} {signed(d['delta'])}{_interval(d)}, p {d['p_holm']:.3f}); a larger evaluation set or a "
        "stronger model is needed before SR can be said to help."
    )

"""Many conditions against one baseline on the same images: bootstrap p-values, Holm's adjustment and the
family (Bonferroni) intervals, in results.json, the report and the CLI summary."""

from __future__ import annotations

import numpy as np
import pytest

from sr4det.data.datasets import load_coco
from sr4det.evaluation import bootstrap, compare
from sr4det.evaluation.conditions import HRCondition, LRCondition, SRCondition
from sr4det.evaluation.multiplicity import bonferroni_level, bootstrap_p_value, holm
from sr4det.evaluation.report import family_text, render_markdown, render_summary

from .test_headline import Cheat, ExactOracle, _hr
from .test_runner import SIZES, make_dataset


def test_holm_on_a_worked_example():
    # sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005, 3*0.01, 2*0.03, max(0.06, 1*0.04)
    out = holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.005})
    assert out == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06, "d": 0.02})


def test_holm_properties_on_random_families():
    rng = np.random.default_rng(0)
    for _ in range(200):
        m = int(rng.integers(1, 12))
        p = {f"c{i}": float(v) for i, v in enumerate(rng.uniform(0, 0.2, m) ** 2)}
        adj = holm(p)
        for k in p:
            assert p[k] <= adj[k] <= min(1.0, m * p[k]) + 1e-12  # between raw and Bonferroni
        order = sorted(p, key=p.get)
        assert all(adj[a] <= adj[b] for a, b in zip(order, order[1:], strict=False))  # keeps the raw order
    assert holm({"only": 0.03}) == {"only": 0.03}  # a family of one is not adjusted


def test_holm_leaves_entries_without_p_out_of_the_family():
    out = holm({"a": 0.01, "hr": None, "b": 0.02})
    assert out["hr"] is None
    assert out == pytest.approx({"a": 0.02, "hr": None, "b": 0.02})  # m = 2, not 3
    assert holm({}) == {}


def test_bootstrap_p_value_agrees_with_the_percentile_interval():
    rng = np.random.default_rng(1)
    zero = np.zeros(1000)
    for mu in np.linspace(0, 3.5, 60):
        d = rng.normal(mu, 1.0, 1000)
        p = bootstrap_p_value(d, zero)
        lo, hi = bootstrap.paired_delta_ci(d, zero, 0.95)
        excludes = lo > 0 or hi < 0
        if p < 0.045:
            assert excludes, (mu, p, lo)
        if p > 0.055:
            assert not excludes, (mu, p, lo)
    # symmetric in sign, never 0, at most 1
    d = rng.normal(5.0, 1.0, 999)
    assert bootstrap_p_value(d, np.zeros(999)) == pytest.approx(2 / 1000)
    assert bootstrap_p_value(-d, np.zeros(999)) == bootstrap_p_value(d, np.zeros(999))
    assert bootstrap_p_value(np.zeros(10), np.zeros(10)) == 1.0


def test_bootstrap_p_value_drops_nan_resamples():
    a = np.array([np.nan, 1.0, 2.0, 3.0])
    assert bootstrap_p_value(a, np.zeros(4)) == pytest.approx(2 * 1 / 4)
    assert bootstrap_p_value(np.full(3, np.nan), np.zeros(3)) is None


def test_bonferroni_level():
    assert bonferroni_level(0.95, 4) == pytest.approx(0.9875)
    assert bonferroni_level(0.95, 1) == pytest.approx(0.95)
    with pytest.raises(ValueError, match="at least one"):
        bonferroni_level(0.95, 0)


def test_compare_adjusts_over_the_sr_conditions_only(tmp_path):
    path = make_dataset(tmp_path / "ds")
    hr = [_hr(path, i) for i in range(len(SIZES))]
    conditions = [
        HRCondition("hr"),
        LRCondition("lr"),
        SRCondition("bicubic"),
        Cheat("all", hr),
        Cheat("half", hr[::2]),
        SRCondition("bilinear"),
    ]
    res = compare(
        load_coco(path),
        ExactOracle(path, hr),
        conditions=conditions,
        scale=4,
        n_resamples=300,
        cache_dir=False,
        progress=False,
        out_dir=tmp_path / "out",
    )
    vs = res["deltas"]["vs_bicubic"]
    family = ("all", "half", "bilinear")
    raw = {n: vs[n]["AP"]["p"] for n in family}
    assert all(0 < p <= 1 for p in raw.values())
    assert {n: vs[n]["AP"]["p_holm"] for n in family} == pytest.approx(holm(raw))
    for n in family:
        d = vs[n]["AP"]
        assert d["family_size"] == 3
        assert d["ci_low_family"] <= d["ci_low"] <= d["delta"] <= d["ci_high"] <= d["ci_high_family"]
    # hr and lr are compared with bicubic but are no claim about SR: outside the family
    for n in ("hr", "lr"):
        assert vs[n]["AP"]["p"] is not None
        assert vs[n]["AP"]["p_holm"] is None
        assert vs[n]["AP"]["family_size"] is None
    # the perfect SR beats bicubic on every resample: the smallest p 300 resamples can give, times m
    assert raw["all"] == pytest.approx(2 / 301)
    assert vs["all"]["AP"]["p_holm"] == pytest.approx(3 * 2 / 301)
    # vs lr the family is the same three conditions (bicubic is a baseline)
    assert res["deltas"]["vs_lr"]["all"]["AP"]["family_size"] == 3
    assert res["deltas"]["vs_lr"]["bicubic"]["AP"]["p_holm"] is None
    text = family_text(res)
    assert text.startswith("all 3 SR conditions together (Holm, 95% family-wise): ΔAP vs bicubic > 0 for all")
    assert text in render_summary(res).splitlines()
    md = render_markdown(res)
    assert f"{text}." in md
    assert "| p | p Holm | family interval |" in md


def test_no_bootstrap_no_adjustment(tmp_path):
    path = make_dataset(tmp_path / "ds")
    hr = [_hr(path, i) for i in range(len(SIZES))]
    res = compare(
        load_coco(path),
        ExactOracle(path, hr),
        conditions=[HRCondition("hr"), SRCondition("bicubic"), Cheat("half", hr[::2])],
        scale=4,
        n_resamples=0,
        cache_dir=False,
        progress=False,
    )
    d = res["deltas"]["vs_bicubic"]["half"]["AP"]
    assert d["p"] is None
    assert d["p_holm"] is None
    assert d["ci_low_family"] is None
    assert family_text(res) is None

"""How finely an evaluation set resolves ΔAP: the bootstrap standard error, the smallest difference it can tell
from zero and the images an observed effect would need, in results.json, the report and the CLI summary."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sr4det.data.datasets import load_coco
from sr4det.evaluation import bootstrap, compare
from sr4det.evaluation.bootstrap import delta_resolution
from sr4det.evaluation.conditions import HRCondition, LRCondition, SRCondition
from sr4det.evaluation.report import render_markdown, render_summary, resolution_text

from .test_headline import Cheat, ExactOracle, _hr
from .test_runner import SIZES, make_dataset


def test_standard_error_and_half_width_follow_the_normal_theory():
    rng = np.random.default_rng(0)
    a = rng.normal(0.02, 0.01, 20000)
    res = delta_resolution(a, np.zeros_like(a), n_images=100, estimate=0.02)
    assert res.se == pytest.approx(0.01, rel=0.03)
    assert res.resolvable == pytest.approx(1.959964 * res.se, rel=1e-6)
    assert res.n_images_needed == int(np.ceil(100 * (res.resolvable / 0.02) ** 2))
    # the percentile interval the report decides with has about the same half-width
    lo, hi = bootstrap.paired_delta_ci(a, np.zeros_like(a))
    assert (hi - lo) / 2 == pytest.approx(res.resolvable, rel=0.05)


def test_images_needed_scale_with_the_set_and_the_inverse_square_of_the_effect():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.5, 0.02, 1000), rng.normal(0.49, 0.02, 1000)
    one = delta_resolution(a, b, n_images=128, estimate=0.01)
    assert delta_resolution(a, b, n_images=512, estimate=0.01).n_images_needed == pytest.approx(4 * one.n_images_needed, abs=4)
    assert delta_resolution(a, b, n_images=128, estimate=0.005).n_images_needed == pytest.approx(4 * one.n_images_needed, abs=4)
    # the sign of the effect does not matter, only its size
    assert delta_resolution(a, b, n_images=128, estimate=-0.01).n_images_needed == one.n_images_needed
    # a 90% interval is narrower than a 95% one
    assert delta_resolution(a, b, n_images=128, level=0.9, estimate=0.01).resolvable < one.resolvable


def test_undefined_cases():
    x = np.linspace(0.1, 0.3, 50)
    same = delta_resolution(x, x, n_images=10, estimate=0.0)
    assert same.se == 0.0
    assert same.resolvable == 0.0
    assert same.n_images_needed is None  # no variation: no extrapolation
    assert delta_resolution(x + 0.01 * np.sin(np.arange(50)), x, n_images=10, estimate=0.0).n_images_needed is None
    assert delta_resolution(x + 0.01 * np.sin(np.arange(50)), x, n_images=10, estimate=float("nan")).n_images_needed is None
    # NaN resamples (e.g. no objects drawn) are dropped; fewer than two left: nothing to say
    assert delta_resolution(np.array([np.nan, 0.3, np.nan]), np.zeros(3), n_images=3) is None
    assert delta_resolution(np.array([np.nan, 0.3, 0.2]), np.zeros(3), n_images=3).se == pytest.approx(np.std([0.3, 0.2], ddof=1))
    assert delta_resolution(x, x, n_images=0) is None


def test_compare_records_the_resolution_and_the_report_shows_it(tmp_path):
    path = make_dataset(tmp_path / "ds")
    hr = [_hr(path, i) for i in range(len(SIZES))]
    conditions = [HRCondition("hr"), LRCondition("lr"), SRCondition("bicubic"), Cheat("half", hr[::2])]
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
    d = res["deltas"]["vs_bicubic"]["half"]["AP"]
    assert d["se"] > 0  # some resamples draw more of the cheated images than others
    assert d["resolvable"] == pytest.approx(1.959964 * d["se"], rel=1e-6)
    assert d["n_images_needed"] == int(np.ceil(len(SIZES) * (d["resolvable"] / d["delta"]) ** 2))
    assert res["deltas"]["vs_bicubic"]["half"]["AP50"]["se"] > 0
    on_disk = json.loads((tmp_path / "out" / "results.json").read_text())
    assert on_disk["deltas"]["vs_bicubic"]["half"]["AP"]["se"] == d["se"]
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Resolution: which ΔAP these images can tell from zero" in md
    assert f"| half | {d['delta']:+.3f} | {d['se']:.4f} | {d['resolvable']:.3f} |" in md
    line = resolution_text(on_disk)
    assert line.startswith(f"resolution: with {len(SIZES)} images a ΔAP vs bicubic smaller than about ±")
    assert line in render_summary(on_disk).splitlines()


def test_no_bootstrap_no_resolution(tmp_path):
    path = make_dataset(tmp_path / "ds")
    hr = [_hr(path, i) for i in range(len(SIZES))]
    res = compare(
        load_coco(path),
        ExactOracle(path, hr),
        conditions=[HRCondition("hr"), SRCondition("bicubic")],
        scale=4,
        n_resamples=0,
        cache_dir=False,
        progress=False,
    )
    d = res["deltas"]["vs_bicubic"]["hr"]["AP"]
    assert d["se"] is None
    assert d["n_images_needed"] is None
    assert resolution_text(res) is None
    assert "## Resolution" not in render_markdown(res)


def _results(rows: dict[str, tuple[float, float, float, float]]) -> dict:
    """A results dict whose ΔAP vs bicubic rows are (delta, ci_low, ci_high, se)."""
    m = {k: 0.3 for k in ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100")}
    vs = {
        n: {
            "AP": {
                "delta": dl,
                "ci_low": lo,
                "ci_high": hi,
                "se": se,
                "resolvable": 1.96 * se,
                "n_images_needed": int(np.ceil(128 * (1.96 * se / dl) ** 2)),
            },
            "AP50": {"delta": dl, "ci_low": None, "ci_high": None},
        }
        for n, (dl, lo, hi, se) in rows.items()
    }
    return {
        "conditions": {"bicubic": m, **{n: m for n in rows}},
        "deltas": {"vs_bicubic": vs},
        "skipped_images": [],
        "n_skipped": 0,
        "n_images": 128,
        "dataset": {"source": "d.json", "format": "coco", "n_boxes": 3, "n_crowd": 0, "mod_crop": 2, "sha256": "ab" * 32},
        "config": {
            "scale": 2,
            "degradation": {"scale": 2},
            "detector": {"type": "x"},
            "backend": "pycocotools",
            "psnr_ssim": "Y",
            "memory": "cpu_rss_delta",
            "sr_backend": "tiler",
            "tile": "auto",
            "bootstrap": {"confidence": 0.95},
        },
    }


def test_report_names_images_needed_only_where_the_interval_includes_zero():
    results = _results({"small": (0.012, -0.009, 0.025, 0.009), "big": (0.06, 0.04, 0.08, 0.01), "mid": (0.02, 0.0, 0.04, 0.01)})
    md = render_markdown(results)
    assert "| small | +0.012 | 0.0090 | 0.018 | yes | 277 |" in md  # ceil(128 * (0.01764 / 0.012)^2)
    assert "| big | +0.060 | 0.0100 | 0.020 | no |  |" in md
    assert "| mid | +0.020 | 0.0100 | 0.020 | yes | 123 |" in md  # a bound at exactly 0 does not exclude 0
    # the median half-width over the three conditions (0.0176, 0.0196, 0.0196)
    assert "smaller than about ±0.020 cannot be told from zero" in resolution_text(results)


def test_a_bonferroni_level_widens_the_intervals_and_names_itself(tmp_path):
    path = make_dataset(tmp_path / "ds")
    hr = [_hr(path, i) for i in range(len(SIZES))]
    conditions = [HRCondition("hr"), SRCondition("bicubic"), Cheat("half", hr[::2])]
    runs = {
        level: compare(
            load_coco(path),
            ExactOracle(path, hr),
            conditions=conditions,
            scale=4,
            n_resamples=300,
            confidence=level,
            cache_dir=False,
            progress=False,
        )
        for level in (0.95, 0.9875)
    }
    narrow, wide = (runs[k]["deltas"]["vs_bicubic"]["half"]["AP"] for k in (0.95, 0.9875))
    assert narrow["delta"] == wide["delta"]
    assert wide["ci_low"] <= narrow["ci_low"]
    assert wide["ci_high"] >= narrow["ci_high"]
    assert wide["resolvable"] > narrow["resolvable"]
    summary = render_summary(runs[0.9875])
    header = next(line for line in summary.splitlines() if line.startswith("condition "))  # the table, after the verdict
    assert "ΔAP vs bicubic [98.75% CI]" in header
    assert "98.75% half-width" in summary
    assert "## Deltas vs bicubic (98.75% CI)" in render_markdown(runs[0.9875])

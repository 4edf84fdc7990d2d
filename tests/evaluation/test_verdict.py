"""The verdict report.md and the CLI summary open with: one line per condition, one for the best model; the plots
embedded under their tables; per-class rows with their box counts (small classes folded), per-size box counts; no
``-0%``. Results made in code."""

from __future__ import annotations

import copy

import pytest

from sr4det.evaluation import render_summary
from sr4det.evaluation._breakdown import MIN_CLASS_BOXES
from sr4det.evaluation.report import render_markdown
from sr4det.evaluation.verdict import best_verdict, count, pct, signed, verdict_lines

_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100")


def _m(ap, sr_s=0.0, **extra):
    return {
        **{k: ap for k in _KEYS},
        "psnr": 25.0,
        "ssim": 0.7,
        "sr_seconds_per_image": sr_s,
        "detector_seconds_per_image": 0.05,
        "sr_peak_memory_mb": 10.0,
        "detector_peak_memory_mb": 20.0,
        "n_images": 128,
        "sr_cached": 0,
        "detections_cached": 0,
        **extra,
    }


def _d(delta, lo, hi, p_holm=None, m=None):
    ap = {"delta": delta, "ci_low": lo, "ci_high": hi, "se": 0.01, "resolvable": 0.02, "n_images_needed": None, "p": p_holm}
    ap.update(p_holm=p_holm, family_size=m, ci_low_family=lo, ci_high_family=hi)
    return {"AP": ap, "AP50": dict(ap), "psnr": 0.5}


def results(good_p=0.004):
    gap = 0.1
    return {
        "conditions": {
            "hr": _m(0.45),
            "lr": _m(0.349),
            "bicubic": _m(0.35, 0.01),
            "good": _m(0.405, 1.1, sr_cached=128, detections_cached=128),
            "flat": _m(0.3496, 0.02),
        },
        "deltas": {
            "vs_bicubic": {
                "hr": {**_d(0.1, 0.08, 0.12), "AP_gap_recovered": None},
                "lr": {**_d(-0.001, -0.02, 0.018), "AP_gap_recovered": None},
                "good": {
                    **_d(0.055, 0.03, 0.08, good_p, 2),
                    "AP_gap_recovered": {"estimate": 0.55, "ci_low": 0.3, "ci_high": 0.8, "gap": gap},
                },
                "flat": {
                    **_d(-0.0004, -0.02, 0.02, 0.9, 2),
                    "AP_gap_recovered": {"estimate": -0.004, "ci_low": -0.2, "ci_high": 0.2, "gap": gap},
                },
            }
        },
        "per_class": {
            "1": {"name": "person", "n_gt": 250, "AP": {"bicubic": 0.4}, "delta_vs_bicubic": {"good": 0.05, "flat": 0.0}},
            "2": {"name": "zebra", "n_gt": MIN_CLASS_BOXES, "AP": {"bicubic": 0.6}, "delta_vs_bicubic": {"good": -0.01}},
            "3": {"name": "toaster", "n_gt": 1, "AP": {"bicubic": 0.0}, "delta_vs_bicubic": {"good": 1.0}},
            "4": {"name": "hair drier", "n_gt": 2, "AP": {"bicubic": 0.5}, "delta_vs_bicubic": {"good": -0.5}},
        },
        "skipped_images": [],
        "n_skipped": 0,
        "n_images": 128,
        "dataset": {
            "source": "d.json",
            "format": "coco",
            "n_boxes": 263,
            "n_crowd": 0,
            "mod_crop": 4,
            "sha256": "ab" * 32,
            "n_boxes_by_size": {"small": 120, "medium": 90, "large": 53},
        },
        "config": {
            "scale": 4,
            "degradation": {"scale": 4},
            "detector": {"type": "x"},
            "backend": "pycocotools",
            "psnr_ssim": "Y",
            "memory": "cpu_rss_delta",
            "sr_backend": "tiler",
            "tile": "auto",
            "bootstrap": {"confidence": 0.95, "n_resamples": 1000, "seed": 0},
        },
        "machine": {"cpu_count": 2, "cores_used": 1},
    }


def test_one_line_per_condition_with_delta_interval_holm_gap_and_cost():
    lines = verdict_lines(results())
    assert [line.split(":")[0] for line in lines] == ["hr", "lr", "bicubic", "good", "flat"]
    assert lines[3] == (
        "good: +0.055 AP [+0.030, +0.080] over bicubic, significant after Holm over 2 SR conditions (p 0.004); "
        "recovers 55% [30%, 80%] of the bicubic->HR gap; SR 1.100 s/img on this machine (cached: cost measured when first computed)"
    )
    # a delta and a share that round to zero are printed without a sign
    assert lines[4] == (
        "flat: 0.000 AP [-0.020, +0.020] vs bicubic, not significant after Holm over 2 SR conditions (p 0.900); "
        "recovers 0% [-20%, 20%] of the bicubic->HR gap; SR 0.020 s/img on this machine"
    )
    assert lines[0].startswith("hr: +0.100 AP [+0.080, +0.120] over bicubic, interval excludes 0; the upper bound")
    assert lines[1].startswith("lr: -0.001 AP [-0.020, +0.018] vs bicubic, interval includes 0; the LR image")
    assert lines[2] == "bicubic: AP 0.350, the baseline; SR 0.010 s/img on this machine"


def test_best_verdict_says_whether_sr_helps():
    assert best_verdict(results()) == (
        "Verdict: SR helps this detector. Best: good, +0.055 AP [+0.030, +0.080] over bicubic, 55% of the way from "
        "bicubic to HR (significant after Holm over 2), for SR 1.100 s/img on this machine (cached: cost measured when "
        "first computed)."
    )
    not_significant = best_verdict(results(good_p=0.2))
    assert not_significant is not None
    assert not_significant.startswith("Verdict: no SR condition is told apart from bicubic on 128 images after Holm over 2")
    assert "(largest ΔAP: good +0.055 [+0.030, +0.080], p 0.200)" in not_significant
    no_family = results()
    no_family["deltas"]["vs_bicubic"] = {k: v for k, v in no_family["deltas"]["vs_bicubic"].items() if k in ("hr", "lr")}
    assert best_verdict(no_family) is None


def test_summary_and_report_open_with_the_verdict():
    res = results()
    summary = render_summary(res).splitlines()
    assert summary[:6] == [*verdict_lines(res), best_verdict(res)]
    assert summary[6] == ""
    assert summary[7].startswith("condition ")
    md = render_markdown(res)
    top = md.split("\n## ")[0]
    assert top.index("- good: +0.055 AP") < top.index("- Verdict: SR helps") < top.index("- data: ")
    for line in verdict_lines(res):
        assert f"- {line}" in top


def test_plots_are_embedded_under_their_tables():
    md = render_markdown(results())
    sections = {s.split("\n")[0]: s for s in md.split("\n## ")[1:]}
    acc = sections["Accuracy, quality and cost per condition"]
    assert "![AP by object size](ap_by_size.png)" in acc
    assert "](gain_vs_cost.png)" in acc
    assert "120 small" in acc
    assert "90 medium" in acc
    assert "53 large" in acc
    assert "](delta_ap_vs_psnr.png)" in sections["Deltas vs bicubic (95% CI)"]
    # cached costs are marked as such in the table, and the mark is explained
    row = next(line for line in acc.splitlines() if line.startswith("| good |"))
    assert "| 1.100 (cached) | 0.050 (cached) |" in row
    assert "(cached): outputs reused from the cache (made by an earlier run" in acc


def test_per_class_rows_carry_counts_and_small_classes_are_folded():
    md = render_markdown(results())
    section = md.split("## Per-class AP delta vs bicubic")[1]
    assert "| person | 250 | 0.400 | n/a | n/a | +0.050 | 0.000 |" in section
    assert f"| zebra | {MIN_CLASS_BOXES} |" in section
    assert "toaster" not in section
    assert "hair drier" not in section
    assert f"2 classes with fewer than {MIN_CLASS_BOXES} boxes (3 boxes in all) are not listed" in section


def test_counts_take_the_number_of_their_noun():
    res = copy.deepcopy(results())
    del res["per_class"]["4"]  # one small class left: the toaster, 1 box
    section = render_markdown(res).split("## Per-class AP delta vs bicubic")[1]
    assert f"1 class with fewer than {MIN_CLASS_BOXES} boxes (1 box in all) is not listed" in section
    assert [count(n, "class", "classes") for n in (0, 1, 2)] == ["0 classes", "1 class", "2 classes"]
    assert count(1, "image") == "1 image" and count("?", "image") == "? images"


@pytest.mark.parametrize("value", [-0.004, -0.0001, -1e-9])
def test_no_minus_zero(value):
    assert pct(value) == "0%"
    assert signed(value / 10) == "0.000"
    res = copy.deepcopy(results())
    res["deltas"]["vs_bicubic"]["flat"]["AP_gap_recovered"]["estimate"] = value
    text = render_summary(res) + render_markdown(res)
    assert "-0%" not in text
    assert "-0.000" not in text
    assert "−0" not in text

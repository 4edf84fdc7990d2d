"""The report's headline: the share of the bicubic->HR (and lr->HR) AP gap each condition recovers, with its CI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sr4det.data.datasets import load_coco
from sr4det.data.io import read_image
from sr4det.detectors.base import Detections
from sr4det.evaluation import bootstrap, compare
from sr4det.evaluation.conditions import HRCondition, LRCondition, SRCondition, SRSpec
from sr4det.evaluation.report import headline, render_markdown

from .test_runner import NAMES, SIZES, Oracle, make_dataset


def _hr(path, i):
    h, w = SIZES[i]
    return read_image(path.parent.parent / "images" / f"{i}.png")[0][: h - h % 4, : w - w % 4]


class ExactOracle(Oracle):
    """Finds the objects only in the exact HR pixels: hr is perfect, lr and bicubic find nothing."""

    def __init__(self, path, hr):
        super().__init__(path)
        self.hr = {im.shape[:2]: im for im in hr}

    def __call__(self, images):
        out = super().__call__(images)
        return [
            d if np.array_equal(im, self.hr.get(im.shape[:2])) else Detections(np.zeros((0, 4)), [], [], NAMES, d.image_size)
            for im, d in zip(images, out, strict=True)
        ]


class Cheat(SRCondition):
    """'SR' that gives back the HR image for some images (bicubic for the others): a known share of the gap."""

    def __init__(self, name, hr):
        super().__init__(name, spec=SRSpec(name, "bicubic"))
        self.by_lr = {(im.shape[0] // 4, im.shape[1] // 4): im for im in hr}

    def upscale(self, lr, tile):
        hit = self.by_lr.get(lr.shape[:2])
        return (hit.copy(), "cheat") if hit is not None else super().upscale(lr, tile)


def test_gap_share_and_its_interval_in_results_and_report(tmp_path):
    path = make_dataset(tmp_path / "ds")
    hr = [_hr(path, i) for i in range(len(SIZES))]
    conditions = [HRCondition("hr"), LRCondition("lr"), SRCondition("bicubic"), Cheat("half", hr[::2]), Cheat("all", hr)]
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
    c = res["conditions"]
    assert c["hr"]["AP"] == pytest.approx(1)
    assert c["bicubic"]["AP"] == 0
    assert c["lr"]["AP"] == 0
    assert 0 < c["half"]["AP"] < 1
    vs_bic = res["deltas"]["vs_bicubic"]
    assert vs_bic["all"]["AP_gap_recovered"]["estimate"] == pytest.approx(1)
    g = vs_bic["half"]["AP_gap_recovered"]
    assert g["estimate"] == pytest.approx(c["half"]["AP"])
    assert g["gap"] == pytest.approx(1)  # (AP - 0) / (1 - 0)
    assert g["ci_low"] < g["estimate"] < g["ci_high"]  # images resampled
    assert g["ci_low"] >= 0
    assert g["ci_high"] <= 1
    assert res["deltas"]["vs_lr"]["bicubic"]["AP_gap_recovered"]["estimate"] == 0
    assert "hr" not in [k for k, v in vs_bic.items() if "AP_gap_recovered" in v]
    pct = f"{100 * g['estimate']:.0f}% [{100 * g['ci_low']:.0f}%, {100 * g['ci_high']:.0f}%] of the bicubic->HR AP gap"
    assert c["half"]["headline"] == f"half recovers {pct} (gap 1.000 AP) and " + _lr_part(res, "half")
    assert c["hr"]["headline"] is None
    assert c["lr"]["headline"] is None
    md = (tmp_path / "out" / "report.md").read_text()
    top = md.split("## ")[0]  # before the first section: the verdict, one line per condition
    d = vs_bic["half"]["AP"]
    share = f"recovers {pct.removesuffix(' AP gap')}"
    assert f"- half: {d['delta']:+.3f} AP [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}] over bicubic, " in top
    assert share in top.split("- half: ")[1].splitlines()[0]
    assert "- all: +1.000 AP" in top
    assert "recovers 100% [100%, 100%] of the bicubic->HR gap" in top
    assert "- lr: 0.000 AP [0.000, 0.000] vs bicubic, interval includes 0; the LR image given to the detector" in top
    assert "- Verdict: SR helps this detector. Best: all, +1.000 AP" in top
    assert "| detector.type | oracle |" in md  # settings as a table, not a dict
    assert "{'type'" not in md
    assert json.loads((tmp_path / "out" / "results.json").read_text())["conditions"]["half"]["headline"] == c["half"]["headline"]


def _lr_part(res, name):
    g = res["deltas"]["vs_lr"][name]["AP_gap_recovered"]
    return f"{100 * g['estimate']:.0f}% [{100 * g['ci_low']:.0f}%, {100 * g['ci_high']:.0f}%] of the lr->HR AP gap (gap 1.000 AP)"


def test_no_gap_is_na_not_a_division_by_zero():
    deltas = {"vs_bicubic": {"x": {"AP_gap_recovered": {"estimate": None, "ci_low": None, "ci_high": None, "gap": -0.01}}}}
    assert headline("x", deltas) == "x recovers n/a of the bicubic->HR AP gap (HR is not better than bicubic here)"


def test_gap_fraction_ci():
    rng = np.random.default_rng(0)
    base, top = rng.normal(0.2, 0.01, 500), rng.normal(0.4, 0.01, 500)
    cond = base + 0.5 * (top - base)
    lo, hi = bootstrap.gap_fraction_ci(cond, base, top, estimate=0.5)
    assert lo == pytest.approx(0.5)
    assert hi == pytest.approx(0.5)
    lo, hi = bootstrap.gap_fraction_ci(cond + rng.normal(0, 0.02, 500), base, top)
    assert lo < 0.5 < hi
    # most resamples without a gap: no interval rather than one made of the few that have it
    assert np.isnan(bootstrap.gap_fraction_ci(cond, base, base - 0.01 + 0.02 * (rng.random(500) < 0.1))[0])


def test_report_of_an_older_results_json_without_gap_entries_still_renders():
    base = {k: 0.3 for k in ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100")}
    results = {
        "conditions": {"hr": base, "bicubic": {**base, "psnr": 25.0}},
        "deltas": {
            "vs_bicubic": {
                "hr": {
                    "AP": {"delta": 0.1, "ci_low": 0.0, "ci_high": 0.2},
                    "AP50": {"delta": 0.1, "ci_low": None, "ci_high": None},
                }
            }
        },
        "skipped_images": [],
        "n_skipped": 0,
        "n_images": 1,
        "dataset": {"source": "d.json", "format": "coco", "n_boxes": 3, "n_crowd": 0, "mod_crop": 4, "sha256": "ab" * 32},
        "config": {
            "scale": 4,
            "degradation": {"scale": 4},
            "detector": {"type": "x"},
            "backend": "pycocotools",
            "psnr_ssim": "Y",
            "memory": "cpu_rss",
            "sr_backend": "tiler",
            "tile": "auto",
            "bootstrap": {"confidence": 0.95},
        },
    }
    md = render_markdown(results)
    assert "recovers" not in md
    assert "| degradation.scale | 4 |" in md
    assert "whole-process" in md


def test_cli_summary_without_a_baseline_is_the_table():
    from sr4det.evaluation import render_summary

    m = {"AP": 0.3, "AP50": 0.5, "psnr": None, "sr_seconds_per_image": 0.0, "detector_seconds_per_image": 0.1}
    results = {
        "conditions": {
            "hr": {**m, "headline": None},
            "x": {**m, "headline": "x recovers 50% [10%, 90%] of the bicubic->HR AP gap"},
        },
        "deltas": {},
        "n_skipped": 0,
    }
    # no bicubic, no deltas: no verdict lines, the table alone
    assert render_summary(results).splitlines()[0].startswith("condition ")

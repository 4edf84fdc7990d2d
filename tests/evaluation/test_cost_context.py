"""Costs that say how they were measured: CPU seconds and load average beside wall seconds per step, a busy machine
named as such, costs reused from the cache marked, and a start-up line before the first model loads."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from sr4det.data.datasets import load_coco
from sr4det.evaluation import _cost, compare, render_summary
from sr4det.evaluation.conditions import HRCondition, LRCondition, SRCondition, SRSpec
from sr4det.evaluation.report import render_markdown

from .test_runner import SIZES, Oracle, make_dataset

N = len(SIZES)
STEPS = N * (1 + 1 + 2 + 2)  # detections of hr and lr, SR outputs and detections of bicubic and busy


class Busy(SRCondition):
    """Bilinear that burns ~20 ms of CPU per call (a real SR model's work) and notes when its model loads."""

    def load(self, scale, device=None):
        print("MODEL LOADS", file=sys.stderr, flush=True)
        return super().load(scale, device)

    def upscale(self, lr, tile):
        x = np.random.default_rng(0).random((200, 200))
        for _ in range(8):
            x = x @ x / 200
        return super().upscale(lr, tile)


def _run(tmp_path, out, progress=False, cache=True):
    path = tmp_path / "ds" / "annotations.json"
    if not path.exists():
        path = make_dataset(tmp_path / "ds")
    conditions = [HRCondition("hr"), LRCondition("lr"), SRCondition("bicubic"), Busy("busy", spec=SRSpec("busy", "bilinear"))]
    return compare(
        load_coco(path),
        Oracle(path),
        conditions=conditions,
        scale=4,
        n_resamples=50,
        cache_dir=tmp_path / "cache" if cache else False,
        progress=progress,
        out_dir=tmp_path / out,
    )


def test_cpu_time_and_load_beside_wall_time_and_cached_costs_marked(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(_cost, "load_average", lambda: 0.25)
    res = _run(tmp_path, "a", progress=True)
    err = capsys.readouterr().err
    # the start-up line comes before the first model loads, the cache count before the SR starts
    assert err.index(f"compare: {N} images x 4 conditions (hr, lr, bicubic, busy) at x4") < err.index("MODEL LOADS")
    assert f"cached: 0 of {STEPS} SR outputs and detections; computing the other {STEPS}" in err
    assert "2 SR condition(s) new to this cache (bicubic, busy)" in err  # said before the first model loads
    assert err.index("new to this cache") < err.index("MODEL LOADS")
    m = res["conditions"]["busy"]
    assert m["sr_cpu_seconds_per_image"] > 0
    assert m["detector_cpu_seconds_per_image"] >= 0
    assert m["sr_load_average"] == pytest.approx(0.25)
    assert m["sr_machine_busy"] is False
    assert res["conditions"]["hr"]["sr_machine_busy"] is None  # no SR step
    assert res["machine"]["cores_used"] >= 1
    assert len(res["machine"]["load_average"]) == 3
    md = (tmp_path / "a" / "report.md").read_text()
    assert "### Cost on this machine: wall time, CPU time and load" in md
    assert "(cached)" not in md
    # the cache entries store them, so a rerun reports the cost of the run that measured them, marked cached
    monkeypatch.setattr(_cost, "load_average", lambda: 7.0)  # what a second run would see
    again = _run(tmp_path, "b", progress=True)
    err = capsys.readouterr().err
    # the rerun counts its cached entries before any SR model loads (the model digests the cache remembered)
    forecast = f"cached: {STEPS} of {STEPS} SR outputs and detections of {N} images; nothing to compute"
    assert err.index(forecast) < err.index("MODEL LOADS")
    assert err.count("cached: ") == 1  # the exact count after loading is not repeated when the forecast was complete
    m2 = again["conditions"]["busy"]
    assert m2["sr_cached"] == m2["detections_cached"] == N
    assert m2["sr_cpu_seconds_per_image"] == m["sr_cpu_seconds_per_image"]
    assert m2["sr_load_average"] == pytest.approx(0.25)
    md = (tmp_path / "b" / "report.md").read_text()
    assert "(cached)" in md.split("## Accuracy")[1].split("| busy |")[1].splitlines()[0]
    assert "cached: cost measured when first computed" in render_summary(again)
    saved = json.loads((tmp_path / "b" / "results.json").read_text())
    assert saved["conditions"]["busy"]["sr_load_average"] == pytest.approx(0.25)


def test_a_busy_machine_is_named_and_its_costs_called_inflated(tmp_path, monkeypatch):
    monkeypatch.setattr(_cost, "load_average", lambda: 64.0)  # far above any core count the run could use
    res = _run(tmp_path, "out", cache=False)
    m = res["conditions"]["busy"]
    assert m["sr_machine_busy"] is True
    assert m["detector_machine_busy"] is True
    summary = render_summary(res)
    assert "busy machine: inflated" in summary
    assert "The machine was busy while hr, lr, bicubic, busy ran" in summary
    md = render_markdown(res)
    row = next(line for line in md.splitlines() if line.startswith("| busy |") and "(busy)" in line)
    assert row
    assert "(busy): measured while other processes used the cores" in md

"""compare's cost columns: warm-up excluded, independent of the condition order, memory = the step's own peak."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from sr4det.data.datasets import load_coco
from sr4det.evaluation import compare
from sr4det.evaluation.conditions import HRCondition, LRCondition, SRCondition, SRSpec

from .test_runner import Oracle, make_dataset

WARMUP_S = 1.0


class ColdStart(Oracle):
    """An oracle whose very first call is slow (a model that initialises lazily) and whose later calls take time
    in proportion to the pixels (lr is 16x cheaper than hr)."""

    def __call__(self, images):
        time.sleep(WARMUP_S if self.calls == 0 else 0.004 + 4e-6 * images[0].shape[0] * images[0].shape[1])
        return super().__call__(images)


class SlowFirstSR(SRCondition):
    """Bicubic whose first call after each load is slow (lazy kernel selection, a model moved to the device)."""

    def load(self, scale, device=None):
        self.fresh = True
        return super().load(scale, device)

    def upscale(self, lr, tile):
        if self.fresh:
            time.sleep(WARMUP_S)
            self.fresh = False
        return super().upscale(lr, tile)


class Hungry(SRCondition):
    """Bicubic that also touches a 256 MiB temporary during the step (an SR model's activations)."""

    def upscale(self, lr, tile):
        tmp = np.ones(256 * 2**20, np.uint8)
        time.sleep(0.05)
        del tmp
        return super().upscale(lr, tile)


def _conditions(order):
    by_name = {
        "hr": HRCondition("hr"),
        "lr": LRCondition("lr"),
        "bicubic": SRCondition("bicubic"),
        "slow": SlowFirstSR("slow", spec=SRSpec("slow", "bicubic")),
    }
    return [by_name[n] for n in order]


@pytest.mark.parametrize(
    "order", [("hr", "lr", "bicubic", "slow"), ("slow", "bicubic", "lr", "hr"), ("lr", "slow", "hr", "bicubic")]
)
def test_costs_exclude_the_warm_up_and_do_not_depend_on_the_condition_order(tmp_path, order):
    path = make_dataset(tmp_path / "ds")
    res = compare(
        load_coco(path), ColdStart(path), conditions=_conditions(order), scale=4, n_resamples=0, cache_dir=False, progress=False
    )
    conds = res["conditions"]
    assert list(conds) == list(order)
    det = {n: conds[n]["detector_seconds_per_image"] for n in conds}
    # the 1 s cold start would add >= 0.2 s to the mean over 5 images of whichever condition ran first
    assert max(det.values()) < 0.1, det
    assert min(det, key=det.get) == "lr", det
    assert det["lr"] < det["hr"], det
    assert det["lr"] < det["bicubic"], det
    assert conds["slow"]["sr_seconds_per_image"] < 0.2, conds["slow"]["sr_seconds_per_image"]
    assert conds["hr"]["sr_seconds_per_image"] == 0.0
    assert conds["lr"]["sr_seconds_per_image"] == 0.0


def test_memory_is_the_sr_steps_own_peak(tmp_path):
    path = make_dataset(tmp_path / "ds")
    conditions = [
        HRCondition("hr"),
        LRCondition("lr"),
        SRCondition("bicubic"),
        Hungry("hungry", spec=SRSpec("hungry", "bicubic")),
    ]
    res = compare(
        load_coco(path), Oracle(path), conditions=conditions, scale=4, n_resamples=0, cache_dir=False, progress=False, limit=2
    )
    conds = res["conditions"]
    assert 200 < conds["hungry"]["sr_peak_memory_mb"] < 400, conds["hungry"]["sr_peak_memory_mb"]
    # not the whole process (torch alone is several hundred MB resident): bicubic on 80x64 pixels needs ~nothing
    assert conds["bicubic"]["sr_peak_memory_mb"] < 50, conds["bicubic"]["sr_peak_memory_mb"]
    assert conds["hr"]["sr_peak_memory_mb"] == 0.0
    assert conds["hungry"]["detector_peak_memory_mb"] < 50
    assert res["config"]["memory"] == "cpu_rss_delta"
    assert "peak_memory_mb" not in conds["hr"]


def test_cost_of_an_older_cache_entry_is_not_reported_but_its_output_is_used(tmp_path):
    path = make_dataset(tmp_path / "ds")
    kw = dict(sr=["bicubic"], scale=4, n_resamples=0, cache_dir=tmp_path / "cache", progress=False)
    first = compare(load_coco(path), Oracle(path), **kw)
    cache = tmp_path / "cache"  # its SR and detection entries (not the remembered model digests, cache/models)
    for entry in [*cache.glob("sr/*/*.json"), *cache.glob("det/*/*.json")]:  # as written before warm-up and step memory
        v = json.loads(entry.read_text())
        v["peak_mb"] = 900.0
        del v["warm"], v["peak_delta_mb"]
        entry.write_text(json.dumps(v))
    det = Oracle(path)
    second = compare(load_coco(path), det, **kw)
    assert det.calls == 0  # the outputs are still valid
    for name, m in second["conditions"].items():
        assert m["AP"] == first["conditions"][name]["AP"]
        assert m["cost_unmeasured_images"] == 5
        assert m["detector_seconds_per_image"] is None
        assert m["detector_peak_memory_mb"] is None
    assert second["conditions"]["bicubic"]["sr_seconds_per_image"] is None
    assert second["conditions"]["bicubic"]["psnr"] == first["conditions"]["bicubic"]["psnr"]

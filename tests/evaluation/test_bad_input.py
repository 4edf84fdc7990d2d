"""The compare cache survives what a killed run or another version leaves in it: orphaned temp files are
removed, and entries that are valid JSON of the wrong shape are recomputed instead of crashing the run."""

from __future__ import annotations

import json
import os
import time

import pytest

from sr4det.data.datasets import load_coco
from sr4det.evaluation import compare
from sr4det.evaluation.cache import CompareCache

from .test_runner import Oracle, make_dataset


def _age(path, seconds):
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_old_orphaned_tmp_files_are_removed_when_the_cache_opens(tmp_path):
    root = tmp_path / "cache"
    (root / "det" / "ab").mkdir(parents=True)
    (root / "sr" / "cd").mkdir(parents=True)
    old_json_tmp = root / "det" / "ab" / "abc.json.x1y2.tmp"
    old_png_tmp = root / "sr" / "cd" / "tmpq1w2.png.tmp"
    fresh_tmp = root / "det" / "ab" / "abd.json.z9.tmp"  # may belong to a run that is writing right now
    entry = root / "det" / "ab" / "abc.json"
    for p in (old_json_tmp, old_png_tmp, fresh_tmp, entry):
        p.write_text("{}")
    for p in (old_json_tmp, old_png_tmp, entry):
        _age(p, 2 * 3600)
    cache = CompareCache(root)
    assert cache.removed_orphans == 2
    assert not old_json_tmp.exists()
    assert not old_png_tmp.exists()
    assert fresh_tmp.exists()  # young temp files and real entries stay
    assert entry.exists()


def test_missing_or_disabled_cache_root_is_fine(tmp_path):
    assert CompareCache(tmp_path / "not-yet").removed_orphans == 0
    assert CompareCache(None).removed_orphans == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"foo": 1},  # other keys entirely
        {"boxes": [[1, 2, 3, 4]], "scores": [], "labels": [0], "image_size": [8, 8], "seconds": 0.1, "peak_mb": 1},
        {"boxes": [], "scores": [], "labels": [], "image_size": 8, "seconds": 0.1, "peak_mb": 1},
        {"boxes": [], "scores": [], "labels": [], "image_size": [8, 8], "seconds": "fast", "peak_mb": 1},
        [1, 2, 3],  # valid JSON, not an object
    ],
)
def test_detection_entry_of_the_wrong_shape_is_recomputed(tmp_path, bad):
    path = make_dataset(tmp_path / "ds")
    kw = dict(sr=[], scale=4, n_resamples=0, cache_dir=tmp_path / "cache", progress=False)
    first = compare(load_coco(path), Oracle(path), **kw)
    victim = sorted((tmp_path / "cache").glob("det/*/*.json"))[0]
    victim.write_text(json.dumps(bad))
    det = Oracle(path)
    second = compare(load_coco(path), det, **kw)
    assert det.calls == 1 + 1  # only the bad entry was recomputed (after one untimed warm-up call)
    assert second["conditions"]["hr"]["AP"] == first["conditions"]["hr"]["AP"]
    assert set(json.loads(victim.read_text())) >= {"boxes", "scores", "labels", "image_size"}  # and rewritten


def test_sr_metadata_entry_of_the_wrong_shape_is_recomputed(tmp_path):
    path = make_dataset(tmp_path / "ds")
    kw = dict(sr=["bicubic"], scale=4, n_resamples=0, cache_dir=tmp_path / "cache", progress=False)
    first = compare(load_coco(path), Oracle(path), **kw)
    for meta in sorted((tmp_path / "cache").glob("sr/*/*.json")):
        meta.write_text(json.dumps({"seconds": 1.0}))  # psnr, ssim, peak_mb missing
    second = compare(load_coco(path), Oracle(path), **kw)
    assert second["conditions"]["bicubic"]["sr_cached"] == 0
    assert second["conditions"]["bicubic"]["psnr"] == first["conditions"]["bicubic"]["psnr"]


# ------------------------------------------------------------------------------------------------ CIs contain their estimate


def test_paired_delta_ci_always_contains_the_point_estimate():
    import numpy as np

    from sr4det.evaluation import bootstrap

    a, b = np.full(50, 0.30000000000000004), np.full(50, 0.1)  # every resample equal (one image): d = 0.2 + 4e-17
    estimate = 0.19999999999999998
    lo, hi = bootstrap.paired_delta_ci(a, b, estimate=estimate)
    assert lo <= estimate <= hi
    assert bootstrap.paired_delta_ci(a, b)[0] > estimate  # the raw percentile misses it: the case that crashed the plot
    assert bootstrap.paired_delta_ci(np.arange(10.0), np.zeros(10), estimate=4.5) == bootstrap.paired_delta_ci(
        np.arange(10.0), np.zeros(10)
    )


def test_compare_limit_1_with_rounding_in_the_bootstrap_writes_its_plots(tmp_path, monkeypatch):
    from sr4det.evaluation import bootstrap

    real = bootstrap.bootstrap_ap

    def off_by_rounding(*args, **kwargs):  # the re-accumulated AP differs from the headline AP in the last bit
        boot = real(*args, **kwargs)
        for name, per_key in boot.items():
            for key in per_key:
                per_key[key] = per_key[key] + (1e-16 if name != "bicubic" else 0.0)
        return boot

    monkeypatch.setattr(bootstrap, "bootstrap_ap", off_by_rounding)
    path = make_dataset(tmp_path / "d")
    out = tmp_path / "out"
    # one image: every resample is that image, a zero-width interval calling any difference significant; since
    # issue 26 no interval is reported below scoring.MIN_BOOTSTRAP_IMAGES, and the warning and report say so
    with pytest.warns(UserWarning, match="no confidence intervals or p-values: 1 image"):
        res = compare(
            load_coco(path),
            Oracle(path),
            sr=["bicubic2=bicubic"],
            scale=4,
            cache_dir=False,
            progress=False,
            limit=1,
            n_resamples=20,
            out_dir=out,
        )
    for entry in res["deltas"]["vs_bicubic"].values():
        d = entry["AP"]
        assert d["ci_low"] is None and d["ci_high"] is None and d["p"] is None
        assert d["delta"] is not None
    assert (out / "delta_ap_vs_psnr.png").is_file()
    assert "no confidence intervals or p-values: 1 image(s) evaluated" in (out / "report.md").read_text()


def test_report_plots_an_old_results_json_whose_ci_misses_the_estimate(tmp_path):
    from sr4det.evaluation.report import plot

    conds = {
        n: {
            "AP": 0.5,
            "AP50": 0.6,
            "APs": None,
            "APm": 0.5,
            "APl": 0.5,
            "psnr": 25.0,
            "sr_seconds_per_image": 0.1,
            "detector_seconds_per_image": 0.1,
            "sr_peak_memory_mb": 1.0,
        }
        for n in ("hr", "lr", "bicubic", "x")
    }
    results = {
        "conditions": conds,
        "deltas": {"vs_bicubic": {"x": {"AP": {"delta": 0.1, "ci_low": 0.1 + 1e-16, "ci_high": 0.2}}}},
    }
    written = plot(results, tmp_path)
    assert any(p.name == "delta_ap_vs_psnr.png" for p in written)


def test_cache_folder_that_is_a_file_is_an_input_error_before_work(tmp_path):
    from sr4det.errors import InputError
    from sr4det.evaluation.config import CompareConfig

    blocker = tmp_path / "afile"
    blocker.write_text("x")
    for cache in (blocker, blocker / "sub"):
        with pytest.raises(InputError, match="choose another cache folder"):
            CompareCache.from_option(cache)
        with pytest.raises(InputError, match="--no-cache"):
            CompareConfig(data="d.json", detector="det", out=str(tmp_path / "out"), cache=str(cache)).checked()


@pytest.mark.parametrize("limit", [0, -3])
def test_compare_limit_must_be_positive(tmp_path, limit):
    from sr4det.errors import InputError
    from sr4det.evaluation.config import CompareConfig

    with pytest.raises(InputError, match=r"limit \(--limit\) must be a positive number of images"):
        CompareConfig(data="d.json", detector="det", out=str(tmp_path / "out"), limit=limit).checked()
    path = make_dataset(tmp_path / "ds")
    with pytest.raises(InputError, match="must be a positive number of images"):
        compare(load_coco(path), Oracle(path), sr=[], scale=4, n_resamples=0, cache_dir=False, limit=limit, progress=False)


def test_an_sr_model_that_does_not_load_stops_the_run_before_any_work(tmp_path):
    """A broken weight file among the conditions fails at the start, not after the conditions before it ran."""
    from sr4det.errors import WeightsError

    path = make_dataset(tmp_path / "ds")
    broken = tmp_path / "espcn_x4.pth"
    broken.write_bytes(b"not a torch file")
    det = Oracle(path)
    with pytest.raises(WeightsError, match="espcn_x4.pth"):
        compare(
            load_coco(path),
            det,
            sr=["bicubic", f"broken={broken}"],
            scale=4,
            n_resamples=0,
            cache_dir=tmp_path / "cache",
            progress=False,
        )
    assert det.calls == 0  # hr, lr and bicubic were not run first
    assert not (tmp_path / "cache" / "det").exists()


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs a folder no process may write to (Linux /proc)")
def test_cache_folder_that_takes_no_files_is_an_input_error_before_work():
    """Even root cannot create files in /proc/self: the stand-in for a read-only cache folder."""
    from sr4det.errors import InputError

    with pytest.raises(InputError, match=r"is not writable .*--no-cache"):
        CompareCache.from_option("/proc/self")

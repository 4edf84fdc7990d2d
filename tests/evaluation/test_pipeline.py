"""compare's pipeline (sr4det/evaluation/_pipeline.py, and the threads of sr4det/_overlap.py): each image's LR made
once, the prefetch and writer threads give the serial loop's results and cache, and their errors surface typed with
nothing half-written. The threads on their own: tests/test_overlap.py."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from sr4det import _overlap
from sr4det._overlap import background_thread
from sr4det.data.datasets import load_coco
from sr4det.degradation import DegradationSpec
from sr4det.errors import DataError, DiskFullError
from sr4det.evaluation import _pipeline, _sr_ahead, compare
from sr4det.evaluation._cost import _StepClock
from sr4det.evaluation.cache import CompareCache

from .test_runner import Oracle, make_dataset

SAME = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100", "psnr", "ssim", "n_detections", "sr_cached", "detections_cached")


def _serial(monkeypatch) -> None:
    """The loop as before the pipeline: everything inline in the main thread, no LR kept between conditions."""
    monkeypatch.setattr(_sr_ahead, "ENABLED", False)
    monkeypatch.setattr(_overlap, "PREFETCH", 0)
    monkeypatch.setattr(_overlap, "WRITE_QUEUE", 0)
    monkeypatch.setattr(_pipeline, "LR_STORE_BYTES", 0)


def _run(path, cache, sr, **kw):
    return compare(load_coco(path), Oracle(path), sr=sr, scale=4, n_resamples=100, cache_dir=cache, progress=False, **kw)


def _entries(cache: Path) -> dict[str, bytes]:
    """Every cache file by its path under the cache (JSON without the measured cost, which differs run to run)."""
    import json

    out = {}
    for p in sorted(cache.rglob("*.*")):
        rel = str(p.relative_to(cache))
        if p.suffix == ".json":
            v = json.loads(p.read_text())
            for k in ("seconds", "peak_delta_mb", "cpu_seconds", "load_1min"):
                v.pop(k, None)
            out[rel] = json.dumps(v, sort_keys=True).encode()
        elif p.suffix == ".png":
            out[rel] = p.read_bytes()
    return out


def _no_pipeline_threads() -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith("sr4det-")]


def test_pipeline_gives_the_serial_results_cache_and_saved_images(tmp_path, monkeypatch, tiny_sr):
    path = make_dataset(tmp_path / "ds")
    sr = ["bicubic", f"tiny={tiny_sr}"]
    piped = _run(path, tmp_path / "c1", sr, save_images=tmp_path / "s1")
    with monkeypatch.context() as m:
        _serial(m)
        serial = _run(path, tmp_path / "c2", sr, save_images=tmp_path / "s2")
    for name, cond in serial["conditions"].items():
        for key in SAME:
            assert piped["conditions"][name][key] == cond[key], (name, key)
    assert piped["deltas"] == serial["deltas"]
    assert _entries(tmp_path / "c1") == _entries(tmp_path / "c2")  # same keys, same images, same metadata
    outputs = [k for k in _entries(tmp_path / "c1") if k.startswith(("det/", "sr/"))]
    assert len(outputs) == 5 * 4 + 5 * 2 * 2  # detections of 4 conditions, SR image + metadata of 2
    saved = sorted(p.relative_to(tmp_path / "s1") for p in (tmp_path / "s1").rglob("*.png"))
    assert saved == sorted(p.relative_to(tmp_path / "s2") for p in (tmp_path / "s2").rglob("*.png")) and len(saved) == 10
    for rel in saved:
        assert (tmp_path / "s1" / rel).read_bytes() == (tmp_path / "s2" / rel).read_bytes()
    # a rerun reads everything back from the cache through the prefetch: same results
    again = _run(path, tmp_path / "c1", sr)
    assert again["conditions"]["tiny"]["sr_cached"] == 5 and again["conditions"]["lr"]["detections_cached"] == 5
    for name, cond in piped["conditions"].items():
        for key in SAME[:-2]:
            assert again["conditions"][name][key] == cond[key], (name, key)
    assert _no_pipeline_threads()


def test_each_images_lr_is_made_once_for_all_conditions(tmp_path, monkeypatch):
    path = make_dataset(tmp_path / "ds")
    made = []
    call = DegradationSpec.__call__

    def counted(self, hr, *a, **k):
        made.append(hr.shape)
        return call(self, hr, *a, **k)

    monkeypatch.setattr(DegradationSpec, "__call__", counted)
    _run(path, False, ["bicubic", "bilinear"])  # lr, bicubic and bilinear need the LR of each of the 5 images
    assert len(made) == 5 and len(set(made)) == 5
    made.clear()
    monkeypatch.setattr(_pipeline, "LR_STORE_BYTES", 0)  # no room to keep them: made per condition, as before
    _run(path, False, ["bicubic", "bilinear"])
    assert len(made) == 15


def test_lr_store_keeps_the_first_images_within_its_budget_and_hands_out_copies():
    made = []

    def degrade(hr):
        made.append(1)
        return hr[::2, ::2].copy()

    store = _pipeline.LRStore(degrade, max_bytes=2 * 4 * 4 * 3)  # room for two 4x4 LRs
    hrs = [np.full((8, 8, 3), i, np.uint8) for i in range(3)]
    for _ in range(2):  # two conditions visit the three images in order
        for i, hr in enumerate(hrs):
            lr = store.get(f"k{i}", hr)
            assert (lr == i).all()
            lr[:] = 255  # a consumer writing into its input changes nothing stored
    assert len(made) == 3 + 1  # the third image did not fit: made again
    assert store.made == 4


def test_a_failed_cache_write_is_the_same_typed_error_and_leaves_no_metadata_without_its_image(tmp_path, monkeypatch, tiny_sr):
    path = make_dataset(tmp_path / "ds")
    put_image = CompareCache.put_image
    calls = []

    def full_at_the_third(self, key, image):
        calls.append(key)
        if len(calls) == 3:
            raise DiskFullError(28, "no room to write x: the disk (or quota) is full; run the same command again")
        put_image(self, key, image)

    monkeypatch.setattr(CompareCache, "put_image", full_at_the_third)
    monkeypatch.setattr(_sr_ahead, "ENABLED", False)  # the writer thread's path (the SR worker's: test_sr_ahead.py)
    cache = tmp_path / "cache"
    with pytest.raises(DiskFullError, match="run the same command again"):
        _run(path, cache, ["bicubic", f"tiny={tiny_sr}"])
    assert _no_pipeline_threads()
    images = {p.stem for p in cache.glob("sr/*/*.png")}
    metas = {p.stem for p in cache.glob("sr/*/*.json")}
    assert len(images) == 2 and metas <= images  # written image first; the failed image's metadata never
    assert not list(cache.rglob("*.tmp")) and not [p for p in cache.rglob("*") if ".sr4det-tmp" in p.name]
    monkeypatch.setattr(CompareCache, "put_image", put_image)  # space freed: the rerun resumes, same results
    resumed = _run(path, cache, ["bicubic", f"tiny={tiny_sr}"])
    clean = _run(path, False, ["bicubic", f"tiny={tiny_sr}"])
    for name, cond in clean["conditions"].items():
        for key in SAME[:-2]:
            assert resumed["conditions"][name][key] == cond[key], (name, key)
    assert resumed["conditions"]["bicubic"]["sr_cached"] == 2


def test_a_decode_error_in_the_prefetch_is_raised_typed_in_the_main_thread(tmp_path, monkeypatch):
    from sr4det.evaluation import shard

    path = make_dataset(tmp_path / "ds")
    load_hr = shard.load_hr
    seen = []

    def vanishing(im):  # the image check passed; the file goes bad before the bicubic condition reads it
        seen.append(threading.current_thread().name)
        if len(seen) == 8:
            raise DataError(f"{im.file_name}: unreadable")
        return load_hr(im)

    monkeypatch.setattr(shard, "load_hr", vanishing)
    with pytest.raises(DataError, match="unreadable"):
        _run(path, tmp_path / "cache", ["bicubic"])
    assert "sr4det-prefetch" in seen  # read ahead in the prefetch thread, raised here
    assert _no_pipeline_threads()


def test_keyboard_interrupt_stops_the_threads_and_leaves_only_complete_entries(tmp_path):
    path = make_dataset(tmp_path / "ds")

    class Interrupted(Oracle):
        def __call__(self, images):
            if self.calls == 9:  # in the bicubic condition
                raise KeyboardInterrupt
            return super().__call__(images)

    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        compare(load_coco(path), Interrupted(path), sr=["bicubic"], scale=4, n_resamples=0, cache_dir=cache, progress=False)
    assert _no_pipeline_threads()
    assert {p.stem for p in cache.glob("sr/*/*.json")} <= {p.stem for p in cache.glob("sr/*/*.png")}
    assert not [p for p in cache.rglob("*") if p.name.endswith(".tmp") or ".sr4det-tmp" in p.name]


def test_cpu_seconds_of_a_step_leave_out_the_background_threads():
    spent = []

    def spin():
        with background_thread():
            t0 = time.thread_time()
            while time.thread_time() - t0 < 0.3:
                pass
            spent.append(time.thread_time() - t0)

    with _StepClock() as clock:  # the main thread only waits while a background thread burns 0.3 CPU s
        t = threading.Thread(target=spin)
        t.start()
        t.join()
    assert spent and spent[0] >= 0.3
    assert clock.cpu_seconds < 0.15

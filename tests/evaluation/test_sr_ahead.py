"""SR run ahead of the detector in a second thread (sr4det/evaluation/_sr_ahead.py): the serial loop's results and
cache, SR really beside the detection, errors typed in the main thread, and used only where it can pay."""

from __future__ import annotations

import threading

import pytest

from sr4det.data.datasets import load_coco
from sr4det.errors import DiskFullError, InputError
from sr4det.evaluation import _sr_ahead, compare
from sr4det.evaluation.cache import CompareCache
from sr4det.evaluation.conditions import HRCondition, SRCondition
from sr4det.evaluation.shard import ShardState

from .test_pipeline import SAME, _entries, _no_pipeline_threads
from .test_runner import Oracle, make_dataset

WORKER = _sr_ahead.WORKER


def _run(path, cache, sr, detector=None, **kw):
    det = detector if detector is not None else Oracle(path)
    return compare(load_coco(path), det, sr=sr, scale=4, n_resamples=100, cache_dir=cache, progress=False, **kw)


@pytest.fixture
def force(monkeypatch):
    """SR ahead whatever the cores (the test machine may have no free one)."""
    started = []
    start = _sr_ahead.SRAhead.__init__

    def spy(self, *a, **k):
        started.append(self)
        start(self, *a, **k)

    monkeypatch.setattr(_sr_ahead, "wanted", lambda *a: True)
    monkeypatch.setattr(_sr_ahead.SRAhead, "__init__", spy)
    return started


def test_gives_the_serial_results_and_cache(tmp_path, monkeypatch, force, tiny_sr):
    path = make_dataset(tmp_path / "ds")
    sr = ["bicubic", f"tiny={tiny_sr}"]
    ahead = _run(path, tmp_path / "c1", sr, save_images=tmp_path / "s1")
    assert len(force) == 1 and len(force[0].computed) == 10  # 5 images x 2 SR conditions, all by the worker
    serial_cache = tmp_path / "c2"
    monkeypatch.setattr(_sr_ahead, "wanted", lambda *a: False)
    serial = _run(path, serial_cache, sr, save_images=tmp_path / "s2")
    for name, cond in serial["conditions"].items():
        for key in SAME:
            assert ahead["conditions"][name][key] == cond[key], (name, key)
        assert (ahead["conditions"][name]["sr_seconds_per_image"] is None) == (cond["sr_seconds_per_image"] is None)
    assert ahead["deltas"] == serial["deltas"]
    assert _entries(tmp_path / "c1") == _entries(serial_cache)  # same keys, same SR images, same metadata
    for p in (tmp_path / "s1").rglob("*.png"):
        assert p.read_bytes() == (tmp_path / "s2" / p.relative_to(tmp_path / "s1")).read_bytes()
    assert _no_pipeline_threads()


def test_outputs_found_in_the_cache_are_counted_as_cached(tmp_path, force):
    path = make_dataset(tmp_path / "ds")
    first = _run(path, tmp_path / "c", ["bicubic"])
    assert first["conditions"]["bicubic"]["sr_cached"] == 0
    again = _run(path, tmp_path / "c", ["bicubic"])
    assert again["conditions"]["bicubic"]["sr_cached"] == 5 and not force[1].computed
    assert again["conditions"]["bicubic"]["AP"] == first["conditions"]["bicubic"]["AP"]


def test_sr_runs_while_the_detector_works_on_an_earlier_condition(tmp_path, force):
    """The detector's first call (condition hr) returns only once the worker has finished an SR output: without a
    second thread it would wait forever (here: until the timeout, and the test fails)."""
    path = make_dataset(tmp_path / "ds")
    oracle = Oracle(path)
    sr_done = threading.Event()
    seen: dict[str, bool] = {}
    upscale = SRCondition.upscale

    def marked(self, lr, tile):
        out = upscale(self, lr, tile)
        if threading.current_thread().name == WORKER:
            sr_done.set()
        return out

    def detector(images):
        if "first" not in seen:
            seen["first"] = sr_done.wait(timeout=60)
        return oracle(images)

    detector.names = oracle.names  # type: ignore[attr-defined]
    detector.config = oracle.config  # type: ignore[attr-defined]
    with pytest.MonkeyPatch.context() as m:
        m.setattr(SRCondition, "upscale", marked)
        res = _run(path, tmp_path / "c", ["bicubic"], detector=detector)
    assert seen["first"] is True
    assert res["conditions"]["bicubic"]["AP"] == pytest.approx(1.0)


def test_the_prefetch_computes_what_the_worker_has_not_started_each_image_once(tmp_path, force):
    """A slow worker: the main thread's prefetch takes the images the worker has not claimed yet, so SR runs on
    both; no image is computed twice (one untimed warm-up per thread and condition, then one call per image)."""
    import time

    path = make_dataset(tmp_path / "ds")
    upscale = SRCondition.upscale
    threads: list[str] = []

    def slow_worker(self, lr, tile):
        threads.append(threading.current_thread().name)
        if threads[-1] == WORKER:
            time.sleep(0.3)
        return upscale(self, lr, tile)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(SRCondition, "upscale", slow_worker)
        res = _run(path, tmp_path / "c", ["bicubic"])
    assert len(set(threads)) == 2 and WORKER in threads  # the worker and the prefetch both computed
    assert len(threads) == 5 + 2  # each image once, plus each thread's warm-up
    assert len(force[0].computed) == 5 and res["conditions"]["bicubic"]["sr_cached"] == 0
    assert res["conditions"]["bicubic"]["AP"] == pytest.approx(1.0)


@pytest.mark.parametrize("error", [DiskFullError("disk full: free space, or --cache elsewhere"), InputError("bad size")])
def test_an_sr_error_is_raised_typed_in_the_main_thread(tmp_path, force, error):
    """Whichever thread computes the failing image (the worker, or the prefetch that took it), the main thread
    raises the same error; what was finished before it stays in the cache."""
    path = make_dataset(tmp_path / "ds")
    upscale = SRCondition.upscale
    lr_shapes: list[tuple[int, ...]] = []

    def failing(self, lr, tile):
        if lr.shape not in lr_shapes:
            lr_shapes.append(lr.shape)
        if len(lr_shapes) >= 3 and lr.shape == lr_shapes[2]:  # the third image (sizes differ per image)
            raise error
        return upscale(self, lr, tile)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(SRCondition, "upscale", failing)
        with pytest.raises(type(error), match=str(error).split(":")[0]):
            _run(path, tmp_path / "c", ["bicubic"])
    assert _no_pipeline_threads()
    images = {p.stem for p in (tmp_path / "c").glob("sr/*/*.png")}
    assert {p.stem for p in (tmp_path / "c").glob("sr/*/*.json")} == images  # no entry without its image, or half
    again = _run(path, tmp_path / "c", ["bicubic"])  # a rerun computes only what is missing
    assert 2 <= again["conditions"]["bicubic"]["sr_cached"] <= 4
    assert again["conditions"]["bicubic"]["AP"] == pytest.approx(1.0)


def _state(tmp_path, device="cpu", cache=True):
    return ShardState(None, {}, None, CompareCache(tmp_path if cache else None), device)  # type: ignore[arg-type]


def test_used_only_where_it_can_pay(tmp_path, monkeypatch):
    monkeypatch.setattr(_sr_ahead.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    import torch

    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    sr = [HRCondition("hr"), SRCondition("bicubic")]
    assert _sr_ahead.wanted(_state(tmp_path), sr, world_size=1)
    assert not _sr_ahead.wanted(_state(tmp_path), sr, world_size=2)  # under torchrun the ranks fill the cores
    assert not _sr_ahead.wanted(_state(tmp_path, device="cuda:0"), sr, world_size=1)
    assert not _sr_ahead.wanted(_state(tmp_path, cache=False), sr, world_size=1)  # nothing to hand the outputs over
    assert not _sr_ahead.wanted(_state(tmp_path), sr[:1], world_size=1)  # no SR condition
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert not _sr_ahead.wanted(_state(tmp_path), sr, world_size=1)  # the intra-op threads take both cores
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    monkeypatch.setattr(_sr_ahead, "ENABLED", False)
    assert not _sr_ahead.wanted(_state(tmp_path), sr, world_size=1)

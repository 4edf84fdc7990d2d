"""The compare cache survives what a killed run or another version leaves in it: orphaned temp files are
removed, and entries that are valid JSON of the wrong shape are recomputed instead of crashing the run."""

from __future__ import annotations

import json
import os
import time

import pytest

from sr4det.data.datasets import load_coco
from sr4det.evaluation import compare
from sr4det.evaluation.runner import _Cache

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
    cache = _Cache(root)
    assert cache.removed_orphans == 2
    assert not old_json_tmp.exists() and not old_png_tmp.exists()
    assert fresh_tmp.exists() and entry.exists()  # young temp files and real entries stay


def test_missing_or_disabled_cache_root_is_fine(tmp_path):
    assert _Cache(tmp_path / "not-yet").removed_orphans == 0
    assert _Cache(None).removed_orphans == 0


@pytest.mark.parametrize("bad", [
    {"foo": 1},                                                    # other keys entirely
    {"boxes": [[1, 2, 3, 4]], "scores": [], "labels": [0], "image_size": [8, 8], "seconds": 0.1, "peak_mb": 1},
    {"boxes": [], "scores": [], "labels": [], "image_size": 8, "seconds": 0.1, "peak_mb": 1},
    {"boxes": [], "scores": [], "labels": [], "image_size": [8, 8], "seconds": "fast", "peak_mb": 1},
    [1, 2, 3],                                                     # valid JSON, not an object
])
def test_detection_entry_of_the_wrong_shape_is_recomputed(tmp_path, bad):
    path = make_dataset(tmp_path / "ds")
    kw = dict(sr=[], scale=4, n_resamples=0, cache_dir=tmp_path / "cache", progress=False)
    first = compare(load_coco(path), Oracle(path), **kw)
    victim = sorted((tmp_path / "cache").glob("det/*/*.json"))[0]
    victim.write_text(json.dumps(bad))
    det = Oracle(path)
    second = compare(load_coco(path), det, **kw)
    assert det.calls == 1  # only the bad entry was recomputed
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

"""The comparison runner with fake detectors: conditions, frames, bad input, cache, resume after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sr4det.data.datasets import load_coco
from sr4det.data.io import write_image
from sr4det.detectors.base import Detections
from sr4det.errors import DataError
from sr4det.evaluation import Degradation, compare

# distinct HR sizes (not multiples of 4: mod-crop is exercised) let the oracle recognise each image
SIZES = [(66, 83), (72, 64), (49, 90), (81, 70), (60, 60)]
NAMES = {0: "apple", 1: "boat"}


def make_dataset(root: Path, extra_images=()) -> Path:
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i, (h, w) in enumerate(SIZES):
        write_image(root / "images" / f"{i}.png", rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        images.append({"id": i + 1, "file_name": f"{i}.png", "height": h, "width": w})
        for j in range(1 + i % 3):
            x, y = 4 + 10 * j, 3 + 7 * j
            bw, bh = 20 + 3 * i, 15 + 2 * j
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": 11 + (i + j) % 2,
                    "bbox": [x, y, bw, bh],
                    "area": bw * bh,
                    "iscrowd": 0,
                }
            )
    for k, (name, h, w) in enumerate(extra_images):
        images.append({"id": 100 + k, "file_name": name, "height": h, "width": w})
        anns.append(
            {"id": len(anns) + 1, "image_id": 100 + k, "category_id": 11, "bbox": [1, 1, 10, 10], "area": 100, "iscrowd": 0}
        )
    (root / "annotations").mkdir(exist_ok=True)
    path = root / "annotations" / "instances_x.json"
    path.write_text(
        json.dumps(
            {"images": images, "annotations": anns, "categories": [{"id": 11, "name": "apple"}, {"id": 12, "name": "boat"}]}
        )
    )
    return path


class Oracle:
    """Returns the ground-truth boxes of the image it recognises by size, in the frame it was given."""

    names = NAMES

    def __init__(self, json_path: Path, scale: int = 4, sleep: float = 0.0):
        data = json.loads(Path(json_path).read_text())
        self.scale = scale
        self.sleep = sleep
        self.calls = 0
        self.by_size = {}
        for im in data["images"]:
            size = (im["height"] - im["height"] % scale, im["width"] - im["width"] % scale)
            anns = [a for a in data["annotations"] if a["image_id"] == im["id"]]
            self.by_size[size] = [(a["bbox"], a["category_id"] - 11) for a in anns]
        self.config = {"type": "oracle", "scale": scale}

    def __call__(self, images):
        self.calls += 1
        time.sleep(self.sleep)
        out = []
        for img in images:
            h, w = img.shape[:2]
            f = 1 if (h, w) in self.by_size else self.scale
            anns = self.by_size[(h * f, w * f)]
            boxes = [[x / f, y / f, (x + bw) / f, (y + bh) / f] for (x, y, bw, bh), _ in anns]
            out.append(Detections(boxes, [0.9] * len(anns), [c for _, c in anns], NAMES, (h, w)))
        return out


class Blind:
    names = NAMES
    config = {"type": "blind"}

    def __call__(self, images):
        return [Detections(np.zeros((0, 4)), [], [], NAMES, im.shape[:2]) for im in images]


def test_oracle_scores_perfectly_in_every_condition(tmp_path):
    path = make_dataset(tmp_path / "ds")
    res = compare(
        load_coco(path),
        Oracle(path),
        sr=["bicubic"],
        scale=4,
        out_dir=tmp_path / "out",
        n_resamples=200,
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    conds = res["conditions"]
    assert list(conds) == ["hr", "lr", "bicubic"]
    for name, m in conds.items():
        # boxes mapped into the HR frame (lr: multiplied by the scale) land exactly on the GT
        assert m["AP"] == pytest.approx(1.0, abs=1e-9), name
        assert m["n_images"] == 5
        assert m["unmapped_detections"] == 0
    assert conds["hr"]["psnr"] is None
    assert conds["lr"]["psnr"] is None
    assert 5 < conds["bicubic"]["psnr"] < 40
    assert 0 < conds["bicubic"]["ssim"] < 1
    assert conds["bicubic"]["sr_seconds_per_image"] > 0
    assert conds["hr"]["sr_seconds_per_image"] == 0.0
    assert conds["bicubic"]["sr_peak_memory_mb"] >= 0
    assert conds["hr"]["sr_peak_memory_mb"] == 0.0
    assert conds["bicubic"]["detector_seconds_per_image"] >= 0
    assert conds["hr"]["detector_peak_memory_mb"] >= 0
    assert all(m["cost_unmeasured_images"] == 0 for m in conds.values())
    d = res["deltas"]["vs_bicubic"]["hr"]["AP"]
    assert d["delta"] == pytest.approx(0, abs=1e-9)
    assert d["ci_low"] == pytest.approx(0, abs=1e-9)
    assert set(res["deltas"]) == {"vs_bicubic", "vs_lr"}
    assert "bicubic" in res["deltas"]["vs_lr"]
    assert res["config"]["bootstrap"] == {"n_resamples": 200, "seed": 0, "confidence": 0.95, "unit": "image", "paired": True}
    assert res["versions"]["pycocotools"]
    assert len(res["dataset"]["sha256"]) == 64
    on_disk = json.loads((tmp_path / "out" / "results.json").read_text())
    assert on_disk["conditions"]["hr"]["AP"] == conds["hr"]["AP"]
    for f in ("report.md", "ap_by_size.png", "delta_ap_vs_psnr.png", "gain_vs_cost.png"):
        assert (tmp_path / "out" / f).stat().st_size > 0
    # small objects only exist in some images; large ones do not exist at all here -> n/a, not -1
    assert conds["hr"]["APl"] is None
    assert "n/a" in (tmp_path / "out" / "report.md").read_text()


def test_lr_condition_gets_the_degraded_image(tmp_path):
    path = make_dataset(tmp_path / "ds")
    seen = []

    class Spy(Oracle):
        def __call__(self, images):
            seen.append(images[0].shape[:2])
            return super().__call__(images)

    compare(load_coco(path), Spy(path), sr=[], scale=4, n_resamples=0, cache_dir=False, progress=False)
    hr_sizes = [(h - h % 4, w - w % 4) for h, w in SIZES]
    # each condition's first image twice: an untimed warm-up call, then the timed one
    assert seen[:6] == hr_sizes[:1] + hr_sizes  # hr, mod-cropped
    lr_sizes = [(h // 4, w // 4) for h, w in hr_sizes]
    assert seen[6:12] == lr_sizes[:1] + lr_sizes  # lr as is
    assert seen[12:18] == hr_sizes[:1] + hr_sizes  # bicubic: back at HR size


def test_detector_that_finds_nothing(tmp_path):
    path = make_dataset(tmp_path / "ds")
    res = compare(load_coco(path), Blind(), sr=[], scale=2, n_resamples=50, cache_dir=False, progress=False)
    for m in res["conditions"].values():
        assert m["AP"] == 0.0
        assert m["n_detections"] == 0
    assert res["deltas"]["vs_lr"]["hr"]["AP"] == {
        "delta": 0.0,
        "ci_low": 0.0,
        "ci_high": 0.0,
        "se": 0.0,
        "resolvable": 0.0,
        "n_images_needed": None,
        "p": 1.0,
        "family_size": None,  # hr is no SR claim: outside the multiplicity family
        "p_holm": None,
        "ci_low_family": None,
        "ci_high_family": None,
    }


def test_missing_corrupt_and_missized_images_are_skipped_and_counted(tmp_path):
    path = make_dataset(
        tmp_path / "ds", extra_images=[("gone.png", 40, 40), ("broken.png", 40, 40), ("small.png", 80, 80), ("tiny.png", 3, 40)]
    )
    (tmp_path / "ds" / "images" / "broken.png").write_bytes(b"\x89PNG not really")
    write_image(tmp_path / "ds" / "images" / "small.png", np.zeros((40, 40, 3), np.uint8))
    write_image(tmp_path / "ds" / "images" / "tiny.png", np.zeros((3, 40, 3), np.uint8))
    with pytest.warns(UserWarning, match="skipping"):
        res = compare(load_coco(path), Oracle(path), sr=[], scale=4, n_resamples=0, cache_dir=False, progress=False)
    assert res["n_skipped"] == 4
    assert res["n_images"] == 5
    reasons = {s["file_name"]: s["reason"] for s in res["skipped_images"]}
    assert "not found" in reasons["gone.png"]
    assert "decode" in reasons["broken.png"]
    assert "does not match" in reasons["small.png"]
    assert "smaller than the scale" in reasons["tiny.png"]
    # skipped images are out of the evaluation, so their boxes do not count as misses
    assert res["conditions"]["hr"]["AP"] == pytest.approx(1.0, abs=1e-9)


def test_all_images_unreadable(tmp_path):
    path = make_dataset(tmp_path / "ds")
    gt = load_coco(path)
    for p in (tmp_path / "ds" / "images").iterdir():
        p.unlink()
    with pytest.warns(UserWarning), pytest.raises(DataError, match="no readable images"):
        compare(gt, Oracle(path), sr=[], n_resamples=0, cache_dir=False, progress=False)


def test_unmapped_detector_classes_are_counted(tmp_path):
    path = make_dataset(tmp_path / "ds")

    class Extra(Oracle):
        names = {**NAMES, 2: "ufo"}

        def __call__(self, images):
            out = super().__call__(images)
            return [
                Detections(
                    np.vstack([d.boxes, [[0, 0, 5, 5]]]),
                    np.append(d.scores, 0.99),
                    np.append(d.labels, 2),
                    self.names,
                    d.image_size,
                )
                for d in out
            ]

    with pytest.warns(UserWarning, match="without a dataset category"):
        res = compare(load_coco(path), Extra(path), sr=[], n_resamples=0, cache_dir=False, progress=False)
    assert res["conditions"]["hr"]["unmapped_detections"] == 5
    assert res["conditions"]["hr"]["AP"] == pytest.approx(1.0, abs=1e-9)


def test_cache_makes_a_rerun_free_and_identical(tmp_path):
    import torch

    from sr4det.models import create_model, save_weights

    path = make_dataset(tmp_path / "ds")
    torch.manual_seed(0)
    net = create_model("espcn", scale=4)
    weights = save_weights(tmp_path / "tiny.pt", net.net, arch="espcn", scale=4)
    kw = dict(sr=["bicubic", f"tiny={weights}"], scale=4, n_resamples=100, cache_dir=tmp_path / "cache", progress=False)
    first_det = Oracle(path)
    first = compare(load_coco(path), first_det, **kw)
    assert first_det.calls == 5 * 4 + 4  # + one warm-up per condition
    assert first["conditions"]["tiny"]["sr_cached"] == 0
    again = Oracle(path)
    second = compare(load_coco(path), again, **kw)
    assert again.calls == 0  # every detection came from the cache
    assert second["conditions"]["tiny"]["sr_cached"] == 5
    assert second["conditions"]["tiny"]["detections_cached"] == 5
    strip = lambda r: {k: v for k, v in r.items() if k not in ("sr_cached", "detections_cached")}  # noqa: E731
    for name in first["conditions"]:
        assert strip(first["conditions"][name]) == strip(second["conditions"][name])  # cost numbers included
    assert first["deltas"] == second["deltas"]
    # another degradation is another cache entry
    third = Oracle(path)
    compare(load_coco(path), third, **{**kw, "sr": ["bicubic"]}, degradation=Degradation(4, noise_std=2.0))
    assert third.calls == 5 * 2 + 2  # hr is shared, lr and bicubic are new (and warmed up)


_KILL_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from evaluation.test_runner import Oracle
from sr4det.data.datasets import load_coco
from sr4det.evaluation import compare
det = Oracle({path!r}, sleep=0.3)
compare(load_coco({path!r}), det, sr=["bicubic"], scale=4, n_resamples=0, cache_dir={cache!r}, progress=False)
"""


def test_resume_after_kill_minus_9_gives_identical_results(tmp_path):
    path = make_dataset(tmp_path / "ds")
    cache = tmp_path / "cache"
    script = tmp_path / "run.py"
    script.write_text(_KILL_SCRIPT.format(tests=str(Path(__file__).parent.parent), path=str(path), cache=str(cache)))
    proc = subprocess.Popen([sys.executable, str(script)], env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(list(cache.glob("det/*/*.json"))) < 7:
            time.sleep(0.05)
            assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    done = list(cache.glob("det/*/*.json"))
    assert 7 <= len(done) < 15  # killed mid-run
    for f in done:
        json.loads(f.read_text())  # every entry that exists is complete
    resumed_det = Oracle(path)
    resumed = compare(load_coco(path), resumed_det, sr=["bicubic"], scale=4, n_resamples=50, cache_dir=cache, progress=False)
    missing = 15 - len(done)
    # only the missing work was done, plus one untimed warm-up call in each condition that had work left
    # (hr, lr, bicubic with 5 images each, in that order; hr is complete since >= 7 entries exist)
    assert resumed_det.calls == missing + (2 if missing > 5 else 1)
    clean = compare(load_coco(path), Oracle(path), sr=["bicubic"], scale=4, n_resamples=50, cache_dir=False, progress=False)
    for name in clean["conditions"]:
        for key in ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100", "psnr", "ssim", "n_detections"):
            assert resumed["conditions"][name][key] == clean["conditions"][name][key], (name, key)
    assert resumed["deltas"] == clean["deltas"]


def test_corrupt_cache_entry_is_recomputed(tmp_path):
    path = make_dataset(tmp_path / "ds")
    kw = dict(sr=[], scale=4, n_resamples=0, cache_dir=tmp_path / "cache", progress=False)
    first = compare(load_coco(path), Oracle(path), **kw)
    victim = sorted((tmp_path / "cache").glob("det/*/*.json"))[0]
    victim.write_text('{"boxes": [[1, 2')  # truncated (as a non-atomic writer would leave it)
    det = Oracle(path)
    second = compare(load_coco(path), det, **kw)
    assert det.calls == 1 + 1  # + its warm-up
    assert second["conditions"]["hr"]["AP"] == first["conditions"]["hr"]["AP"]


def test_bad_arguments(tmp_path):
    from sr4det.errors import InputError

    path = make_dataset(tmp_path / "ds")
    gt = load_coco(path)
    with pytest.raises(InputError, match="reserved"):
        compare(gt, Oracle(path), sr=["hr"], cache_dir=False, progress=False)
    with pytest.raises(InputError, match="unknown SR model|neither"):
        compare(gt, Oracle(path), sr=["no_such_model"], n_resamples=0, cache_dir=False, progress=False)
    with pytest.raises(InputError, match="differs from scale"):
        compare(gt, Oracle(path), sr=[], scale=2, degradation=Degradation(4), cache_dir=False, progress=False)

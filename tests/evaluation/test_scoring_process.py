"""Scoring beside the inference (sr4det/evaluation/_scoring_process.py): the same numbers as scoring after the last
condition, used only where a core is free, and a worker's error raised typed in the main process."""

from __future__ import annotations

import numpy as np
import pytest

from sr4det.data.datasets import load_coco
from sr4det.detectors.base import Detections
from sr4det.errors import InputError
from sr4det.evaluation import _scoring_process, compare
from sr4det.evaluation.shard import ConditionRun

from .test_runner import Oracle, make_dataset


class Noisy(Oracle):
    """The oracle's boxes moved and scored by a function of the pixels, plus a false positive: APs strictly between
    0 and 1 that differ between conditions (hr, lr and bicubic pixels differ)."""

    def __call__(self, images):
        out = []
        for img, d in zip(images, super().__call__(images), strict=True):
            rng = np.random.default_rng(int(img.astype(np.int64).sum()))
            h, w = img.shape[:2]
            boxes = np.clip(np.vstack([d.boxes + rng.normal(0, 0.08 * h, d.boxes.shape), [[0, 0, w / 3, h / 3]]]), 0, None)
            boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1)
            scores = rng.uniform(0.1, 1.0, len(boxes))
            out.append(Detections(boxes, scores, [*d.labels, 0], d.names, (h, w)))
        return out


def _compare(path, cache):
    return compare(load_coco(path), Noisy(path), sr=["bicubic"], scale=4, n_resamples=200, cache_dir=cache, progress=False)


def test_scoring_beside_the_inference_gives_the_same_results(tmp_path, monkeypatch):
    path = make_dataset(tmp_path / "ds")
    submitted: list[str] = []
    submit = _scoring_process.ScoringProcess.submit

    def spy(self, run):
        submitted.append(run.name)
        submit(self, run)

    with monkeypatch.context() as m:
        m.setattr(_scoring_process, "free_core", lambda *a: True)
        m.setattr(_scoring_process.ScoringProcess, "submit", spy)
        beside = _compare(path, tmp_path / "c1")
    with monkeypatch.context() as m:
        m.setattr(_scoring_process, "free_core", lambda *a: False)
        after = _compare(path, tmp_path / "c2")
    assert submitted == ["hr", "lr", "bicubic"]  # every condition went to the worker, when it was done
    assert beside["conditions"].keys() == after["conditions"].keys()
    for name, cond in after["conditions"].items():
        for key in ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100"):
            assert beside["conditions"][name][key] == cond[key], (name, key)
    assert len({c["AP"] for c in after["conditions"].values()}) == 3  # a test that could fail: three different APs
    assert all(0 < c["AP"] < 1 for c in after["conditions"].values())
    assert beside["per_class"] == after["per_class"]
    assert beside["deltas"] == after["deltas"]  # bootstrap intervals and p-values included: the same resamples


def test_an_error_in_the_worker_is_raised_typed_in_the_main_process(tmp_path):
    gt = load_coco(make_dataset(tmp_path / "ds"))
    ids = [im.id for im in gt.images]
    scorer = _scoring_process.ScoringProcess(gt, ids, coco_eval="pycocotools", n_resamples=50, seed=0, max_dets=100)
    try:
        bad = ConditionRun("bad", "sr")
        bad.results = [{"image_id": ids[0], "category_id": 999, "bbox": [0, 0, 5, 5], "score": 0.9}]
        scorer.submit(bad)
        with pytest.raises(InputError, match="999"):
            scorer.results([bad])
    finally:
        scorer.close()


def test_used_only_in_one_process_with_a_free_core(monkeypatch):
    monkeypatch.setattr(_scoring_process.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    n = _scoring_process.MIN_IMAGES
    assert _scoring_process.free_core(1, world_size=1, n_images=n)
    assert not _scoring_process.free_core(2, world_size=1, n_images=n)  # the intra-op threads take both cores
    assert not _scoring_process.free_core(1, world_size=2, n_images=n)  # under torchrun the ranks share the scoring
    assert not _scoring_process.free_core(1, world_size=1, n_images=n - 1)  # too few to pay for starting the worker
    monkeypatch.setattr(_scoring_process, "ENABLED", False)
    assert not _scoring_process.free_core(1, world_size=1, n_images=n)

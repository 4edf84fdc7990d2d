"""COCO metrics: hand-made cases against pycocotools itself, hand-computed APs, the faster-coco-eval backend,
and the weighted re-accumulation used by the bootstrap."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from sr4det.evaluation import bootstrap, coco


def _gt(boxes_per_image, cats=(1, 2, 3), crowd=None, sizes=None):
    images, anns = [], []
    for i, boxes in enumerate(boxes_per_image):
        h, w = sizes[i] if sizes else (480, 640)
        images.append({"id": i + 1, "file_name": f"{i}.jpg", "height": h, "width": w})
        for j, (x, y, bw, bh, c) in enumerate(boxes):
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i + 1,
                    "category_id": c,
                    "bbox": [x, y, bw, bh],
                    "area": bw * bh,
                    "iscrowd": int(bool(crowd and (i, j) in crowd)),
                }
            )
    return {"images": images, "annotations": anns, "categories": [{"id": c, "name": f"c{c}"} for c in cats]}


def _reference(gt, results):
    """pycocotools, used the documented way."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        g = COCO()
        g.dataset = gt
        g.createIndex()
        d = g.loadRes(results)
        e = COCOeval(g, d, "bbox")
        e.evaluate()
        e.accumulate()
        e.summarize()
    return e


def _random_case(seed, n_images=6, n_cats=3, crowd=True):
    rng = np.random.default_rng(seed)
    boxes, results, crowd_set = [], [], set()
    for i in range(n_images):
        img = []
        for j in range(rng.integers(0, 6)):
            # mix of small (<32^2), medium and large objects
            s = rng.choice([12, 50, 150])
            x, y = rng.uniform(0, 400), rng.uniform(0, 300)
            bw, bh = s * rng.uniform(0.6, 1.4), s * rng.uniform(0.6, 1.4)
            c = int(rng.integers(1, n_cats + 1))
            img.append((x, y, bw, bh, c))
            if crowd and rng.random() < 0.1:
                crowd_set.add((i, j))
            for _ in range(rng.integers(0, 3)):  # near and far detections of it
                jit = rng.normal(0, s * 0.15, 4)
                results.append(
                    {
                        "image_id": i + 1,
                        "category_id": c if rng.random() < 0.8 else int(rng.integers(1, n_cats + 1)),
                        "bbox": [x + jit[0], y + jit[1], max(1.0, bw + jit[2]), max(1.0, bh + jit[3])],
                        "score": float(np.round(rng.uniform(0, 1), 2)),
                    }
                )  # rounded: ties happen
        boxes.append(img)
        for _ in range(rng.integers(0, 4)):  # pure false positives
            results.append(
                {
                    "image_id": i + 1,
                    "category_id": int(rng.integers(1, n_cats + 1)),
                    "bbox": [*rng.uniform(0, 400, 2), *rng.uniform(5, 100, 2)],
                    "score": float(rng.uniform(0, 1)),
                }
            )
    return _gt(boxes, cats=tuple(range(1, n_cats + 1)), crowd=crowd_set), results


@pytest.mark.parametrize("seed", range(6))
def test_metrics_equal_pycocotools_and_reaccumulation_is_exact(seed):
    gt, results = _random_case(seed)
    ref = _reference(gt, results)
    res = coco.evaluate(gt, results, keep_matches=True)
    for key, value in zip(coco.STAT_KEYS, ref.stats, strict=True):
        assert res.metrics[key] == (None if value < 0 else value), key
    ap, ap50 = res.matches.ap()
    # the vectorised accumulation reproduces pycocotools to the last bit
    assert ap[0] == ref.stats[0]
    assert ap50[0] == ref.stats[1]
    prec = res.matches.precision(np.ones((1, len(gt["images"]))))[0]  # (T, R, K)
    np.testing.assert_array_equal(prec, ref.eval["precision"][:, :, :, 0, 2])


def test_hand_computed_ap():
    gt = _gt([[(0, 0, 100, 100, 1)]], cats=(1,))
    # IoU 0.62 with the GT: a match at IoU thresholds .50, .55, .60 only -> AP = 3/10, AP50 = 1
    res = coco.evaluate(gt, [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 62], "score": 0.9}])
    assert res.metrics["AP"] == pytest.approx(0.3, abs=1e-12)
    assert res.metrics["AP50"] == pytest.approx(1.0, abs=1e-12)
    assert res.metrics["AP75"] == 0.0
    # one perfect and one false detection with a higher score: precision 1/2 at recall 1 -> AP 0.5
    res = coco.evaluate(
        gt,
        [
            {"image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100], "score": 0.5},
            {"image_id": 1, "category_id": 1, "bbox": [300, 300, 50, 50], "score": 0.9},
        ],
    )
    assert res.metrics["AP"] == pytest.approx(0.5, abs=1e-12)


def test_undefined_size_ranges_are_none_and_empty_detections_score_zero():
    gt = _gt([[(0, 0, 100, 100, 1)], [(10, 10, 120, 90, 2)]], cats=(1, 2))  # only large objects
    res = coco.evaluate(gt, [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 100], "score": 0.9}])
    assert res.metrics["APs"] is None
    assert res.metrics["APm"] is None
    assert res.metrics["ARs"] is None
    assert res.metrics["APl"] is not None
    assert res.per_class_ap[1] == pytest.approx(1.0, abs=1e-12)
    assert res.per_class_ap[2] == 0.0
    nothing = coco.evaluate(gt, [], keep_matches=True)  # a detector that found nothing
    assert nothing.metrics["AP"] == 0.0
    assert nothing.metrics["APs"] is None
    assert nothing.matches.ap()[0][0] == 0.0


def test_class_without_gt_is_none_not_minus_one():
    gt = _gt([[(0, 0, 100, 100, 1)]], cats=(1, 2))
    res = coco.evaluate(gt, [{"image_id": 1, "category_id": 2, "bbox": [0, 0, 10, 10], "score": 0.9}])
    assert res.per_class_ap[2] is None
    assert res.metrics["AP"] == 0.0  # class 2 has no GT: excluded from the mean, not averaged in as -1


@pytest.mark.parametrize("seed", range(3))
def test_faster_coco_eval_gives_identical_numbers(seed):
    pytest.importorskip("faster_coco_eval")
    gt, results = _random_case(seed + 10)
    a = coco.evaluate(gt, results, backend="pycocotools")
    b = coco.evaluate(gt, results, backend="faster-coco-eval")
    for key in coco.STAT_KEYS:
        if a.metrics[key] is None:
            assert b.metrics[key] is None, key
        else:
            assert b.metrics[key] == pytest.approx(a.metrics[key], abs=1e-12), key
    for cid, v in a.per_class_ap.items():
        assert (b.per_class_ap[cid] is None) if v is None else b.per_class_ap[cid] == pytest.approx(v, abs=1e-12)


def test_weights_equal_literally_duplicated_images():
    """AP under multiplicities [2, 0, 1, 1] equals pycocotools on a dataset holding those image copies."""
    gt, results = _random_case(3, n_images=4, crowd=False)
    # distinct scores so that the order of equal-score detections cannot matter
    for k, r in enumerate(results):
        r["score"] = 1.0 - k * 1e-3
    weights = np.array([[2, 0, 1, 1]])
    res = coco.evaluate(gt, results, keep_matches=True)
    copies = [0, 0, 2, 3]
    images, anns, dets = [], [], []
    for new_id, old in enumerate(copies, 1):
        images.append({**gt["images"][old], "id": new_id})
        anns += [
            {**a, "id": len(anns) + 1 + n, "image_id": new_id}
            for n, a in enumerate(x for x in gt["annotations"] if x["image_id"] == old + 1)
        ]
        dets += [{**d, "image_id": new_id} for d in results if d["image_id"] == old + 1]
    ref = _reference({"images": images, "annotations": anns, "categories": gt["categories"]}, dets)
    ap, ap50 = res.matches.ap(weights)
    assert ap[0] == pytest.approx(ref.stats[0], abs=1e-12)
    assert ap50[0] == pytest.approx(ref.stats[1], abs=1e-12)


def test_bootstrap_is_seeded_and_paired():
    w1 = bootstrap.bootstrap_weights(10, 50, seed=3)
    w2 = bootstrap.bootstrap_weights(10, 50, seed=3)
    np.testing.assert_array_equal(w1, w2)
    assert (w1.sum(1) == 10).all()
    assert not np.array_equal(w1, bootstrap.bootstrap_weights(10, 50, seed=4))
    gt, results = _random_case(5, n_images=10)
    m = coco.evaluate(gt, results, keep_matches=True).matches
    boot = bootstrap.bootstrap_ap({"a": m, "b": m}, w1)
    # a condition compared with itself: every paired difference is exactly zero
    assert bootstrap.paired_delta_ci(boot["a"]["AP"], boot["b"]["AP"]) == (0.0, 0.0)
    assert np.std(boot["a"]["AP"]) > 0  # resampling does move the AP


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown COCO backend"):
        coco.evaluate(_gt([[(0, 0, 10, 10, 1)]]), [], backend="nope")


def _dense_precision(m: coco.ImageMatches, weights: np.ndarray) -> np.ndarray:
    """The straightforward weighted accumulation over every ranked detection (the pre-compaction algorithm),
    kept here as the oracle for the compacted one."""
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    B, R, K = w.shape[0], len(m.rec_thrs), len(m.cat_ids)
    out = -np.ones((B, m.n_iou, R, K))
    for k, c in enumerate(m.per_cat):
        if c is None:
            continue
        npig = w @ c["npos"]
        dw = w[:, c["img"]]
        tp_sum = np.cumsum(c["tp"][None] * dw[:, None, :], axis=2)
        fp_sum = np.cumsum(c["fp"][None] * dw[:, None, :], axis=2)
        for b in range(B):
            if npig[b] <= 0:
                continue
            for t in range(m.n_iou):
                tps, fps = tp_sum[b, t], fp_sum[b, t]
                if not len(tps):
                    out[b, t, :, k] = 0.0
                    continue
                rc = tps / npig[b]
                pr = tps / (fps + tps + np.spacing(1))
                pr = np.maximum.accumulate(pr[::-1])[::-1]
                idx = np.searchsorted(rc, m.rec_thrs, side="left")
                out[b, t, :, k] = np.where(idx < len(pr), pr[np.minimum(idx, len(pr) - 1)], 0.0)
    return out


@pytest.mark.parametrize("seed", range(8))
def test_compacted_precision_equals_accumulating_every_detection(seed):
    """Keeping only true-positive and ignored positions changes no bit, for any multiplicities (zeros, crowds, ties)."""
    gt, results = _random_case(100 + seed, n_images=9, n_cats=4)
    m = coco.evaluate(gt, results, keep_matches=True).matches
    weights = bootstrap.bootstrap_weights(9, 40, seed=seed)
    weights[0] = 1
    weights[1, :] = 0
    weights[1, seed % 9] = 3  # one image drawn three times, the rest never
    np.testing.assert_array_equal(m.precision(weights), _dense_precision(m, weights))
    np.testing.assert_array_equal(m.precision(weights, iou_index=0)[:, 0], _dense_precision(m, weights)[:, 0])

"""SlicedDetector: slices through any Detector, boxes mapped back and merged (oracle: a perfect detector on the slices
scores AP 1); the default merge keeps AP where SAHI's default merge (greedy NMM, IoS 0.5) collapses it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sr4det.data import GroundTruth, ImageGT
from sr4det.detectors import Detections, SlicedDetector
from sr4det.detectors.slicing import DEFAULT_MERGE, Merge, slice_windows
from sr4det.errors import InputError
from sr4det.evaluation.coco import evaluate

NAMES = {0: "a", 1: "b"}


class SceneDetector:
    """A perfect detector of the filled rectangles drawn by :func:`_scene`: the bounding box of each object id (red
    channel) in the crop it is given; score 0.9 for an object fully inside the crop, 0.3 for one the crop cuts (a real
    detector is less sure of truncated objects). Records the batch sizes it was called with."""

    names = NAMES

    def __init__(self) -> None:
        self.calls: list[list[tuple[int, int]]] = []

    def __call__(self, images):
        self.calls.append([im.shape[:2] for im in images])
        out = []
        for im in images:
            ids = im[:, :, 0]
            boxes, scores, labels = [], [], []
            for v in np.unique(ids[ids > 0]):
                ys, xs = np.nonzero(ids == v)
                x1, y1, x2, y2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
                cut = x1 == 0 or y1 == 0 or x2 == im.shape[1] or y2 == im.shape[0]
                boxes.append([x1, y1, x2, y2])
                scores.append(0.3 if cut else 0.9)
                labels.append(int(v) % 2)
            out.append(Detections(np.array(boxes).reshape(-1, 4), scores, labels, NAMES, im.shape[:2]))
        return out


def _scene(height=700, width=1000, seed=0):
    """uint8 image with non-overlapping filled rectangles (ids 1..N in the red channel) and their boxes (N, 4) xyxy,
    including objects straddling the 320/0.25 slice borders and one object larger than a slice."""
    rng = np.random.default_rng(seed)  # <= 100 objects: COCO scores the 100 best detections
    im = np.zeros((height, width, 3), np.uint8)
    boxes = []
    for gy in range(10, height - 90, 90):
        for gx in range(10, width - 90, 90):
            w, h = rng.integers(8, 55, size=2)
            x, y = gx + rng.integers(0, 90 - w), gy + rng.integers(0, 90 - h)
            boxes.append([x, y, x + w, y + h])
    if height >= 700 and width >= 1000:
        boxes = [b for b in boxes if b[2] < 300 or b[0] > 800 or b[3] < 300 or b[1] > 640]  # room for the large object
        boxes.append([305, 305, 795, 635])  # 490 x 330: larger than a 320 slice, found by the whole-image pass only
    for i, (x1, y1, x2, y2) in enumerate(boxes, start=1):
        im[y1:y2, x1:x2, 0] = i
        im[y1:y2, x1:x2, 1] = 255
    return im, np.array(boxes, dtype=np.float64)


def _ap(boxes_gt, dets: Detections, size) -> dict:
    labels = np.arange(1, len(boxes_gt) + 1) % 2
    gt = GroundTruth(
        [
            ImageGT(
                1,
                "x.png",
                Path("x.png"),
                size[0],
                size[1],
                boxes_gt,
                labels + 1,
                np.zeros(len(labels)),
                (boxes_gt[:, 2] - boxes_gt[:, 0]) * (boxes_gt[:, 3] - boxes_gt[:, 1]),
            )
        ],
        {1: "a", 2: "b"},
    )
    res = [
        {
            "image_id": 1,
            "category_id": int(c) + 1,
            "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
            "score": float(s),
        }
        for b, s, c in zip(dets.boxes, dets.scores, dets.labels, strict=True)
    ]
    return evaluate(gt.to_coco(), res).metrics


def test_oracle_detector_on_slices_scores_ap_1_and_border_objects_are_found_once():
    im, gt = _scene()
    wins = slice_windows(*im.shape[:2], size=320, overlap=0.25)
    straddling = [b for b in gt if any(w[0] < b[0] < w[2] < b[2] or w[1] < b[1] < w[3] < b[3] for w in wins)]
    assert len(straddling) >= 5  # the scene does test slice borders
    det = SceneDetector()
    out = SlicedDetector(det, slice=320, overlap=0.25, full_image=True, batch=4)([im])[0]
    assert out.image_size == im.shape[:2] and out.names == NAMES
    assert _ap(gt, out, im.shape[:2])["AP"] == pytest.approx(1.0)
    confident = out.boxes[out.scores > 0.5]
    # every object exactly once among the confident boxes, at its exact position (mapped back from its slice)
    assert len(confident) == len(gt)
    assert sorted(map(tuple, confident.astype(int).tolist())) == sorted(map(tuple, gt.astype(int).tolist()))
    # batching: slices in calls of <= 4, the whole image in its own call
    sizes = [len(c) for c in det.calls]
    assert max(sizes) <= 4 and sum(sizes) == len(wins) + 1 and det.calls[-1] == [im.shape[:2]]


def test_without_the_whole_image_an_object_larger_than_a_slice_is_only_seen_cut():
    im, gt = _scene()
    out = SlicedDetector(SceneDetector(), slice=320, overlap=0.25, full_image=False)([im])[0]
    big = gt[-1]
    assert not any(np.allclose(b, big) for b in out.boxes)
    assert _ap(gt, out, im.shape[:2])["AP"] < 1.0


def test_an_image_within_one_slice_gets_the_detectors_own_output():
    im, _ = _scene(200, 300)
    det = SceneDetector()
    ref = det([im])[0]
    out = SlicedDetector(det, slice=640, full_image=True)([im])[0]
    assert det.calls[-1] == [(200, 300)]  # one crop, no second whole-image pass
    np.testing.assert_array_equal(np.sort(out.scores), np.sort(ref.scores))
    assert len(out) == len(ref)


def test_slices_of_several_images_are_batched_and_mapped_to_their_own_image():
    a, gta = _scene(700, 1000, seed=1)
    b, gtb = _scene(400, 500, seed=2)
    det = SceneDetector()
    outs = SlicedDetector(det, slice=320, overlap=0.25, batch=3)([a, b])
    assert [o.image_size for o in outs] == [(700, 1000), (400, 500)]
    for out, gt, im in ((outs[0], gta, a), (outs[1], gtb, b)):
        assert _ap(gt, out, im.shape[:2])["AP"] == pytest.approx(1.0)


def _chain_scene():
    """A row of 20 small objects; each neighbouring pair also gets a low-score box enclosing both (what a detector
    returns at conf 0.001 around groups of small objects)."""
    gt = np.array([[10 + 30 * i, 10, 30 + 30 * i, 40] for i in range(20)], dtype=np.float64)
    pairs = np.array([[gt[i, 0], 10, gt[i + 1, 2], 40] for i in range(19)])
    boxes = np.concatenate([gt, pairs])
    scores = np.concatenate([np.full(20, 0.9), np.full(19, 0.01)])
    labels = np.ones(len(boxes), np.int64)  # all class "b" (category 2)
    return gt, boxes, scores, labels


def test_default_merge_keeps_ap_where_sahis_default_greedy_nmm_ios_collapses_it():
    gt, boxes, scores, labels = _chain_scene()

    def ap_after(merge: Merge) -> float:
        b, s, c = merge(boxes, scores, labels)
        return _ap_single_class(gt, b, s)

    assert DEFAULT_MERGE == Merge("nms", "iou", 0.5)
    assert ap_after(DEFAULT_MERGE) == pytest.approx(1.0)
    # SAHI's default: each confident box is merged with an enclosing low-score box into their union (score 0.9)
    sahi_default = Merge.parse("greedynmm:ios:0.5")
    b, s, _ = sahi_default(boxes, scores, labels)
    assert (b[:, 2] - b[:, 0]).max() > 2 * (gt[:, 2] - gt[:, 0]).max()  # chains became large boxes
    assert ap_after(sahi_default) < 0.5


def _ap_single_class(gt, b, s) -> float:
    dets = Detections(b, s, np.ones(len(b), np.int64), NAMES, (100, 700))
    labels_gt_b = np.ones(len(gt), np.int64)  # category 2 == label 1 + 1
    coco = GroundTruth(
        [ImageGT(1, "x.png", Path("x.png"), 100, 700, gt, labels_gt_b + 1, np.zeros(len(gt)), np.full(len(gt), 600.0))],
        {2: "b"},
    ).to_coco()
    res = [
        {
            "image_id": 1,
            "category_id": 2,
            "bbox": [float(x[0]), float(x[1]), float(x[2] - x[0]), float(x[3] - x[1])],
            "score": float(v),
        }
        for x, v in zip(dets.boxes, dets.scores, strict=True)
    ]
    ap = evaluate(coco, res).metrics["AP"]
    assert ap is not None
    return ap


def test_merge_spec_round_trips_and_bad_settings_are_typed_errors():
    for spec in ("nms:iou:0.5", "greedynmm:ios:0.5", "nmm:iou:0.7:agnostic"):
        assert str(Merge.parse(spec)) == spec
    assert Merge.parse("greedynmm:ios") == Merge("greedynmm", "ios", 0.5)
    for bad in ("soft", "nms:dice", "nms:iou:x", "nms:iou:1.5", "nms:iou:0.5:0.6:7"):
        with pytest.raises(InputError):
            Merge.parse(bad)
    det = SceneDetector()
    for kw in ({"slice": 0}, {"overlap": 1.0}, {"overlap": -0.1}, {"batch": 0}, {"merge": "bogus"}):
        with pytest.raises(InputError):
            SlicedDetector(det, **kw)
    with pytest.raises(InputError, match="Detector"):
        SlicedDetector(object())


def test_slice_windows_are_sahis_geometry():
    wins = slice_windows(765, 1360, 640, 0.2)
    # step 640 - 128 = 512; the last column/row shifted back to end at the border
    assert wins.tolist() == [[0, 0, 640, 640], [512, 0, 1152, 640], [720, 0, 1360, 640],
                             [0, 125, 640, 765], [512, 125, 1152, 765], [720, 125, 1360, 765]]  # fmt: skip
    assert slice_windows(100, 200, 640, 0.2).tolist() == [[0, 0, 200, 100]]


def test_config_records_what_changes_the_boxes_not_the_batch():
    a = SlicedDetector(SceneDetector(), slice=512, overlap=0.1, merge="greedynmm:ios", batch=2)
    b = SlicedDetector(SceneDetector(), slice=512, overlap=0.1, merge="greedynmm:ios", batch=16)
    assert a.config == b.config
    assert a.config["merge"] == "greedynmm:ios:0.5" and a.config["slice"] == 512 and a.config["full_image"] is True


def test_merge_keeps_boxes_with_negative_coordinates_where_they_are():
    boxes = np.array([[-3.5, -2.0, 10.0, 12.0], [-3.0, -2.0, 10.0, 12.5], [50.0, 50.0, 60.0, 61.0]])
    b, s, c = DEFAULT_MERGE(boxes, np.array([0.9, 0.8, 0.7]), np.array([0, 0, 0]))
    np.testing.assert_allclose(b, boxes[[0, 2]], atol=1e-5)
    np.testing.assert_allclose(s, [0.9, 0.7], atol=1e-6)

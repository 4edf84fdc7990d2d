"""COCO box evaluation: pycocotools (reference) or faster-coco-eval (optional, identical numbers), plus a
vectorised re-accumulation of pycocotools' per-image matches (:class:`ImageMatches`) for per-class AP and the paired
bootstrap (:mod:`.bootstrap`).

The standard 12 numbers are reported under the keys of :data:`STAT_KEYS`. A number that COCO marks as
undefined (``-1``: e.g. APs when the data has no small objects) is returned as ``None`` - never averaged in.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError, MissingDependencyError

STAT_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
BACKENDS = ("pycocotools", "faster-coco-eval")


def _coco_api(backend: str):
    """(COCO, COCOeval) classes of a backend."""
    if backend == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        return COCO, COCOeval
    if backend == "faster-coco-eval":
        try:
            from faster_coco_eval import COCO, COCOeval_faster
        except ImportError as exc:
            raise MissingDependencyError("backend 'faster-coco-eval' needs `pip install faster-coco-eval`") from exc
        return COCO, COCOeval_faster
    raise ValueError(f"unknown COCO backend {backend!r}; choose from {BACKENDS}")


def _build(backend: str, gt: dict[str, Any], results: Sequence[dict[str, Any]], max_dets: int = 100):
    COCO, COCOeval = _coco_api(backend)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress lines
        coco_gt = COCO()
        coco_gt.dataset = {k: list(v) for k, v in gt.items()}
        coco_gt.createIndex()
        if results:
            coco_dt = coco_gt.loadRes([dict(r) for r in results])
        else:
            # loadRes cannot take an empty list (it reads results[0]); a detector that found nothing is valid
            coco_dt = COCO()
            coco_dt.dataset = {"images": list(gt["images"]), "categories": list(gt["categories"]), "annotations": []}
            coco_dt.createIndex()
        if backend == "faster-coco-eval":
            ev = COCOeval(coco_gt, coco_dt, "bbox", print_function=lambda *a, **k: None)
        else:
            ev = COCOeval(coco_gt, coco_dt, "bbox")
    if max_dets != 100:
        ev.params.maxDets = [1, 10, int(max_dets)]
    return ev


@dataclass
class CocoResult:
    """Output of :func:`evaluate`.

    Attributes:
        metrics: ``{key: value or None}`` for every key of :data:`STAT_KEYS`.
        per_class_ap: ``{category_id: AP (IoU .50:.95, all areas, 100 dets) or None if the class has no GT}``.
        per_class_ap50: the same at IoU 0.5.
        matches: per-image matches (from pycocotools) for :func:`bootstrap_ap`; None unless requested.
    """

    metrics: dict[str, float | None]
    per_class_ap: dict[int, float | None]
    per_class_ap50: dict[int, float | None]
    matches: ImageMatches | None = None


def _none_if_undefined(v: float) -> float | None:
    return None if v < 0 else float(v)


def evaluate(
    gt: dict[str, Any],
    results: Sequence[dict[str, Any]],
    backend: str = "pycocotools",
    keep_matches: bool = False,
    max_dets: int = 100,
) -> CocoResult:
    """Evaluate COCO-format box ``results`` (``image_id``, ``category_id``, ``bbox`` xywh, ``score``) against ``gt``.

    Args:
        gt: a COCO ground-truth dict (``images``, ``annotations``, ``categories``), e.g. ``GroundTruth.to_coco()``.
        results: detections in the ground truth's frame; may be empty.
        backend: ``"pycocotools"`` or ``"faster-coco-eval"``.
        keep_matches: also return the per-image matches for bootstrapping (always computed with pycocotools,
            so bootstrap intervals do not depend on the backend).
        max_dets: detections per image that count (COCO's third ``maxDets``, default 100; VisDrone frames hold
            hundreds of objects). AP, per-class AP and the bootstrap use it; the key ``AR100`` is the recall at it.
    """
    if isinstance(max_dets, bool) or not isinstance(max_dets, int) or max_dets < 1:
        raise InputError(f"max_dets must be a positive number of detections per image (COCO default 100), got {max_dets!r}")
    _check_results(gt, results)
    ev = _build(backend, gt, results, max_dets)
    with contextlib.redirect_stdout(io.StringIO()):
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [float(s) for s in ev.stats[: len(STAT_KEYS)]]
    if max_dets != 100:
        # pycocotools' summarize reads AP (stats[0], and only it) at maxDets 100 whatever maxDets says: -1 here
        all_ap = np.asarray(ev.eval["precision"])[:, :, :, 0, -1]
        stats[0] = float(all_ap[all_ap > -1].mean()) if (all_ap > -1).any() else -1.0
    metrics = {k: _none_if_undefined(v) for k, v in zip(STAT_KEYS, stats, strict=True)}
    precision = np.asarray(ev.eval["precision"])  # (T, R, K, A, M)
    cat_ids = list(ev.params.catIds)
    per, per50 = {}, {}
    m100 = list(ev.params.maxDets).index(max_dets) if max_dets in ev.params.maxDets else -1
    for k, cid in enumerate(cat_ids):
        p = precision[:, :, k, 0, m100]
        per[int(cid)] = float(p[p > -1].mean()) if (p > -1).any() else None
        p50 = precision[0, :, k, 0, m100]
        per50[int(cid)] = float(p50[p50 > -1].mean()) if (p50 > -1).any() else None
    matches = None
    if keep_matches:
        ref = ev if backend == "pycocotools" else _build("pycocotools", gt, results, max_dets)
        if ref is not ev:
            with contextlib.redirect_stdout(io.StringIO()):
                ref.evaluate()
        matches = ImageMatches.from_cocoeval(ref, max_det=max_dets)
    return CocoResult(metrics, per, per50, matches)


def _check_results(gt: dict[str, Any], results: Sequence[dict[str, Any]]) -> None:
    """Refuse results pycocotools would score silently wrong or fail on with an AssertionError: a category id the
    ground truth lacks (ignored: AP 0, the classic 0-79 detector index vs 1-90 COCO id mix-up), an image id it lacks,
    a bbox that is not 4 finite numbers with non-negative width and height (a NaN box matches every object), a
    missing or non-finite score."""
    if not results:
        return
    cats = {int(c["id"]) for c in gt.get("categories", [])}
    imgs = {int(im["id"]) for im in gt.get("images", [])}
    bad_cat: set[Any] = set()
    bad_img: set[Any] = set()
    for i, r in enumerate(results):
        try:
            box = np.asarray(r["bbox"], dtype=np.float64)
            score = float(r["score"])
            cat, img = r["category_id"], r["image_id"]
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(
                f"results[{i}] is not a COCO detection ({type(exc).__name__}: {exc}); each result needs 'image_id', "
                f"'category_id', 'bbox' [x, y, width, height] and 'score', got {r!r}"
            ) from None
        if box.shape != (4,) or not np.isfinite(box).all() or box[2] < 0 or box[3] < 0 or not np.isfinite(score):
            raise InputError(
                f"results[{i}]: bbox {r['bbox']!r} / score {r['score']!r} must be 4 finite numbers [x, y, width, height] "
                "with width, height >= 0 and a finite score (x1, y1, x2, y2 boxes: width = x2 - x1, height = y2 - y1)"
            )
        if _as_id(cat) not in cats:
            bad_cat.add(cat)
        if _as_id(img) not in imgs:
            bad_img.add(img)
    if bad_cat:
        raise InputError(
            f"results use category ids the ground truth does not have: {sorted(map(str, bad_cat))[:10]} (its ids: "
            f"{sorted(cats)[:10]}{' ...' if len(cats) > 10 else ''}); pycocotools would ignore those detections. Map "
            "detector class indices to dataset category ids first (sr4det.data.ClassMap.build(detector.names, gt), e.g. "
            "YOLO index 0-79 -> COCO id 1-90)"
        )
    if bad_img:
        raise InputError(
            f"results refer to image ids the ground truth does not have: {sorted(map(str, bad_img))[:10]}; evaluate "
            "against ground truth that lists those images (ids are ints as in its 'images')"
        )


def _as_id(value: Any) -> int | None:
    """An integral number as an int id (1 and 1.0 alike, as pycocotools' dict lookups treat them); None otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    return int(value) if float(value).is_integer() else None


class ImageMatches:
    """pycocotools' per-image matching (area "all", 100 detections), re-accumulated fast under image weights.

    With all weights 1 :meth:`ap` reproduces pycocotools' ``accumulate`` + ``summarize`` exactly; integer weights
    (how often each image is drawn) give the AP of a bootstrap resample without re-matching any box.
    """

    def __init__(
        self,
        img_ids: list[int],
        cat_ids: list[int],
        rec_thrs: np.ndarray,
        per_cat: list[dict[str, np.ndarray] | None],
        n_iou: int = 10,
    ):
        self.n_iou = n_iou
        self.img_ids = img_ids
        self.cat_ids = cat_ids
        self.rec_thrs = np.asarray(rec_thrs, dtype=np.float64)
        self.per_cat = per_cat
        self._compacts: dict[tuple, dict[str, Any]] = {}  # per (class, IoU rows): see _compact

    @classmethod
    def from_cocoeval(cls, ev, max_det: int = 100) -> ImageMatches:
        p = ev.params
        img_ids, cat_ids = list(p.imgIds), list(p.catIds)
        n_img, n_area = len(img_ids), len(p.areaRng)
        a_all = [tuple(a) for a in p.areaRng].index((0, 1e5**2)) if (0, 1e5**2) in [tuple(a) for a in p.areaRng] else 0
        per_cat: list[dict[str, np.ndarray] | None] = []
        for k in range(len(cat_ids)):
            base = k * n_area * n_img + a_all * n_img
            scores, img_idx, dtm, dtig, npos = [], [], [], [], np.zeros(n_img, np.int64)
            present = False
            for i in range(n_img):
                e = ev.evalImgs[base + i]
                if e is None:
                    continue
                present = True
                s = np.asarray(e["dtScores"][:max_det], dtype=np.float64)
                scores.append(s)
                img_idx.append(np.full(len(s), i, np.int64))
                dtm.append(np.asarray(e["dtMatches"])[:, :max_det])
                dtig.append(np.asarray(e["dtIgnore"])[:, :max_det])
                npos[i] = int(np.count_nonzero(np.asarray(e["gtIgnore"]) == 0))
            if not present:
                per_cat.append(None)
                continue
            s = np.concatenate(scores)
            order = np.argsort(-s, kind="mergesort")  # pycocotools' order, ties included
            m = np.concatenate(dtm, axis=1)[:, order]
            ig = np.concatenate(dtig, axis=1)[:, order].astype(bool)
            per_cat.append(
                {
                    "img": np.concatenate(img_idx)[order],
                    "tp": np.logical_and(m, ~ig),
                    "fp": np.logical_and(np.logical_not(m), ~ig),
                    "npos": npos,
                }
            )
        return cls(img_ids, cat_ids, p.recThrs, per_cat, len(p.iouThrs))

    def precision(self, weights: np.ndarray, iou_index: slice | int = slice(None)) -> np.ndarray:
        """Interpolated precision, shape (B, T, R, K), -1 where a class has no (weighted) ground truth.

        Args:
            weights: (B, n_images) non-negative integer image multiplicities (a row of ones = the data itself).
            iou_index: which IoU thresholds (default all ten).
        """
        w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
        B = w.shape[0]
        R, K = len(self.rec_thrs), len(self.cat_ids)
        T = len(range(self.n_iou)[iou_index]) if isinstance(iou_index, slice) else 1
        out = -np.ones((B, T, R, K))
        for k, c in enumerate(self.per_cat):
            if c is None:
                continue
            npig = w @ c["npos"]  # (B,)
            ok = npig > 0
            if not ok.any():
                continue
            key = (k, iou_index if isinstance(iou_index, int) else (iou_index.start, iou_index.stop, iou_index.step))
            compact = self._compacts.get(key)
            if compact is None:
                compact = self._compacts[key] = _compact(c, iou_index)
            if compact["at"].size == 0:  # no true positive and nothing ignored: precision 0 at every recall
                out[ok, :, :, k] = 0.0
                continue
            wk = w[ok]
            # counts of every detection up to each kept position: one pass over the detections, no IoU axis
            seg = np.add.reduceat(wk[:, compact["img_head"]], compact["starts"], axis=1)
            n_all = np.cumsum(seg, axis=1)  # (b, U)
            w_at = wk[:, compact["img_at"]][:, None, :]  # (b, 1, U)
            tp_sum = np.cumsum(w_at * compact["tp"], axis=2)  # (b, T, U)
            fp_sum = n_all[:, None, :] - tp_sum
            if compact["ig"] is not None:
                fp_sum -= np.cumsum(w_at * compact["ig"], axis=2)
            pr = tp_sum / (fp_sum + tp_sum + np.spacing(1))
            pr = np.maximum.accumulate(pr[..., ::-1], axis=-1)[..., ::-1]  # precision envelope
            out[ok, :, :, k] = _sample_envelope(tp_sum, npig[ok][:, None], pr, self.rec_thrs)
        return out

    def ap(self, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(AP, AP50) per weight row, each shape (B,): pycocotools' means over entries > -1 (NaN if none)."""
        if weights is None:
            weights = np.ones((1, len(self.img_ids)))
        prec = self.precision(weights)
        return _mean_defined(prec), _mean_defined(prec[:, :1])


def _compact(c: dict[str, np.ndarray], iou_index: slice | int) -> dict[str, Any]:
    """The positions of one class's ranked detections that the weighted precision needs, for :meth:`ImageMatches.precision`.

    Between two true positives precision only falls (a false positive) or stays (an ignored detection, or an image
    drawn zero times), so the precision envelope sampled at the recall thresholds - always read at a true
    positive, or at the start - is the same when only the true-positive and ignored positions are kept. The
    false positives enter as counts: all detections up to a kept position minus its true positives and ignored
    ones. All counts are integers in float64, so the result is bit-identical to accumulating every detection.
    """
    tp = np.atleast_2d(c["tp"][iou_index])
    ig = ~np.atleast_2d(c["tp"][iou_index] | c["fp"][iou_index])
    at = np.flatnonzero((tp | ig).any(axis=0))
    if at.size == 0:
        return {"at": at}
    starts = np.concatenate([[0], at[:-1] + 1])
    has_ig = bool(ig[:, at].any())
    return {
        "at": at,
        "starts": starts,
        "img_head": c["img"][: at[-1] + 1],
        "img_at": c["img"][at],
        "tp": tp[:, at].astype(np.float64),
        "ig": ig[:, at].astype(np.float64) if has_ig else None,
    }


def _sample_envelope(tp_sum: np.ndarray, npig: np.ndarray, pr: np.ndarray, rec_thrs: np.ndarray) -> np.ndarray:
    """pycocotools' ``q[r] = pr[searchsorted(tp / npig, recThrs[r], "left")]`` (0 past the end), for all rows at once.

    ``tp_sum``/``pr``: (B, T, D); ``npig``: (B, 1). The recall test ``tp / npig >= thr`` is turned into the exact
    integer test ``tp >= c`` (``c`` = the least count whose float quotient passes, found with pycocotools' own
    float division). ``tp_sum`` holds non-decreasing integer counts, so "the first position with ``tp >= c``"
    is "how many positions have ``tp < c``": a per-row histogram of the counts, cumulated, answers every
    threshold of every row with one gather (no search, no Python loop).
    """
    B, T, D = tp_sum.shape
    c = np.ceil(rec_thrs[None, :] * npig)  # (B, R)
    c = np.where((c - 1) / npig >= rec_thrs[None, :], c - 1, c)
    c = np.where(c / npig < rec_thrs[None, :], c + 1, c)
    rows = B * T
    counts = tp_sum.reshape(rows, D).astype(np.int64)
    c = np.repeat(c.astype(np.int64), T, axis=0)  # (rows, R)
    width = int(max(counts.max(initial=0), c.max(initial=0))) + 1
    hist = np.bincount((counts + np.arange(rows)[:, None] * width).ravel(), minlength=rows * width).reshape(rows, width)
    below = np.zeros((rows, width + 1), dtype=np.int64)
    np.cumsum(hist, axis=1, out=below[:, 1:])  # below[r, v] = number of positions of row r with count < v
    row = np.arange(rows)[:, None]
    idx = below.ravel()[c + row * (width + 1)]  # flat gathers: take_along_axis is several times slower here
    q = pr.reshape(-1)[np.minimum(idx, D - 1) + row * D]
    return np.where(idx < D, q, 0.0).reshape(B, T, -1)


def _mean_defined(prec: np.ndarray) -> np.ndarray:
    flat = prec.reshape(prec.shape[0], -1)
    ok = flat > -1
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok.any(1), (flat * ok).sum(1) / ok.sum(1), np.nan)

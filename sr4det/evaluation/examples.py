"""The compare report's ``examples.png``: the images where the best SR condition changed the most detections versus
bicubic, as LR / bicubic / best SR / HR crops with the detector's boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data.datasets import GroundTruth
from .cache import CompareCache, lr_key
from .conditions import Condition
from .result import CompareResult
from .settings import Settings
from .shard import ConditionRun, load_hr


def write_examples(
    settings: Settings,
    conditions: Sequence[Condition],
    gt: GroundTruth,
    cache: CompareCache,
    device: Any,
    out_dir: Path,
    result: CompareResult,
    runs: list[ConditionRun],
    hr_keys: dict[int, str],
    n: int = 3,
) -> Path | None:
    """``examples.png``: LR / bicubic / best SR / HR crops with the detector's boxes on the ``n`` images where the
    best SR condition (highest AP, bicubic and the references aside) changed the most detections versus bicubic;
    None (and no file) without a bicubic and another SR condition. SR images come from the cache (else rerun on
    ``device``); ``gt``: the evaluated (mod-cropped) ground truth."""
    from .plots import EXAMPLE_CONF, plot_examples

    target = out_dir / "examples.png"
    target.unlink(missing_ok=True)  # never link a stale figure
    by_name = {c.name: c for c in conditions}
    # the figure compares SR outputs through one detector: conditions with their own detector are left out
    sr = [c.name for c in conditions if c.kind == "sr" and c.name != "bicubic" and c.detector is None]
    if "bicubic" not in by_name or by_name["bicubic"].kind != "sr" or not sr:
        return None
    best = max(sr, key=lambda k: (result.conditions[k].get("AP") is not None, result.conditions[k].get("AP") or 0.0))
    dets = {r.name: _by_image(r.results, EXAMPLE_CONF) for r in runs}
    ids = [i for i in hr_keys if i in {im.id for im in gt.images}]
    changed = {i: _changed(dets[best].get(i, []), dets["bicubic"].get(i, [])) for i in ids}
    chosen = sorted(ids, key=lambda i: (-len(changed[i]), ids.index(i)))[:n]
    if not chosen:
        return None
    images = {im.id: im for im in gt.images}
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in chosen:
        im = images[i]
        hr = load_hr(im)
        lr = settings.degradation(hr)
        panels = [("LR", lr, dets.get("lr", {}).get(i, []))]
        for label, name in (("bicubic", "bicubic"), (f"best SR: {best}", best)):
            sr_img = _sr_image(settings, cache, device, by_name[name], hr_keys[i], lr)
            panels.append((label, sr_img, dets[name].get(i, [])))
        panels.append(("HR", hr, dets.get("hr", {}).get(i, [])))
        rows.append(
            {
                "title": f"{im.file_name}: {len(changed[i])} changed",
                "hr_size": hr.shape[:2],
                "box": _crop_box(changed[i], hr.shape[:2]),
            }
        )
        rows[-1]["panels"] = panels
    return plot_examples(rows, target, {int(c): str(n) for c, n in gt.categories.items()})


def _sr_image(settings: Settings, cache: CompareCache, device: Any, cond, hkey: str, lr: np.ndarray) -> np.ndarray:
    """The condition's SR output for this image: from the cache, else upscaled again."""
    lkey = lr_key(hkey, settings.deg_key)
    if cond.digest is not None:
        img = cache.get_image(cond.key(hkey, lkey, tile=settings.tile))
        if img is not None:
            return img
    cond.load(settings.scale, device=device)
    try:
        return cond.upscale(lr, settings.tile)[0]
    finally:
        cond.release()


def _by_image(results: list[dict], conf: float) -> dict[int, list[dict]]:
    """COCO detections scoring at least ``conf``, grouped by image id."""
    out: dict[int, list[dict]] = {}
    for r in results:
        if r["score"] >= conf:
            out.setdefault(int(r["image_id"]), []).append(r)
    return out


def _iou(a: list[float], b: list[float]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def _changed(a: list[dict], b: list[dict], iou: float = 0.5) -> list[dict]:
    """Detections of ``a`` and ``b`` without a same-class partner (IoU >= ``iou``, greedy by score) in the other."""
    free = sorted(b, key=lambda d: -d["score"])
    unmatched = []
    for d in sorted(a, key=lambda d: -d["score"]):
        j = next(
            (k for k, e in enumerate(free) if e["category_id"] == d["category_id"] and _iou(d["bbox"], e["bbox"]) >= iou), None
        )
        if j is None:
            unmatched.append(d)
        else:
            free.pop(j)
    return unmatched + free


def _crop_box(dets: list[dict], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The HR region around ``dets`` (padded by a quarter of its size, at least 16 px), or the whole image."""
    h, w = size
    if not dets:
        return 0, 0, w, h
    x0 = min(d["bbox"][0] for d in dets)
    y0 = min(d["bbox"][1] for d in dets)
    x1 = max(d["bbox"][0] + d["bbox"][2] for d in dets)
    y1 = max(d["bbox"][1] + d["bbox"][3] for d in dets)
    pad = max(16.0, 0.25 * max(x1 - x0, y1 - y0))
    return max(0, int(x0 - pad)), max(0, int(y0 - pad)), min(w, int(np.ceil(x1 + pad))), min(h, int(np.ceil(y1 + pad)))

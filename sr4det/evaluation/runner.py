"""Run the comparison: every condition through one detector, COCO metrics, paired bootstrap deltas, cost.

The expensive steps (SR outputs, detections) go through a content-addressed cache: keys hash the input
image's bytes, the degradation, the model's weights (or the detector's configuration and weights) and the
code path, and every file is written to a temporary name and renamed, so a run killed at any point (even
with ``kill -9``) leaves only complete entries and a rerun resumes where it stopped, giving identical
results. Timings and peak memory are stored with the cached outputs, so a resumed run reports the cost that
was measured when each output was computed.
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import platform
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._files import mkstemp
from .._heap import trim_heap
from ..data.datasets import ClassMap, GroundTruth, file_sha256
from ..data.io import read_image, to_rgb8, write_image
from ..detectors.base import Detections, Detector
from ..errors import DataError, DetectorError, InputError
from . import coco
from .conditions import Degradation, SRSpec, model_digest, run_sr, tiler

log = logging.getLogger(__name__)

SCHEMA = "sr4det-compare-v1"
_BASELINES = ("bicubic", "lr")


# --------------------------------------------------------------------------------------------- cache


def default_cache_dir() -> Path:
    """``$SR4DET_CACHE/compare`` or ``~/.cache/sr4det/compare``."""
    root = os.environ.get("SR4DET_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "sr4det")
    return Path(root) / "compare"


def _hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = mkstemp(path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


class _Cache:
    """Files under ``root/kind/ab/abcdef...``; ``root=None`` disables caching. Writes are atomic."""

    #: temp files older than this are orphans of a killed run; younger ones may belong to a concurrent run
    ORPHAN_AGE_S = 3600.0

    def __init__(self, root: Path | None):
        self.root = Path(root) if root is not None else None
        self.hits = 0
        self.misses = 0
        self.removed_orphans = self._remove_orphans() if self.root is not None else 0

    def _remove_orphans(self) -> int:
        """Delete ``*.tmp`` files a killed run left behind (atomic writes that never reached their rename)."""
        assert self.root is not None
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - self.ORPHAN_AGE_S
        removed = 0
        for folder, _, files in os.walk(self.root):
            for name in files:
                if not name.endswith(".tmp"):
                    continue
                path = os.path.join(folder, name)
                try:
                    if os.stat(path).st_mtime < cutoff:
                        os.unlink(path)
                        removed += 1
                except OSError:  # gone meanwhile, or not ours to delete: not worth failing a run for
                    continue
        if removed:
            log.info("removed %d orphaned temporary file(s) from the cache %s", removed, self.root)
        return removed

    def _path(self, kind: str, key: str, suffix: str) -> Path:
        assert self.root is not None
        return self.root / kind / key[:2] / f"{key}{suffix}"

    def get_json(self, kind: str, key: str | None, check: Callable[[dict], Any] | None = None) -> dict | None:
        """The cached dict, or None (recompute) when absent, unreadable, not a dict, or rejected by ``check``.

        ``check(value)`` must raise ``KeyError``/``TypeError``/``ValueError`` for an entry of the wrong shape
        (valid JSON with other keys, e.g. left by another version): such an entry is a miss, not a crash.
        """
        if self.root is None or key is None:
            return None
        p = self._path(kind, key, ".json")
        try:
            value = json.loads(p.read_text())
        except (OSError, ValueError):  # absent, or left by an older incompatible writer: recompute
            return None
        if not isinstance(value, dict):
            return None
        if check is not None:
            try:
                check(value)
            except (KeyError, TypeError, ValueError, IndexError):
                log.warning("ignoring a malformed cache entry %s (it is recomputed)", p)
                return None
        return value

    def put_json(self, kind: str, key: str | None, value: dict) -> None:
        if self.root is not None and key is not None:
            _atomic_write_bytes(self._path(kind, key, ".json"), json.dumps(value, sort_keys=True).encode())

    def get_image(self, key: str | None) -> np.ndarray | None:
        if self.root is None or key is None:
            return None
        p = self._path("sr", key, ".png")
        if not p.is_file():
            return None
        try:
            return read_image(p)[0]
        except DataError:
            return None

    def put_image(self, key: str | None, image: np.ndarray) -> None:
        if self.root is not None and key is not None:
            write_image(self._path("sr", key, ".png"), image)


# --------------------------------------------------------------------------------------------- memory


class _PeakMemory:
    """Peak memory over a window: CUDA max allocated on a CUDA device, else the process RSS sampled every 5 ms."""

    def __init__(self, device: Any = None):
        import torch

        self.cuda = device is not None and str(device).startswith("cuda") and torch.cuda.is_available()
        self.kind = "cuda_max_allocated" if self.cuda else "cpu_rss"
        self._peak = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        if not self.cuda:
            import psutil

            self._proc = psutil.Process()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            rss = self._proc.memory_info().rss
            with self._lock:
                self._peak = max(self._peak, rss)

    def start(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.reset_peak_memory_stats()
        else:
            trim_heap()  # start from what is really in use, not from heap pages earlier conditions freed
            with self._lock:
                self._peak = self._proc.memory_info().rss

    def peak_mb(self) -> float:
        if self.cuda:
            import torch

            return torch.cuda.max_memory_allocated() / 2**20
        with self._lock:
            return max(self._peak, self._proc.memory_info().rss) / 2**20

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)


# --------------------------------------------------------------------------------------------- helpers


def _detector_identity(detector: Detector) -> str | None:
    """A key for the detector's outputs (its ``config`` plus the content hash of local weights), or None."""
    cfg = getattr(detector, "config", None)
    if not isinstance(cfg, dict):
        return None
    cfg = dict(cfg)
    w = cfg.get("weights")
    if isinstance(w, str) and Path(w).exists():
        p = Path(w)
        files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
        cfg["weights_sha256"] = _hash([(q.name, file_sha256(q)) for q in files])
        cfg["weights"] = p.name  # the path itself does not change the outputs
    return _hash(type(detector).__name__, cfg)


def _det_to_dict(d: Detections, seconds: float, peak: float) -> dict:
    return {
        "boxes": d.boxes.astype(float).tolist(), "scores": d.scores.astype(float).tolist(),
        "labels": d.labels.tolist(), "image_size": list(d.image_size), "seconds": seconds, "peak_mb": peak,
    }


def _det_from_dict(v: dict, names: dict) -> Detections:
    return Detections(np.array(v["boxes"], np.float32).reshape(-1, 4), np.array(v["scores"], np.float32),
                      np.array(v["labels"], np.int64), dict(names), tuple(v["image_size"]))


def _check_det_entry(v: dict) -> None:
    """Raise unless ``v`` is a complete detection cache entry (see :func:`_det_to_dict`)."""
    det = _det_from_dict(v, {})  # ValueError when boxes, scores and labels do not fit together
    if len(det.image_size) != 2:
        raise ValueError(f"image_size must be (height, width), got {det.image_size}")
    float(v["seconds"]), float(v["peak_mb"])


def _check_sr_entry(v: dict) -> None:
    """Raise unless ``v`` is a complete SR metadata cache entry."""
    for key in ("seconds", "peak_mb", "psnr", "ssim"):
        float(v[key])


@dataclass
class _ConditionRun:
    name: str
    kind: str  # hr | lr | sr
    results: list[dict] = field(default_factory=list)
    sr_seconds: list[float] = field(default_factory=list)
    det_seconds: list[float] = field(default_factory=list)
    peak_mb: list[float] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    n_detections: int = 0
    unmapped: int = 0
    sr_cached: int = 0
    det_cached: int = 0
    info: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- main entry


def compare(
    gt: GroundTruth,
    detector: Detector,
    sr: Sequence[str | SRSpec] = ("bicubic",),
    scale: int = 4,
    *,
    out_dir: str | Path | None = None,
    degradation: Degradation | None = None,
    backend: str = "pycocotools",
    class_map: str | ClassMap = "names",
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    cache_dir: str | Path | None | bool = None,
    tile: str | int | None = "auto",
    device: Any = None,
    limit: int | None = None,
    progress: bool = True,
    extra_config: dict[str, Any] | None = None,
    mos: str | Path | None = None,
    save_images: str | Path | None = None,
) -> dict[str, Any]:
    """Measure detection accuracy, image quality and cost of ``hr``, ``lr``, ``bicubic`` and each SR model.

    Args:
        gt: ground truth (HR frame), e.g. from :func:`sr4det.data.load_dataset`; mod-cropped to ``scale`` here.
        detector: any :class:`~sr4det.detectors.base.Detector` (uint8 RGB (H, W, 3) in, boxes in that frame out).
            Its ``config`` dict (if any) is recorded and keys the detection cache.
        sr: SR conditions: zoo names, weight files or ``name=path`` (:meth:`SRSpec.parse`); ``"bicubic"`` is
            always added as the baseline.
        scale: SR factor; the degradation shrinks by it.
        out_dir: where ``results.json``, ``report.md`` and the plots go (None: nothing written).
        degradation: the LR maker (default MATLAB bicubic x1/scale).
        backend: ``"pycocotools"`` or ``"faster-coco-eval"`` for the headline metrics.
        class_map: ``"names"`` / ``"index"`` / ``"sorted"`` (see :meth:`ClassMap.build`) or a ClassMap.
        n_resamples, seed, confidence: paired bootstrap over images for the delta intervals.
        cache_dir: cache folder; None = :func:`default_cache_dir`, False = no cache.
        tile: passed to :func:`sr4det.tiling.upscale`.
        device: SR device (``"cpu"``, ``"cuda"``); the detector runs where it was built.
        limit: evaluate only the first ``limit`` images.
        mos: a MOS study database (``sr4det mos create``): its MOS per method goes beside the condition of the
            same name (``mos``, ``mos_ci_low``, ``mos_ci_high``) and into ``results["mos"]``.
        save_images: also write each SR condition's output as ``save_images/<condition>/<image stem>.png``
            (mod-cropped HR size), e.g. for ``sr4det mos create --methods espcn=DIR/espcn``.
        progress: tqdm progress bars.

    Returns:
        The results dict (also written to ``out_dir/results.json``): ``conditions`` -> metrics, ``deltas``,
        ``per_class``, ``skipped_images``, ``config``, ``versions``, ``dataset``.
    """
    from tqdm.auto import tqdm

    if degradation is None:
        degradation = Degradation(scale=scale)
    if degradation.scale != scale:
        raise InputError(f"degradation scale {degradation.scale} differs from scale {scale}")
    if n_resamples < 0:
        raise InputError(f"n_resamples must be >= 0, got {n_resamples}")
    specs = [s if isinstance(s, SRSpec) else SRSpec.parse(s) for s in sr]
    if not any(s.name == "bicubic" for s in specs):
        specs.insert(0, SRSpec("bicubic", "bicubic"))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise InputError(f"SR condition names must be unique, got {names}")
    gt = gt.head(limit).mod_crop(scale)
    cmap = class_map if isinstance(class_map, ClassMap) else ClassMap.build(detector.names, gt, class_map)
    cache = _Cache(None if cache_dir is False else Path(cache_dir) if cache_dir is not None else default_cache_dir())
    det_id = _detector_identity(detector)
    if det_id is None and cache.root is not None:
        warnings.warn("the detector has no `config` dict; its detections are not cached", stacklevel=2)
    deg_key = degradation.key()

    # 1. decode every image once: skip (and count) missing, corrupt or mis-sized images
    valid, skipped, hr_keys = [], [], {}
    for im in tqdm(gt.images, desc="check images", disable=not progress, leave=False):
        try:
            if im.height == 0 or im.width == 0:
                raise DataError(f"unreadable image or smaller than the scale {scale} (size unknown or below {scale} px)")
            raw, info = read_image(im.path)
            arr = to_rgb8(raw)
            h0, w0 = arr.shape[:2]
            if (h0 - h0 % scale, w0 - w0 % scale) != (im.height, im.width):
                turned = f" after applying its EXIF orientation {info.orientation}" if info.orientation != 1 else ""
                raise DataError(f"decoded size {h0}x{w0}{turned} does not match the annotated size (mod-cropped {im.height}x{im.width})")
        except DataError as exc:
            warnings.warn(f"skipping {im.file_name}: {exc}", stacklevel=2)
            skipped.append({"image_id": im.id, "file_name": im.file_name, "reason": str(exc)})
            continue
        valid.append(im)
        hr_keys[im.id] = _hash("hr", file_sha256(im.path), scale)
    if not valid:
        raise DataError(f"no readable images among {len(gt.images)} (first problem: {skipped[0]['reason'] if skipped else '-'})")
    gt_eval = gt.subset(im.id for im in valid)
    if gt_eval.num_boxes == 0:
        raise DataError("the readable images have no annotations: AP is undefined")
    gt_coco = gt_eval.to_coco()

    memory = _PeakMemory(device)
    runs: list[_ConditionRun] = []
    sr_backend = "tiler" if tiler() is not None else "direct"
    try:
        conditions: list[tuple[str, str, SRSpec | None]] = [("hr", "hr", None), ("lr", "lr", None)]
        conditions += [(s.name, "sr", s) for s in specs]
        for name, kind, spec in conditions:
            runs.append(_run_condition(
                name, kind, spec, valid, hr_keys, detector, det_id, cmap, degradation, deg_key, scale, cache, memory,
                tile, device, sr_backend, progress, save_images,
            ))
    finally:
        memory.close()

    # 2. evaluate
    evals: dict[str, coco.CocoResult] = {}
    for run in tqdm(runs, desc="COCO eval", disable=not progress, leave=False):
        evals[run.name] = coco.evaluate(gt_coco, run.results, backend=backend, keep_matches=n_resamples > 0)
    conditions_out: dict[str, dict[str, Any]] = {}
    for run in runs:
        m = dict(evals[run.name].metrics)
        m.update({
            "psnr": _mean(run.psnr), "ssim": _mean(run.ssim),
            "sr_seconds_per_image": _mean(run.sr_seconds) if run.kind == "sr" else 0.0,
            "detector_seconds_per_image": _mean(run.det_seconds),
            "peak_memory_mb": max(run.peak_mb) if run.peak_mb else None,
            "n_images": len(valid), "n_detections": run.n_detections, "unmapped_detections": run.unmapped,
            "sr_cached": run.sr_cached, "detections_cached": run.det_cached, **run.info,
        })
        conditions_out[run.name] = m

    # 3. paired bootstrap deltas
    deltas: dict[str, dict[str, Any]] = {}
    boot = {}
    if n_resamples > 0:
        weights = coco.bootstrap_weights(len(valid), n_resamples, seed)
        boot = coco.bootstrap_ap({n: e.matches for n, e in evals.items()}, weights, progress=progress)
    for base in _BASELINES:
        for run in runs:
            if run.name == base:
                continue
            entry = {}
            for key in ("AP", "AP50"):
                a, b = evals[run.name].metrics[key], evals[base].metrics[key]
                d = {"delta": None if a is None or b is None else a - b, "ci_low": None, "ci_high": None}
                if boot:
                    lo, hi = coco.paired_delta_ci(boot[run.name][key], boot[base][key], confidence, estimate=d["delta"])
                    d["ci_low"], d["ci_high"] = _finite(lo), _finite(hi)
                entry[key] = d
            entry["psnr"] = _diff(conditions_out[run.name]["psnr"], conditions_out[base]["psnr"])
            deltas.setdefault(f"vs_{base}", {})[run.name] = entry

    # 4. per-class AP and delta vs bicubic
    per_class = {}
    for cid, cname in sorted(gt_eval.categories.items()):
        row = {"name": cname, "n_gt": int(sum(int(((im.category_ids == cid) & (im.iscrowd == 0)).sum()) for im in gt_eval.images))}
        if row["n_gt"] == 0:
            continue
        row["AP"] = {n: e.per_class_ap.get(cid) for n, e in evals.items()}
        base = row["AP"].get("bicubic")
        row["delta_vs_bicubic"] = {n: _diff(v, base) for n, v in row["AP"].items() if n != "bicubic"}
        per_class[str(cid)] = row

    mos_by_method = None
    if mos is not None:
        from ..mos import mos_table

        mos_by_method = mos_table(mos)
        for name, m in conditions_out.items():
            entry = mos_by_method.get(name)
            if entry is not None:
                m.update({"mos": entry["mos"], "mos_ci_low": entry["ci_low"], "mos_ci_high": entry["ci_high"], "mos_n": entry["n"]})

    results = {
        "schema": SCHEMA,
        "conditions": conditions_out,
        "deltas": deltas,
        "per_class": per_class,
        "skipped_images": skipped,
        "n_images": len(valid),
        "n_skipped": len(skipped),
        "dataset": {
            "source": gt.source, "format": gt.format, "sha256": gt_eval.content_hash(), "n_images": len(gt_eval),
            "n_boxes": gt_eval.num_boxes, "n_crowd": int(sum(int(im.iscrowd.sum()) for im in gt_eval.images)),
            "mod_crop": scale, "boxes_dropped_by_crop": gt.dropped_boxes, "limit": limit,
        },
        "config": {
            "scale": scale, "degradation": degradation.config(), "detector": getattr(detector, "config", repr(detector)),
            "class_map": {str(k): v for k, v in cmap.index_to_category.items()}, "backend": backend,
            "bootstrap": {"n_resamples": n_resamples, "seed": seed, "confidence": confidence, "unit": "image", "paired": True},
            "sr": {s.name: s.source for s in specs}, "tile": tile, "sr_backend": sr_backend, "device": None if device is None else str(device),
            "memory": memory.kind, "psnr_ssim": f"Y channel (BT.601), uint8, border shave {scale}",
            "cache_dir": None if cache.root is None else str(cache.root), **(extra_config or {}),
        },
        "mos": None if mos_by_method is None else {"study": str(mos), "methods": mos_by_method},
        "versions": _versions(),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count()},
    }
    if out_dir is not None:
        from .report import write_report

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        _atomic_write_bytes(out / "results.json", json.dumps(results, indent=2, sort_keys=False).encode())
        write_report(results, out)
    return results


def _run_condition(name, kind, spec, images, hr_keys, detector, det_id, cmap, degradation, deg_key, scale, cache,
                   memory, tile, device, sr_backend, progress, save_images=None) -> _ConditionRun:
    from tqdm.auto import tqdm

    from ..metrics import psnr_y, ssim_y

    run = _ConditionRun(name, kind)
    model, mkey = None, None
    if kind == "sr":
        model = spec.load(scale, device=device)
        mkey = model_digest(model)
        card = getattr(model, "card", None)
        run.info = {"model": spec.source, "params": getattr(card, "params", None),
                    "weights_source": getattr(card, "weights_source", None), "model_digest": mkey[:16]}
    for im in tqdm(images, desc=f"{name}", disable=not progress, leave=False):
        hr = None
        hr_key = hr_keys[im.id]
        sr_peak = 0.0
        if kind == "hr":
            img_key = hr_key
        else:
            lr_key = _hash("lr", hr_key, deg_key)
            img_key = lr_key
        if kind == "sr":
            sr_key = _hash("sr", lr_key, mkey, tile, sr_backend)
            img_key = sr_key
            meta = cache.get_json("sr", sr_key, _check_sr_entry)
            img = cache.get_image(sr_key) if meta is not None else None
            if img is not None:
                run.sr_cached += 1
            else:
                hr = _load_hr(im, scale)
                lr = degradation(hr)
                memory.start()
                t0 = time.perf_counter()
                img, how = run_sr(model, lr, tile)
                seconds = time.perf_counter() - t0
                sr_peak = memory.peak_mb()
                if img.shape[:2] != hr.shape[:2]:
                    raise InputError(f"{name} returned {img.shape[:2]} for a {lr.shape[:2]} input at x{scale}; expected {hr.shape[:2]}")
                meta = {"seconds": seconds, "peak_mb": sr_peak, "psnr": psnr_y(img, hr, shave=scale),
                        "ssim": ssim_y(img, hr, shave=scale), "how": how}
                # image first, then its metadata: a kill in between leaves an entry that is recomputed
                cache.put_image(sr_key, img)
                cache.put_json("sr", sr_key, meta)
            if save_images is not None:
                target = Path(save_images) / name / f"{Path(im.file_name).stem}.png"
                if not target.exists():
                    write_image(target, img)
            run.sr_seconds.append(float(meta["seconds"]))
            run.psnr.append(float(meta["psnr"]))
            run.ssim.append(float(meta["ssim"]))
            sr_peak = float(meta["peak_mb"])
        det_key = None if det_id is None else _hash("det", img_key, det_id)
        cached = cache.get_json("det", det_key, _check_det_entry)
        if cached is not None:
            det = _det_from_dict(cached, detector.names)
            run.det_cached += 1
        else:
            if kind == "hr":
                img = _load_hr(im, scale) if hr is None else hr
            elif kind == "lr":
                hr = _load_hr(im, scale) if hr is None else hr
                img = degradation(hr)
            memory.start()
            t0 = time.perf_counter()
            try:
                dets = detector([img])
            except (InputError, DetectorError):
                raise
            except Exception as exc:  # an adapter's own failure, reported with the condition and image
                raise DetectorError(f"detector failed on {im.file_name} ({name}): {type(exc).__name__}: {exc}") from exc
            seconds = time.perf_counter() - t0
            if len(dets) != 1:
                raise DetectorError(f"detector returned {len(dets)} results for 1 image")
            cached = _det_to_dict(dets[0], seconds, memory.peak_mb())
            cache.put_json("det", det_key, cached)
            det = _det_from_dict(cached, detector.names)  # exactly what a resumed run reads back
        run.det_seconds.append(float(cached["seconds"]))
        run.peak_mb.append(max(sr_peak, float(cached["peak_mb"])))
        if kind == "lr":
            det = det.rescaled(float(scale), image_size=(im.height, im.width))
        elif tuple(det.image_size) not in ((im.height, im.width), (0, 0)):
            raise DetectorError(f"detections of {im.file_name} ({name}) are in a {det.image_size} frame, expected {(im.height, im.width)}")
        run.n_detections += len(det)
        cats = cmap.map_labels(det.labels)
        run.unmapped += int((cats < 0).sum())
        for box, score, cat in zip(det.boxes.astype(np.float64), det.scores.astype(np.float64), cats, strict=True):
            if cat < 0:
                continue
            x1, y1, x2, y2 = (float(v) for v in box)
            run.results.append({"image_id": int(im.id), "category_id": int(cat), "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(score)})
    if model is not None:  # free the SR model before the next condition's peak-memory window
        del model
        gc.collect()
    if run.unmapped:
        warnings.warn(f"{name}: {run.unmapped} detections have classes without a dataset category and were not evaluated", stacklevel=3)
    return run


def _load_hr(im, scale: int) -> np.ndarray:
    arr = to_rgb8(read_image(im.path)[0])
    return np.ascontiguousarray(arr[: im.height, : im.width])


def _mean(v: list[float]) -> float | None:
    return float(np.mean(v)) if v else None


def _finite(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def _diff(a, b):
    return None if a is None or b is None else float(a - b)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("sr4det", "torch", "torchvision", "numpy", "ultralytics", "pycocotools", "faster-coco-eval", "openvino",
                "onnxruntime", "spandrel", "opencv-python-headless"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out

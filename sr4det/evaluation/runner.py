"""Run the comparison: every condition through one detector, COCO metrics, paired bootstrap deltas, cost.

The steps are the methods of :class:`Comparison`: check the images, run each :class:`~.conditions.Condition`
(SR and detection, through the :class:`~.cache.CompareCache`), evaluate (COCO metrics, paired bootstrap,
per-class AP) into a :class:`~.result.CompareResult`. Under torchrun the first two run on each rank's shard of
the images, every rank scores its share of the conditions, and rank 0 assembles and writes (see
:mod:`.distributed`); the results are identical to a single-process run with the same intra-op thread count per
process (CPU convolutions round differently with another count: see ``machine.torch_threads`` in results.json).

The expensive steps (SR outputs, detections) go through a content-addressed cache (:mod:`.cache`), written
atomically, so a run killed at any point (even with ``kill -9``) leaves only complete entries and a rerun
resumes where it stopped, giving identical results. Timings and peak memory are stored with the cached
outputs, so a resumed run reports the cost that was measured when each output was computed.

Cost: each condition makes one untimed warm-up call of its SR step and of its detector before the first timed one
(the first condition would otherwise pay for the detector's lazy initialisation), and memory is each step's own
peak over a baseline taken just before it (:class:`_PeakMemory`).
"""

from __future__ import annotations

import logging
import os
import platform
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._heap import trim_heap
from ..data.datasets import ClassMap, GroundTruth
from ..data.io import read_image, to_rgb8, write_image
from ..detectors.base import Detections, Detector
from ..errors import DataError, DetectorError, InputError
from . import coco
from .cache import CompareCache, default_cache_dir, det_key, detector_identity, hr_key, lr_key
from .condition_detectors import check_class_lists, detector_label, detector_record, resolve_detectors
from .conditions import MAIN_DETECTOR, Condition, Degradation, SRCondition, SRSpec, standard_conditions, tiler
from .distributed import DistContext, RankFailedError, setup
from .result import SCHEMA, CompareResult

__all__ = ["SCHEMA", "Comparison", "compare", "default_cache_dir"]

_BASELINES = ("bicubic", "lr")
log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------- memory


class _PeakMemory:
    """One step's own peak memory: the peak over a baseline taken by :meth:`start` just before the step.

    On a CUDA device: ``torch.cuda.max_memory_allocated()`` minus what was allocated at :meth:`start` (the model's
    weights and earlier tensors are not counted). Elsewhere: the process RSS sampled every 2 ms (and once more at
    :meth:`peak_mb`) minus the RSS at :meth:`start`, after freed heap pages were returned to the OS. A step shorter
    than the sampling interval whose temporaries are freed before it returns can read as ~0.
    """

    INTERVAL_S = 0.002

    def __init__(self, device: Any = None):
        import torch

        self.cuda = device is not None and str(device).startswith("cuda") and torch.cuda.is_available()
        self.kind = "cuda_max_allocated_delta" if self.cuda else "cpu_rss_delta"
        self._peak = 0
        self._base = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        if not self.cuda:
            import psutil

            self._proc = psutil.Process()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self.INTERVAL_S):
            rss = self._proc.memory_info().rss
            with self._lock:
                self._peak = max(self._peak, rss)

    def start(self) -> None:
        """Take the baseline: call just before the measured step."""
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._base = torch.cuda.memory_allocated()
        else:
            trim_heap()  # start from what is really in use, not from heap pages earlier conditions freed
            with self._lock:
                self._base = self._peak = self._proc.memory_info().rss

    def peak_mb(self) -> float:
        """The step's peak over the baseline, in MiB (never negative)."""
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            return max(0, torch.cuda.max_memory_allocated() - self._base) / 2**20
        with self._lock:
            return max(0, max(self._peak, self._proc.memory_info().rss) - self._base) / 2**20

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)


# --------------------------------------------------------------------------------------------- helpers


def _det_to_dict(d: Detections, seconds: float, peak: float) -> dict:
    return {
        "boxes": d.boxes.astype(float).tolist(),
        "scores": d.scores.astype(float).tolist(),
        "labels": d.labels.tolist(),
        "image_size": list(d.image_size),
        **_cost_fields(seconds, peak),
    }


def _cost_fields(seconds: float, peak_delta_mb: float) -> dict:
    """The cost of one step as a cache entry stores it: wall seconds after the warm-up, peak MiB over the baseline."""
    return {"seconds": seconds, "peak_delta_mb": peak_delta_mb, "warm": True}


def _entry_cost(v: dict) -> tuple[float, float] | None:
    """(seconds, peak MiB over the step's baseline) of a cache entry, or None for an entry written before sr4det
    warmed up and measured each step's own memory (its seconds may include a warm-up, its memory was the whole
    process): such a cost is not reported, the cached output is still used."""
    if v.get("warm") is True:
        return float(v["seconds"]), float(v["peak_delta_mb"])
    float(v["seconds"]), float(v["peak_mb"])  # the older entry is complete
    return None


def _det_from_dict(v: dict, names: dict) -> Detections:
    return Detections(
        np.array(v["boxes"], np.float32).reshape(-1, 4),
        np.array(v["scores"], np.float32),
        np.array(v["labels"], np.int64),
        dict(names),
        tuple(v["image_size"]),
    )


def _check_det_entry(v: dict) -> None:
    """Raise unless ``v`` is a complete detection cache entry (see :func:`_det_to_dict`)."""
    det = _det_from_dict(v, {})  # ValueError when boxes, scores and labels do not fit together
    if len(det.image_size) != 2:
        raise ValueError(f"image_size must be (height, width), got {det.image_size}")
    _entry_cost(v)


def _check_sr_entry(v: dict) -> None:
    """Raise unless ``v`` is a complete SR metadata cache entry."""
    for key in ("psnr", "ssim"):
        float(v[key])
    _entry_cost(v)


@dataclass
class ConditionRun:
    """One condition's per-image outputs on a set of images (a shard, or all of them after :meth:`merge`)."""

    name: str
    kind: str  # hr | lr | sr
    results: list[dict] = field(default_factory=list)
    #: per-image cost of the SR and the detection step (warm seconds, peak MiB over the step's baseline); images
    #: whose cost came from an older cache entry are left out and counted in ``cost_unmeasured``
    sr_seconds: list[float] = field(default_factory=list)
    det_seconds: list[float] = field(default_factory=list)
    sr_peak_mb: list[float] = field(default_factory=list)
    det_peak_mb: list[float] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    n_detections: int = 0
    unmapped: int = 0
    sr_cached: int = 0
    det_cached: int = 0
    cost_unmeasured: int = 0
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def merge(cls, parts: Sequence[ConditionRun]) -> ConditionRun:
        """The runs of consecutive shards as one run (lists concatenated in shard order, counts summed)."""
        out = cls(parts[0].name, parts[0].kind, info=dict(parts[0].info))
        for p in parts:
            for attr in ("results", "sr_seconds", "det_seconds", "sr_peak_mb", "det_peak_mb", "psnr", "ssim"):
                getattr(out, attr).extend(getattr(p, attr))
            for attr in ("n_detections", "unmapped", "sr_cached", "det_cached", "cost_unmeasured"):
                setattr(out, attr, getattr(out, attr) + getattr(p, attr))
        return out


@dataclass
class _Scored:
    """One condition's COCO evaluation (matches dropped) and its bootstrap AP/AP50 per resample (None: no bootstrap)."""

    coco: coco.CocoResult
    boot: dict[str, np.ndarray] | None


@dataclass
class _Checked:
    """The image check of one shard: readable images (ids) and the skipped ones, in dataset order."""

    valid: list[int]
    skipped: list[dict[str, Any]]
    hr_keys: dict[int, str]


class Comparison:
    """One comparison, step by step (see :func:`compare` for the arguments). :meth:`run` does all steps."""

    def __init__(
        self,
        gt: GroundTruth,
        detector: Detector,
        conditions: Sequence[Condition],
        *,
        scale: int,
        degradation: Degradation,
        backend: str,
        class_map: str | ClassMap,
        n_resamples: int,
        seed: int,
        confidence: float,
        cache: CompareCache,
        tile: str | int | None,
        device: Any,
        limit: int | None,
        progress: bool,
        extra_config: dict[str, Any] | None,
        mos: str | Path | None,
        save_images: str | Path | None,
        dist: DistContext,
    ):
        if degradation.scale != scale:
            raise InputError(f"degradation scale {degradation.scale} differs from scale {scale}")
        if n_resamples < 0:
            raise InputError(f"n_resamples must be >= 0, got {n_resamples}")
        names = [c.name for c in conditions]
        if len(set(names)) != len(names):
            raise InputError(f"SR condition names must be unique, got {[n for n in names if n not in ('hr', 'lr')]}")
        check_class_lists(detector, conditions)  # conditions with their own detector: before any work
        self.source_gt = gt
        self.gt = gt.head(limit).mod_crop(scale)
        self.detector = detector
        self.conditions = list(conditions)
        self.scale = scale
        self.degradation = degradation
        self.deg_key = degradation.key()
        self.backend = backend
        self.cmap = class_map if isinstance(class_map, ClassMap) else ClassMap.build(detector.names, self.gt, class_map)
        self.n_resamples, self.seed, self.confidence = n_resamples, seed, confidence
        self.cache = cache
        self.tile = tile
        self.requested_device = device
        self.device = dist.device(None if device is None else str(device))
        self.limit = limit
        self.dist = dist
        self.progress = progress and dist.is_main
        self.extra_config = extra_config
        self.mos = mos
        self.save_images = save_images
        self.sr_backend = "tiler" if tiler() is not None else "direct"
        self.det_ids = {
            id(d): detector_identity(d) for d in {id(c.detector or detector): c.detector or detector for c in conditions}.values()
        }
        self.memory_kind = "cpu_rss"
        #: wall seconds of this rank's shard (check, SR, detection), of waiting for and sharing all ranks' outputs,
        #: of scoring this rank's share of the conditions (COCO eval + bootstrap), and of rank 0's deltas and
        #: report (``evaluate_s`` = the last two, including waiting for the other ranks' scores); set on rank 0
        self.timings: dict[str, float] = {}
        if cache.root is not None and None in self.det_ids.values():
            warnings.warn("the detector has no `config` dict; its detections are not cached", stacklevel=3)

    # ----------------------------------------------------------------------------------- steps

    def check_images(self, images) -> _Checked:
        """Decode every image once: skip (and list) missing, corrupt or mis-sized images."""
        from .._progress import tqdm

        scale = self.scale
        out = _Checked([], [], {})
        for im in tqdm(images, desc="check images", disable=not self.progress, leave=False):
            try:
                if im.height == 0 or im.width == 0:
                    raise DataError(f"unreadable image or smaller than the scale {scale} (size unknown or below {scale} px)")
                raw, info = read_image(im.path)
                arr = to_rgb8(raw)
                h0, w0 = arr.shape[:2]
                if (h0 - h0 % scale, w0 - w0 % scale) != (im.height, im.width):
                    turned = f" after applying its EXIF orientation {info.orientation}" if info.orientation != 1 else ""
                    raise DataError(
                        f"decoded size {h0}x{w0}{turned} does not match the annotated size (mod-cropped {im.height}x{im.width})"
                    )
            except DataError as exc:
                warnings.warn(f"skipping {im.file_name}: {exc}", stacklevel=2)
                out.skipped.append({"image_id": im.id, "file_name": im.file_name, "reason": str(exc)})
                continue
            out.valid.append(im.id)
            out.hr_keys[im.id] = hr_key(im.path, scale)
        return out

    def run_conditions(self, images, hr_keys: dict[int, str]) -> list[ConditionRun]:
        """SR and detection of every condition on ``images`` (this rank's readable images)."""
        memory = _PeakMemory(self.device)
        self.memory_kind = memory.kind
        try:
            return [self.run_condition(c, images, hr_keys, memory) for c in self.conditions]
        finally:
            memory.close()

    def run_condition(self, cond: Condition, images, hr_keys: dict[int, str], memory: _PeakMemory) -> ConditionRun:
        """One condition on ``images``. Before the first timed SR step and the first timed detection of the condition,
        the same call runs once untimed (warm-up: lazy initialisation, kernel selection, caches), so no condition's
        cost depends on the conditions that ran before it."""
        from .._progress import tqdm

        run = ConditionRun(cond.name, cond.kind)
        run.info = {**cond.load(self.scale, device=self.device), "detector": detector_label(cond)}
        detector = cond.detector or self.detector
        det_id = self.det_ids[id(detector)]
        warm: set[str] = set()
        try:
            for im in tqdm(images, desc=cond.name, disable=not self.progress, leave=False):
                self._one_image(cond, run, im, hr_keys[im.id], detector, det_id, memory, warm)
        finally:
            cond.release()  # free the SR model before the next condition's peak-memory window
        return run

    def _detect(self, detector, img: np.ndarray, cond, im) -> Detections:
        try:
            dets = detector([img])
        except (InputError, DetectorError):
            raise
        except Exception as exc:  # an adapter's own failure, reported with the condition and image
            raise DetectorError(f"detector failed on {im.file_name} ({cond.name}): {type(exc).__name__}: {exc}") from exc
        if len(dets) != 1:
            raise DetectorError(f"detector returned {len(dets)} results for 1 image")
        return dets[0]

    def _one_image(self, cond, run: ConditionRun, im, hkey: str, detector, det_id, memory: _PeakMemory, warm: set[str]) -> None:
        from ..metrics import psnr_y, ssim_y

        scale, cache = self.scale, self.cache
        hr = img = None
        measured = True
        lkey = lr_key(hkey, self.deg_key)
        img_key = cond.key(hkey, lkey, tile=self.tile, sr_backend=self.sr_backend)
        if cond.kind == "sr":
            meta = cache.get_json("sr", img_key, _check_sr_entry)
            img = cache.get_image(img_key) if meta is not None else None
            if img is not None:
                run.sr_cached += 1
            else:
                hr = _load_hr(im, scale)
                lr = self.degradation(hr)
                if "sr" not in warm:
                    cond.upscale(lr, self.tile)  # warm-up, untimed
                    warm.add("sr")
                memory.start()
                t0 = time.perf_counter()
                img, how = cond.upscale(lr, self.tile)
                seconds = time.perf_counter() - t0
                sr_peak = memory.peak_mb()
                if img.shape[:2] != hr.shape[:2]:
                    raise InputError(
                        f"{cond.name} returned {img.shape[:2]} for a {lr.shape[:2]} input at x{scale}; expected {hr.shape[:2]}"
                    )
                meta = {
                    **_cost_fields(seconds, sr_peak),
                    "psnr": psnr_y(img, hr, shave=scale),
                    "ssim": ssim_y(img, hr, shave=scale),
                    "how": how,
                }
                # image first, then its metadata: a kill in between leaves an entry that is recomputed
                cache.put_image(img_key, img)
                cache.put_json("sr", img_key, meta)
            if self.save_images is not None:
                target = Path(self.save_images) / cond.name / f"{Path(im.file_name).stem}.png"
                if not target.exists():
                    write_image(target, img)
            assert meta is not None  # read from the cache or computed above
            run.psnr.append(float(meta["psnr"]))
            run.ssim.append(float(meta["ssim"]))
            cost = _entry_cost(meta)
            if cost is None:
                measured = False
            else:
                run.sr_seconds.append(cost[0])
                run.sr_peak_mb.append(cost[1])
        dkey = det_key(img_key, det_id)
        cached = cache.get_json("det", dkey, _check_det_entry)
        if cached is not None:
            det = _det_from_dict(cached, detector.names)
            run.det_cached += 1
        else:
            if cond.kind != "sr":
                img = cond.render(_load_hr(im, scale), self.degradation)
            assert img is not None  # SR conditions set it above
            if "det" not in warm:
                self._detect(detector, img, cond, im)  # warm-up, untimed
                warm.add("det")
            memory.start()
            t0 = time.perf_counter()
            found = self._detect(detector, img, cond, im)
            seconds = time.perf_counter() - t0
            cached = _det_to_dict(found, seconds, memory.peak_mb())
            cache.put_json("det", dkey, cached)
            det = _det_from_dict(cached, detector.names)  # exactly what a resumed run reads back
        cost = _entry_cost(cached)
        if cost is None:
            measured = False
        else:
            run.det_seconds.append(cost[0])
            run.det_peak_mb.append(cost[1])
        run.cost_unmeasured += not measured
        if cond.low_resolution:
            det = det.rescaled(float(scale), image_size=(im.height, im.width))
        elif tuple(det.image_size) not in ((im.height, im.width), (0, 0)):
            raise DetectorError(
                f"detections of {im.file_name} ({cond.name}) are in a {det.image_size} frame, expected {(im.height, im.width)}"
            )
        run.n_detections += len(det)
        cats = self.cmap.map_labels(det.labels)
        run.unmapped += int((cats < 0).sum())
        for box, score, cat in zip(det.boxes.astype(np.float64), det.scores.astype(np.float64), cats, strict=True):
            if cat < 0:
                continue
            x1, y1, x2, y2 = (float(v) for v in box)
            run.results.append(
                {"image_id": int(im.id), "category_id": int(cat), "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(score)}
            )

    def score(self, valid_ids: list[int], runs: Sequence[ConditionRun]) -> dict[str, _Scored]:
        """COCO metrics and the bootstrap resamples of each of ``runs`` (independent per condition: sharded runs
        split the conditions over the ranks). Every rank draws the same resample weights (seeded), so the
        resamples stay paired across conditions whichever rank scored them."""
        from .._progress import tqdm

        gt_coco = self.gt.subset(valid_ids).to_coco()
        weights = coco.bootstrap_weights(len(valid_ids), self.n_resamples, self.seed) if self.n_resamples > 0 else None
        out: dict[str, _Scored] = {}
        for run in tqdm(runs, desc="COCO eval + bootstrap", disable=not self.progress, leave=False):
            ev = coco.evaluate(gt_coco, run.results, backend=self.backend, keep_matches=weights is not None)
            boot = None
            if weights is not None:
                assert ev.matches is not None  # kept because keep_matches=True
                boot = coco.bootstrap_ap({run.name: ev.matches}, weights)[run.name]
                ev.matches = None  # large, and not needed once resampled
            out[run.name] = _Scored(ev, boot)
        return out

    def evaluate(
        self, valid_ids: list[int], skipped: list[dict], runs: list[ConditionRun], scored: dict[str, _Scored] | None = None
    ) -> CompareResult:
        """COCO metrics per condition, paired bootstrap deltas, per-class AP, MOS: the result (rank 0's work).

        ``scored``: :meth:`score`'s output for every run when the ranks already computed it."""
        for run in runs:
            if run.unmapped:
                warnings.warn(
                    f"{run.name}: {run.unmapped} detections have classes without a dataset category and were not evaluated",
                    stacklevel=4,
                )
        gt_eval = self.gt.subset(valid_ids)
        n = len(valid_ids)
        if scored is None:
            scored = self.score(valid_ids, runs)
        evals = {run.name: scored[run.name].coco for run in runs}
        boot = {run.name: scored[run.name].boot for run in runs} if self.n_resamples > 0 else {}
        conditions_out: dict[str, dict[str, Any]] = {}
        for run in runs:
            m: dict[str, Any] = dict(evals[run.name].metrics)
            m.update(
                {
                    "psnr": _mean(run.psnr),
                    "ssim": _mean(run.ssim),
                    "sr_seconds_per_image": _mean(run.sr_seconds) if run.kind == "sr" else 0.0,
                    "detector_seconds_per_image": _mean(run.det_seconds),
                    "sr_peak_memory_mb": (max(run.sr_peak_mb) if run.sr_peak_mb else None) if run.kind == "sr" else 0.0,
                    "detector_peak_memory_mb": max(run.det_peak_mb) if run.det_peak_mb else None,
                    "cost_unmeasured_images": run.cost_unmeasured,
                    "n_images": n,
                    "n_detections": run.n_detections,
                    "unmapped_detections": run.unmapped,
                    "sr_cached": run.sr_cached,
                    "detections_cached": run.det_cached,
                    **run.info,
                }
            )
            conditions_out[run.name] = m
        deltas = self._deltas(runs, evals, conditions_out, boot)
        from .report import headline

        for name, m in conditions_out.items():
            m["headline"] = headline(name, deltas)
        per_class = _per_class(gt_eval, evals)
        mos_by_method = None
        if self.mos is not None:
            from ..mos import mos_table

            mos_by_method = mos_table(self.mos)
            for name, m in conditions_out.items():
                entry = mos_by_method.get(name)
                if entry is not None:
                    m.update(
                        {"mos": entry["mos"], "mos_ci_low": entry["ci_low"], "mos_ci_high": entry["ci_high"], "mos_n": entry["n"]}
                    )
        return CompareResult(
            conditions=conditions_out,
            deltas=deltas,
            per_class=per_class,
            skipped_images=skipped,
            dataset=self._dataset_info(gt_eval),
            config=self._config(),
            mos=None if mos_by_method is None else {"study": str(self.mos), "methods": mos_by_method},
            versions=_versions(),
            machine={
                "platform": platform.platform(),
                "processor": platform.processor() or platform.machine(),
                "cpu_count": os.cpu_count(),
                # CPU convolutions round differently with another intra-op thread count (a 1-level difference in
                # ~0.001% of SR output pixels here): outputs are bit-identical only for the same count
                "torch_threads": torch.get_num_threads(),
            },
        )

    def _deltas(self, runs, evals, conditions_out, boot) -> dict[str, dict[str, Any]]:
        deltas: dict[str, dict[str, Any]] = {}
        for base in _BASELINES:
            if base not in evals:
                continue
            for run in runs:
                if run.name == base:
                    continue
                entry = self._paired(run.name, base, evals, boot)
                entry["psnr"] = _diff(conditions_out[run.name]["psnr"], conditions_out[base]["psnr"])
                if "hr" in evals and run.name != "hr":
                    entry["AP_gap_recovered"] = self._gap_recovered(run.name, base, evals, boot)
                deltas.setdefault(f"vs_{base}", {})[run.name] = entry
        # an input scored by its own detector (``X@LABEL``) against the same input through the main detector (``X``):
        # what swapping the detector buys, paired over the same images
        for run in runs:
            same = run.name.split("@", 1)[0]
            if same != run.name and same in evals:
                deltas.setdefault("vs_same_input", {})[run.name] = {
                    "reference": same,
                    **self._paired(run.name, same, evals, boot),
                }
        return deltas

    def _paired(self, name: str, base: str, evals, boot) -> dict[str, Any]:
        """AP and AP50 of ``name`` minus ``base``, each with its paired-bootstrap interval (None without bootstrap)."""
        entry: dict[str, Any] = {}
        for key in ("AP", "AP50"):
            a, b = evals[name].metrics[key], evals[base].metrics[key]
            d = {"delta": None if a is None or b is None else a - b, "ci_low": None, "ci_high": None}
            if boot:
                lo, hi = coco.paired_delta_ci(boot[name][key], boot[base][key], self.confidence, estimate=d["delta"])
                d["ci_low"], d["ci_high"] = _finite(lo), _finite(hi)
            entry[key] = d
        return entry

    def _gap_recovered(self, name: str, base: str, evals, boot) -> dict[str, Any]:
        """The share of the ``base`` -> ``hr`` AP gap that ``name`` recovers, with its paired-bootstrap interval.

        None (n/a) when HR is not better than ``base`` (no gap to recover)."""
        a, b, top = (evals[k].metrics["AP"] for k in (name, base, "hr"))
        out: dict[str, Any] = {"estimate": None, "ci_low": None, "ci_high": None, "gap": _diff(top, b)}
        if a is None or b is None or top is None or top - b <= 0:
            return out
        out["estimate"] = (a - b) / (top - b)
        if boot:
            lo, hi = coco.gap_fraction_ci(
                boot[name]["AP"], boot[base]["AP"], boot["hr"]["AP"], self.confidence, estimate=out["estimate"]
            )
            out["ci_low"], out["ci_high"] = _finite(lo), _finite(hi)
        return out

    def _dataset_info(self, gt_eval: GroundTruth) -> dict[str, Any]:
        gt = self.gt
        return {
            "source": gt.source,
            "format": gt.format,
            "sha256": gt_eval.content_hash(),
            "n_images": len(gt_eval),
            "n_boxes": gt_eval.num_boxes,
            "n_crowd": int(sum(int(im.iscrowd.sum()) for im in gt_eval.images)),
            "mod_crop": self.scale,
            "boxes_dropped_by_crop": gt.dropped_boxes,
            "limit": self.limit,
        }

    def _config(self) -> dict[str, Any]:
        device = self.requested_device
        return {
            "scale": self.scale,
            "degradation": self.degradation.config(),
            "detector": getattr(self.detector, "config", repr(self.detector)),
            "class_map": {str(k): v for k, v in self.cmap.index_to_category.items()},
            "backend": self.backend,
            "bootstrap": {
                "n_resamples": self.n_resamples,
                "seed": self.seed,
                "confidence": self.confidence,
                "unit": "image",
                "paired": True,
            },
            # kind "sr" is SRCondition, whose __post_init__ always sets spec
            "sr": {c.name: c.spec.source for c in self.conditions if isinstance(c, SRCondition) and c.spec is not None},
            "tile": self.tile,
            "sr_backend": self.sr_backend,
            "device": None if device is None else str(device),
            "memory": self.memory_kind,
            "psnr_ssim": f"Y channel (BT.601), uint8, border shave {self.scale}",
            "cache_dir": None if self.cache.root is None else str(self.cache.root),
            "world_size": self.dist.world_size,
            "detectors": self._detector_records(),
            **(self.extra_config or {}),
        }

    def _detector_records(self) -> dict[str, dict[str, Any]]:
        """label -> the detector's path, weights digest, settings and cache identity, and the conditions it scored
        (``main``: the run's detector)."""
        out: dict[str, dict[str, Any]] = {}
        for c in self.conditions:
            label = detector_label(c)
            if label not in out:
                out[label] = {**detector_record(c.detector or self.detector), "conditions": []}
            out[label]["conditions"].append(c.name)
        if MAIN_DETECTOR in out:  # the run's detector first
            out = {MAIN_DETECTOR: out.pop(MAIN_DETECTOR), **out}
        return out

    def write_examples(
        self, out_dir: Path, result: CompareResult, runs: list[ConditionRun], hr_keys: dict[int, str], n: int = 3
    ) -> Path | None:
        """``examples.png``: LR / bicubic / best SR / HR crops with the detector's boxes on the ``n`` images where the
        best SR condition (highest AP, bicubic and the references aside) changed the most detections versus bicubic;
        None (and no file) without a bicubic and another SR condition. SR images come from the cache (else rerun)."""
        from .report import EXAMPLE_CONF, plot_examples

        target = out_dir / "examples.png"
        target.unlink(missing_ok=True)  # never link a stale figure
        by_name = {c.name: c for c in self.conditions}
        # the figure compares SR outputs through one detector: conditions with their own detector are left out
        sr = [c.name for c in self.conditions if c.kind == "sr" and c.name != "bicubic" and c.detector is None]
        if "bicubic" not in by_name or by_name["bicubic"].kind != "sr" or not sr:
            return None
        best = max(sr, key=lambda k: (result.conditions[k].get("AP") is not None, result.conditions[k].get("AP") or 0.0))
        dets = {r.name: _by_image(r.results, EXAMPLE_CONF) for r in runs}
        ids = [i for i in hr_keys if i in {im.id for im in self.gt.images}]
        changed = {i: _changed(dets[best].get(i, []), dets["bicubic"].get(i, [])) for i in ids}
        chosen = sorted(ids, key=lambda i: (-len(changed[i]), ids.index(i)))[:n]
        if not chosen:
            return None
        images = {im.id: im for im in self.gt.images}
        out_dir.mkdir(parents=True, exist_ok=True)
        rows = []
        for i in chosen:
            im = images[i]
            hr = _load_hr(im, self.scale)
            lr = self.degradation(hr)
            panels = [("LR", lr, dets.get("lr", {}).get(i, []))]
            for label, name in (("bicubic", "bicubic"), (f"best SR: {best}", best)):
                panels.append((label, self._sr_image(by_name[name], hr_keys[i], lr), dets[name].get(i, [])))
            panels.append(("HR", hr, dets.get("hr", {}).get(i, [])))
            rows.append(
                {
                    "title": f"{im.file_name}: {len(changed[i])} changed",
                    "hr_size": hr.shape[:2],
                    "box": _crop_box(changed[i], hr.shape[:2]),
                }
            )
            rows[-1]["panels"] = panels
        return plot_examples(rows, target, {int(c): str(n) for c, n in self.gt.categories.items()})

    def _sr_image(self, cond, hkey: str, lr: np.ndarray) -> np.ndarray:
        """The condition's SR output for this image: from the cache, else upscaled again."""
        lkey = lr_key(hkey, self.deg_key)
        if cond.digest is not None:
            img = self.cache.get_image(cond.key(hkey, lkey, tile=self.tile, sr_backend=self.sr_backend))
            if img is not None:
                return img
        cond.load(self.scale, device=self.device)
        try:
            return cond.upscale(lr, self.tile)[0]
        finally:
            cond.release()

    # ----------------------------------------------------------------------------------- all steps

    def run(self, out_dir: str | Path | None = None) -> CompareResult:
        """Check, run (this rank's shard), gather, evaluate and write on rank 0; every rank returns the result."""
        dist = self.dist
        t0 = time.perf_counter()
        shard = dist.shard(self.gt.images)
        checked = dist.step(lambda: self.check_images(shard), "the image check")
        parts = dist.all_gather(checked, "checked")
        valid = [i for p in parts for i in p.valid]
        skipped = [s for p in parts for s in p.skipped]
        if not valid:
            raise DataError(
                f"no readable images among {len(self.gt.images)} (first problem: {skipped[0]['reason'] if skipped else '-'})"
            )
        if self.gt.subset(valid).num_boxes == 0:
            raise DataError("the readable images have no annotations: AP is undefined")
        by_id = {im.id: im for im in shard}
        mine = [by_id[i] for i in checked.valid]
        runs = dist.step(lambda: self.run_conditions(mine, checked.hr_keys), "SR and detection")
        t1 = time.perf_counter()
        # every rank gets every condition's detections and scores its share of the conditions (COCO eval and
        # bootstrap are the expensive, rank-0-only part otherwise); rank 0 then assembles the result
        gathered = dist.all_gather((runs, self.memory_kind), "detections")
        merged = [ConditionRun.merge([g[0][k] for g in gathered]) for k in range(len(self.conditions))]
        t2 = time.perf_counter()
        mine_to_score = merged[dist.rank :: dist.world_size]
        scored = dist.step(lambda: self.score(valid, mine_to_score), "the COCO evaluation")
        t3 = time.perf_counter()
        parts_scored = dist.gather(scored, "scores")
        result, error = None, None
        if dist.is_main:
            assert parts_scored is not None  # gathered on rank 0
            try:
                self.memory_kind = gathered[0][1]
                all_scored = {k: v for part in parts_scored for k, v in part.items()}
                result = self.evaluate(valid, skipped, merged, all_scored)
                if out_dir is not None:
                    hr_keys = {k: v for p in parts for k, v in p.hr_keys.items()}
                    self.write_examples(Path(out_dir), result, merged, hr_keys)
                    result.write(out_dir)
                end = time.perf_counter()
                self.timings = {
                    "shard_s": t1 - t0,
                    "gather_s": t2 - t1,
                    "score_s": t3 - t2,
                    "report_s": end - t3,
                    "evaluate_s": end - t2,
                }
                log.info(
                    "rank 0: shard %.1f s, gather %.2f s, COCO eval + bootstrap of its conditions %.1f s, "
                    "deltas and report %.1f s",
                    *list(self.timings.values())[:4],
                )
            except Exception as exc:
                if not dist.distributed:
                    raise
                error = exc
        if not dist.distributed:
            assert result is not None  # a single process re-raised any error above
            return result
        shared = dist.broadcast(result if error is None else {"error": f"{type(error).__name__}: {error}"}, "results")
        if error is not None:
            raise error
        if isinstance(shared, dict):
            raise RankFailedError(f"rank 0 failed during the evaluation: {shared['error']}")
        return shared


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
    conditions: Sequence[Condition] | None = None,
    threads: int | None = None,
    dist: DistContext | None = None,
    detectors: dict[str, Any] | None = None,
    detector_loader: Any = None,
) -> dict[str, Any]:
    """Measure detection accuracy, image quality and cost of ``hr``, ``lr``, ``bicubic`` and each SR model.

    Under torchrun (``WORLD_SIZE`` > 1) the images are sharded over the ranks and rank 0 evaluates and writes
    (see :mod:`sr4det.evaluation.distributed`); every rank returns the same results, identical to one process.

    Args:
        gt: ground truth (HR frame), e.g. from :func:`sr4det.data.load_dataset`; mod-cropped to ``scale`` here.
        detector: any :class:`~sr4det.detectors.base.Detector` (uint8 RGB (H, W, 3) in, boxes in that frame out).
            Its ``config`` dict (if any) is recorded and keys the detection cache.
        sr: SR conditions: zoo names, weight files or ``name=path`` (:meth:`SRSpec.parse`); ``"bicubic"`` is
            always added as the baseline. ``SR@LABEL=DETECTOR`` (also ``hr@LABEL=...``, ``lr@LABEL=...``,
            ``name=path@LABEL=...``) scores that input with its own detector under the name ``SR@LABEL``;
            ``SR@LABEL`` takes the detector of ``LABEL`` from another entry or from ``detectors``.
        scale: SR factor; the degradation shrinks by it.
        out_dir: where ``results.json``, ``report.md`` and the plots go (None: nothing written).
        degradation: the LR maker (default MATLAB bicubic x1/scale).
        backend: ``"pycocotools"`` or ``"faster-coco-eval"`` for the headline metrics.
        class_map: ``"names"`` / ``"index"`` / ``"sorted"`` (see :meth:`ClassMap.build`) or a ClassMap.
        n_resamples, seed, confidence: paired bootstrap over images for the delta intervals.
        cache_dir: cache folder; None = :func:`default_cache_dir`, False = no cache.
        tile: passed to :func:`sr4det.tiling.upscale`.
        device: SR device (``"cpu"``, ``"cuda"``; ``cuda:LOCAL_RANK`` per rank under torchrun); the detector runs
            where it was built.
        limit: evaluate only the first ``limit`` images.
        mos: a MOS study database (``sr4det mos create``): its MOS per method goes beside the condition of the
            same name (``mos``, ``mos_ci_low``, ``mos_ci_high``) and into ``results["mos"]``.
        save_images: also write each SR condition's output as ``save_images/<condition>/<image stem>.png``
            (mod-cropped HR size), e.g. for ``sr4det mos create --methods espcn=DIR/espcn``.
        progress: tqdm progress bars (rank 0 only).
        conditions: the conditions instead of ``hr``, ``lr`` and ``sr`` (:func:`~.conditions.standard_conditions`).
        threads: torch intra-op threads (default: torch's; under torchrun cores / ranks on the node).
        dist: a :class:`~.distributed.DistContext` (default: :func:`~.distributed.setup` from the environment).
        detectors: label -> detector (a path, or a Detector object) for the labels of ``SR@LABEL`` entries.
        detector_loader: ``loader(path) -> Detector`` for detector paths (default: an ``UltralyticsDetector`` with
            the settings of ``detector``). Each distinct path is loaded once; every own detector must have the class
            list of ``detector``. Unknown labels, detectors that do not load and other class lists raise before any
            work (:class:`~sr4det.errors.InputError`, :class:`~sr4det.errors.DetectorError` or
            :class:`~sr4det.errors.WeightsNotAvailableError`, :class:`~sr4det.errors.DetectorMismatchError`).

    Returns:
        The results dict (:meth:`CompareResult.to_json`, also written to ``out_dir/results.json``):
        ``conditions`` -> metrics, ``deltas``, ``per_class``, ``skipped_images``, ``config``, ``versions``, ``dataset``.
    """
    if degradation is None:
        degradation = Degradation(scale=scale)
    if conditions is None:
        specs = [s if isinstance(s, SRSpec) else SRSpec.parse(s) for s in sr]
        if not any(s.name == "bicubic" for s in specs):
            specs.insert(0, SRSpec("bicubic", "bicubic"))
        conditions = standard_conditions(specs, resolve_detectors(specs, detector, detectors, detector_loader))
    elif detectors:
        raise InputError(
            "`detectors` labels the detectors of `sr` entries; with `conditions` set each condition's `detector` instead"
        )
    ctx = dist if dist is not None else setup(threads)
    try:
        cache = CompareCache.from_option(cache_dir, clean_orphans=ctx.local_rank == 0)
        comparison = Comparison(
            gt,
            detector,
            conditions,
            scale=scale,
            degradation=degradation,
            backend=backend,
            class_map=class_map,
            n_resamples=n_resamples,
            seed=seed,
            confidence=confidence,
            cache=cache,
            tile=tile,
            device=device,
            limit=limit,
            progress=progress,
            extra_config=extra_config,
            mos=mos,
            save_images=save_images,
            dist=ctx,
        )
        return comparison.run(out_dir).to_json()
    finally:
        if dist is None:
            ctx.close()


def _per_class(gt_eval: GroundTruth, evals: dict[str, coco.CocoResult]) -> dict[str, dict[str, Any]]:
    """Per-class AP of every condition and its delta vs bicubic (classes with ground truth only)."""
    per_class = {}
    for cid, cname in sorted(gt_eval.categories.items()):
        row: dict[str, Any] = {
            "name": cname,
            "n_gt": int(sum(int(((im.category_ids == cid) & (im.iscrowd == 0)).sum()) for im in gt_eval.images)),
        }
        if row["n_gt"] == 0:
            continue
        row["AP"] = {n: e.per_class_ap.get(cid) for n, e in evals.items()}
        base = row["AP"].get("bicubic")
        row["delta_vs_bicubic"] = {n: _diff(v, base) for n, v in row["AP"].items() if n != "bicubic"}
        per_class[str(cid)] = row
    return per_class


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
    for pkg in (
        "sr4det",
        "torch",
        "torchvision",
        "numpy",
        "ultralytics",
        "pycocotools",
        "faster-coco-eval",
        "openvino",
        "onnxruntime",
        "spandrel",
        "opencv-python-headless",
    ):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            continue
    return out

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
peak over a baseline taken just before it (:class:`._cost._PeakMemory`).

Beside this module: :mod:`._cost` (memory probe, cache entries), :mod:`.scoring` (COCO metrics, bootstrap, deltas,
per-class AP), :mod:`.examples` (``examples.png``), :mod:`._records` (config, dataset, versions, machine) and
:mod:`.api` (:func:`~.api.compare`, the entry point).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.datasets import ClassMap, GroundTruth
from ..data.io import read_image, to_rgb8, write_image
from ..detectors.base import Detections, Detector
from ..errors import DataError, DetectorError, InputError
from . import _records, scoring
from ._cost import _check_det_entry, _check_sr_entry, _cost_fields, _det_from_dict, _det_to_dict, _entry_cost, _PeakMemory
from .cache import CompareCache, default_cache_dir, det_key, detector_identity, hr_key, lr_key
from .condition_detectors import check_class_lists, detector_label
from .conditions import Condition, Degradation, tiler
from .distributed import DistContext, RankFailedError
from .examples import _load_hr, write_examples
from .result import SCHEMA, CompareResult
from .scoring import _mean, _Scored

__all__ = ["SCHEMA", "Comparison", "default_cache_dir"]  # and `compare`, from .api (see __getattr__)

log = logging.getLogger(__name__)


def __getattr__(name: str) -> Any:
    """``compare`` lives in :mod:`.api` (which imports this module); still importable from here."""
    if name == "compare":
        from .api import compare

        return compare
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
class _Checked:
    """The image check of one shard: readable images (ids) and the skipped ones, in dataset order."""

    valid: list[int]
    skipped: list[dict[str, Any]]
    hr_keys: dict[int, str]


class Comparison:
    """One comparison, step by step (see :func:`~.api.compare` for the arguments). :meth:`run` does all steps."""

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
        """COCO metrics and the bootstrap resamples of each of ``runs`` (see :func:`.scoring.score`)."""
        return scoring.score(
            self.gt, valid_ids, runs, backend=self.backend, n_resamples=self.n_resamples, seed=self.seed, progress=self.progress
        )

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
        deltas = scoring.deltas(runs, evals, conditions_out, boot, self.confidence)
        from .report import headline

        for name, m in conditions_out.items():
            m["headline"] = headline(name, deltas)
        per_class = scoring.per_class(gt_eval, evals)
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
            dataset=_records.dataset_info(self, gt_eval),
            config=_records.run_config(self),
            mos=None if mos_by_method is None else {"study": str(self.mos), "methods": mos_by_method},
            versions=_records.versions(),
            machine=_records.machine(),
        )

    def write_examples(
        self, out_dir: Path, result: CompareResult, runs: list[ConditionRun], hr_keys: dict[int, str], n: int = 3
    ) -> Path | None:
        """``examples.png`` (see :func:`.examples.write_examples`)."""
        return write_examples(self, out_dir, result, runs, hr_keys, n)

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

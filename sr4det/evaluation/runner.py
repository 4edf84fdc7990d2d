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

A :class:`Comparison` is built from a frozen :class:`~.settings.Settings` and explicit state (ground truth,
detector, conditions, cache, process group); the modules below it take the settings and the state they need as
parameters: :mod:`.shard` (the image check, SR and detection of one rank's shard, :class:`~.shard.ConditionRun`),
:mod:`._cost` (memory probe, cache entries), :mod:`.scoring` (COCO metrics, bootstrap, deltas, per-class AP),
:mod:`.examples` (``examples.png``) and :mod:`._records` (config, dataset, versions, machine). The entry point
that builds it is :func:`~.api.compare`.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._run_folder import RunFolder, open_run_folder
from ..data.datasets import ClassMap, GroundTruth
from ..detectors.base import Detector
from ..errors import DataError, InputError
from . import _records, _scoring_process, scoring
from ._forecast import cached_text, forecast_text, remember_digest
from ._outputs import OUTPUT_FILES, check_out_dir, check_save_images
from .cache import CompareCache, detector_identity
from .condition_detectors import check_class_lists
from .conditions import Condition
from .distributed import DistContext, RankFailedError
from .examples import write_examples
from .report import headline, write_report
from .result import CompareResult
from .scoring import _mean, _Scored
from .settings import Settings, parse_pairs
from .shard import ConditionRun, ShardState, check_images, run_conditions

if TYPE_CHECKING:
    from ..data.ground_truth import ImageGT
    from .shard import _Checked

__all__ = ["Comparison"]

log = logging.getLogger(__name__)


class Comparison:
    """One comparison, step by step: ``settings`` (frozen) plus the state it runs on: the ground truth (cut to
    ``settings.limit`` images and mod-cropped to the scale here), the run's ``detector``, the ``conditions``, the
    ``cache`` and the process group ``dist``. :meth:`run` does all steps (built and run by :func:`~.api.compare`)."""

    def __init__(
        self,
        settings: Settings,
        gt: GroundTruth,
        detector: Detector,
        conditions: Sequence[Condition],
        *,
        cache: CompareCache,
        dist: DistContext,
        class_map: str | ClassMap = "names",
    ):
        names = [c.name for c in conditions]
        if len(set(names)) != len(names):
            raise InputError(f"SR condition names must be unique, got {[n for n in names if n not in ('hr', 'lr')]}")
        check_class_lists(detector, conditions)  # conditions with their own detector: before any work
        parse_pairs(settings.pairs, names)  # head-to-head pairs name conditions of this run: before any work
        self.settings = dataclasses.replace(settings, progress=settings.progress and dist.is_main)  # bars: rank 0
        self.gt = gt.head(settings.limit).mod_crop(settings.scale)
        self.detector = detector
        self.conditions = list(conditions)
        self.cmap = class_map if isinstance(class_map, ClassMap) else ClassMap.build(detector.names, self.gt, class_map)
        self.cache = cache
        self.dist = dist
        self.device = dist.device(None if settings.device is None else str(settings.device))
        self.progress = self.settings.progress
        det_ids = {
            id(d): detector_identity(d) for d in {id(c.detector or detector): c.detector or detector for c in conditions}.values()
        }
        self.state = ShardState(detector=detector, det_ids=det_ids, cmap=self.cmap, cache=cache, device=self.device)
        self.memory_kind = "cpu_rss"
        self._forecast_complete = False  # the forecast before the models loaded counted every condition
        self._digests: dict[str, dict[str, str]] = {}  # SR condition -> its model digest, from check_models
        #: wall seconds of this rank's shard (check, SR, detection), of waiting for and sharing all ranks' outputs,
        #: of scoring this rank's share of the conditions (COCO eval + bootstrap), and of rank 0's deltas and
        #: report (``evaluate_s`` = the last two, including waiting for the other ranks' scores); set on rank 0
        self.timings: dict[str, float] = {}
        if cache.root is not None and None in det_ids.values():
            warnings.warn("the detector has no `config` dict; its detections are not cached", stacklevel=4)

    # ----------------------------------------------------------------------------------- steps

    def run_config(self) -> dict[str, Any]:
        """results.json's ``config`` (:func:`._records.run_config`)."""
        return _records.run_config(
            self.settings,
            detector=self.detector,
            cmap=self.cmap,
            conditions=self.conditions,
            cache=self.cache,
            memory_kind=self.memory_kind,
            world_size=self.dist.world_size,
        )

    def score(self, valid_ids: list[int], runs: Sequence[ConditionRun]) -> dict[str, _Scored]:
        """COCO metrics and the bootstrap resamples of each of ``runs`` (see :func:`.scoring.score`)."""
        s = self.settings
        return scoring.score(
            self.gt,
            valid_ids,
            runs,
            coco_eval=s.coco_eval,
            n_resamples=s.n_resamples,
            seed=s.seed,
            progress=self.progress,
            max_dets=s.max_dets,
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
        boot = {run.name: scored[run.name].boot for run in runs} if self.settings.n_resamples > 0 else {}
        if any(b is None for b in boot.values()):  # too few images for a bootstrap (scoring.MIN_BOOTSTRAP_IMAGES)
            boot = {}
        cores = _records.cores_used(self.dist.local_world_size)
        conditions_out = {run.name: _condition_metrics(run, evals[run.name].metrics, n, cores) for run in runs}
        deltas = scoring.deltas(runs, evals, conditions_out, boot, self.settings.confidence, n, self.settings.pairs)
        for name, m in conditions_out.items():
            m["headline"] = headline(name, deltas)
        per_class = scoring.per_class(gt_eval, evals)
        mos = self.settings.mos
        mos_by_method = None if mos is None else _add_mos(conditions_out, mos)
        return CompareResult(
            conditions=conditions_out,
            deltas=deltas,
            per_class=per_class,
            skipped_images=skipped,
            dataset=_records.dataset_info(self.settings, self.gt, gt_eval),
            config=self.run_config(),
            mos=None if mos_by_method is None else {"study": str(mos), "methods": mos_by_method},
            versions=_records.versions(),
            machine=_records.machine(cores),
        )

    # ----------------------------------------------------------------------------------- all steps

    def check_outputs(self, out_dir: str | Path | None, overwrite: bool = False) -> None:
        """Before any work: ``out_dir`` and ``save_images`` are writable folders, ``out_dir`` holds no results.json of
        another comparison (unless ``overwrite``) and no two images share the stem ``save_images`` names them by
        (:mod:`._outputs`)."""
        if out_dir is not None and self.dist.is_main:  # rank 0 alone writes out_dir
            planned = {
                "config": self.run_config(),
                "dataset": {"source": self.gt.source, "limit": self.settings.limit},
                # name -> {"model_digest": ...} for SR conditions whose model check_models loaded (see _outputs)
                "conditions": {c.name: self._digests.get(c.name, {}) for c in self.conditions},
            }
            check_out_dir(out_dir, planned, overwrite=overwrite)
        if self.settings.save_images is not None:  # every rank writes its shard's images
            check_save_images(self.settings.save_images, [im.file_name for im in self.gt.images])

    def check_models(self) -> None:
        """Before any work: every SR condition's model loads at this scale, one at a time, released again (a missing,
        corrupt or wrong-scale weight file used to stop the run only when its condition's turn came, after the SR and
        detection of every condition before it)."""
        for cond in self.conditions:
            if cond.kind != "sr":
                continue
            try:
                info = cond.load(self.settings.scale, device=self.device)
                remember_digest(self.cache, cond, self.settings.scale)  # the next run counts its cache up front
            finally:
                cond.release()
            if info.get("model_digest"):
                self._digests[cond.name] = {"model_digest": info["model_digest"]}

    def plan_text(self) -> str:
        """``"compare: 128 images x 7 conditions (hr, lr, ...) at x4 through <detector>; cache <dir>"``: what is
        about to run, said before the first model loads."""
        names = ", ".join(c.name for c in self.conditions)
        det = getattr(self.detector, "config", {}) or {}
        det_name = Path(str(det.get("weights") or det.get("path") or det.get("type") or type(self.detector).__name__)).name
        cache = "no cache" if self.cache.root is None else f"cache {self.cache.root}"
        ranks = f", {self.dist.world_size} processes" if self.dist.world_size > 1 else ""
        return (
            f"compare: {len(self.gt.images)} images x {len(self.conditions)} conditions ({names}) at x{self.settings.scale} "
            f"through {det_name}; {cache}{ranks}; loading the SR models"
        )

    def _say(self, text: str) -> None:
        """One line on stderr when progress is shown (rank 0)."""
        if self.progress:
            print(text, file=sys.stderr, flush=True)

    def run(self, out_dir: str | Path | None = None, *, overwrite: bool = False) -> CompareResult:
        """Check the outputs, the images, run (this rank's shard), gather, evaluate and write on rank 0; every rank
        returns the result. ``overwrite``: replace the results.json of another comparison in ``out_dir``."""
        dist = self.dist
        t0 = time.perf_counter()
        self._say(self.plan_text())
        if self.progress and dist.is_main:
            forecast, self._forecast_complete = forecast_text(self.settings, self.state, self.conditions, self.gt.images)
            if forecast:
                self._say(forecast)
        dist.step(self.check_models, "loading the SR models")  # first: the output check compares model digests
        locked: list[RunFolder] = []

        def check() -> None:
            if out_dir is not None and dist.is_main:  # one owner: a concurrent comparison into out_dir is refused
                # --overwrite: the earlier run's journaled outputs go (check_outputs refuses nothing then)
                folder = open_run_folder(out_dir, "compare", None, overwrite=overwrite, option="output folder --out (out_dir=)")
                locked.append(folder)
            self.check_outputs(out_dir, overwrite)
            if locked and out_dir is not None:
                locked[0].record(*(Path(out_dir) / name for name in OUTPUT_FILES))

        try:
            dist.step(check, "the output check")
            return self._run_checked(out_dir, t0)
        finally:
            for folder in locked:
                folder.release()

    def _run_checked(self, out_dir: str | Path | None, t0: float) -> CompareResult:
        """The work after the output check (``t0``: when the run began): the image check, this rank's SR and
        detection, every rank's share of the scoring, rank 0's result and files; every rank returns the result."""
        dist = self.dist
        mine, checked, parts = self._check_images()
        valid = [i for p in parts for i in p.valid]
        # one process with a free core: each condition is scored beside the next one's inference
        scorer = _scoring_process.start(self.gt, valid, self.settings, self.dist.world_size)
        try:
            runs = self._run_shard(mine, checked.hr_keys, None if scorer is None else scorer.submit)
            t1 = time.perf_counter()
            # every rank gets every condition's detections and scores its share of the conditions (COCO eval and
            # bootstrap are the expensive, rank-0-only part otherwise); rank 0 then assembles the result
            gathered = dist.all_gather((runs, self.memory_kind), "detections")
            merged = [ConditionRun.merge([g[0][k] for g in gathered]) for k in range(len(self.conditions))]
            t2 = time.perf_counter()
            mine_to_score = merged[dist.rank :: dist.world_size]
            if scorer is None:
                scored = dist.step(lambda: self.score(valid, mine_to_score), "the COCO evaluation")
            else:  # one process: the merged runs are its own runs, whose scores the worker computed
                scored = scorer.results(mine_to_score)
            t3 = time.perf_counter()
        finally:
            if scorer is not None:
                scorer.close()
        parts_scored = dist.gather(scored, "scores")
        result, error = None, None
        if dist.is_main:
            assert parts_scored is not None  # gathered on rank 0
            try:
                self.memory_kind = gathered[0][1]
                all_scored = {k: v for part in parts_scored for k, v in part.items()}
                result = self._result(out_dir, parts, merged, all_scored)
                self._record_timings(t0, t1, t2, t3)
            except Exception as exc:
                if not dist.distributed:
                    raise
                error = exc
        return _shared_result(dist, result, error)

    def _check_images(self) -> tuple[list[ImageGT], _Checked, list[_Checked]]:
        """The image check of this rank's shard, shared by all ranks: this rank's readable images, its check (with
        their ``hr_keys``) and every rank's; no readable image, or none annotated, is a :class:`DataError`."""
        dist = self.dist
        shard = dist.shard(self.gt.images)
        checked = dist.step(lambda: check_images(shard, self.settings.scale, self.progress), "the image check")
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
        return [by_id[i] for i in checked.valid], checked, parts

    def _run_shard(self, mine: list[ImageGT], hr_keys: dict[int, str], on_done=None) -> list[ConditionRun]:
        """SR and detection of every condition on this rank's readable images ``mine`` (sets :attr:`memory_kind`),
        after saying how much of it the cache holds (unless the forecast already said it all); ``on_done(run)``
        after each condition."""
        if not self._forecast_complete:
            self._say(cached_text(self.settings, self.state, self.conditions, mine, hr_keys, self.dist.world_size))
        runs, self.memory_kind = self.dist.step(
            lambda: run_conditions(self.settings, self.state, self.conditions, mine, hr_keys, on_done, self.dist.world_size),
            "SR and detection",
        )
        return runs

    def _result(
        self, out_dir: str | Path | None, parts: list[_Checked], merged: list[ConditionRun], scored: dict[str, _Scored]
    ) -> CompareResult:
        """Rank 0: the result of every rank's image checks ``parts`` and ``merged`` runs, ``scored`` by all ranks;
        written to ``out_dir`` (examples.png, results.json, report.md and plots) unless None."""
        valid = [i for p in parts for i in p.valid]
        skipped = [s for p in parts for s in p.skipped]
        result = self.evaluate(valid, skipped, merged, scored)
        if out_dir is not None:
            hr_keys = {k: v for p in parts for k, v in p.hr_keys.items()}
            write_examples(
                self.settings, self.conditions, self.gt, self.cache, self.device, Path(out_dir), result, merged, hr_keys
            )
            result.write(out_dir)
            write_report(result, out_dir)
        return result

    def _record_timings(self, t0: float, t1: float, t2: float, t3: float) -> None:
        """:attr:`timings` from the run's start ``t0``, the shard's end ``t1``, the gather's ``t2`` and the scoring's
        ``t3`` to now (rank 0, after the report), logged."""
        end = time.perf_counter()
        self.timings = {"shard_s": t1 - t0, "gather_s": t2 - t1, "score_s": t3 - t2, "report_s": end - t3, "evaluate_s": end - t2}
        log.info(
            "rank 0: shard %.1f s, gather %.2f s, COCO eval + bootstrap of its conditions %.1f s, deltas and report %.1f s",
            *list(self.timings.values())[:4],
        )


def _shared_result(dist: DistContext, result: CompareResult | None, error: Exception | None) -> CompareResult:
    """Rank 0's result on every rank (one process: the result itself); rank 0's ``error`` is raised on rank 0 and
    a :class:`RankFailedError` naming it on the others."""
    if not dist.distributed:
        assert result is not None  # a single process re-raised any error
        return result
    shared = dist.broadcast(result if error is None else {"error": f"{type(error).__name__}: {error}"}, "results")
    if error is not None:
        raise error
    if isinstance(shared, dict):
        raise RankFailedError(f"rank 0 failed during the evaluation: {shared['error']}")
    return shared


def _condition_metrics(run: ConditionRun, metrics: dict[str, Any], n: int, cores: int) -> dict[str, Any]:
    """results.json's entry of one condition: its COCO ``metrics``, PSNR/SSIM, cost per image (SR 0 for hr/lr),
    counts over its ``n`` images, what came from the cache, its model info and CPU usage (``cores``: see
    :func:`._records.cores_used`)."""
    m: dict[str, Any] = dict(metrics)
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
            **_records.usage(run, cores),
        }
    )
    return m


def _add_mos(conditions_out: dict[str, dict[str, Any]], study: str | Path) -> dict[str, Any]:
    """Put the MOS of the study's method of the same name beside each condition (``mos``, ``mos_ci_low``,
    ``mos_ci_high``, ``mos_n``); returns the study's MOS per method (:func:`sr4det.mos.mos_table`)."""
    from ..mos import mos_table

    mos_by_method = mos_table(study)
    for name, m in conditions_out.items():
        entry = mos_by_method.get(name)
        if entry is not None:
            m.update({"mos": entry["mos"], "mos_ci_low": entry["ci_low"], "mos_ci_high": entry["ci_high"], "mos_n": entry["n"]})
    return mos_by_method

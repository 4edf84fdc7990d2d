"""The Python entry point of a comparison, :func:`compare`: build the :class:`~.settings.Settings`, the
conditions and a :class:`~.runner.Comparison`, run it. (The CLI and YAML configs build a
:class:`~.config.CompareConfig`, whose :meth:`~.config.CompareConfig.run` loads the data and detector and calls
:func:`run_settings`.)"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data.datasets import ClassMap, GroundTruth
from ..detectors.base import Detector
from ..errors import InputError
from ..models.runtime import check_runtime
from ._renamed import renamed_options
from .cache import CompareCache
from .condition_detectors import parse_detectors, resolve_detectors
from .conditions import Condition, Degradation, SRCondition, SRSpec, standard_conditions
from .distributed import DistContext, setup
from .runner import Comparison
from .settings import Settings

if TYPE_CHECKING:
    from .config import CompareConfig

__all__ = ["compare", "run_from_config", "run_settings"]


def compare(
    gt: GroundTruth,
    detector: Detector,
    sr: Sequence[str | SRSpec] = ("bicubic",),
    scale: int = 4,
    *,
    out_dir: str | Path | None = None,
    degradation: Degradation | None = None,
    backend: str = "torch",
    precision: str = "fp32",
    coco_eval: str = "pycocotools",
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
    overwrite: bool = False,
    max_dets: int = 100,
    sr_runtime: str | None = None,
    sr_precision: str | None = None,
    pairs: Sequence[str | tuple[str, str]] | str | None = None,
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
        out_dir: where ``results.json``, ``report.md`` and the plots go (None: nothing written). Checked before any
            work: a writable folder (else :class:`~sr4det.errors.InputError`) whose ``results.json``, if any, is of
            this comparison or one with fewer conditions (else :class:`~sr4det.errors.OutputExistsError`, unless
            ``overwrite``).
        degradation: the LR maker (default MATLAB bicubic x1/scale).
        backend, precision: what runs every SR network (:meth:`sr4det.SRModel.set_runtime`), as ``--backend`` and
            ``--precision`` in every command: ``"torch"`` (default), ``"openvino"`` or ``"onnxruntime"``; ``"fp32"``
            (default) or ``"bf16"``/``"fp16"`` (OpenVINO). A compiled runtime is part of the SR cache keys and the
            model digests (torch fp32 keys are unchanged).
        coco_eval: ``"pycocotools"`` or ``"faster-coco-eval"`` (identical numbers) for the COCO metrics (recorded
            as results.json's ``config.backend``).
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
            (mod-cropped HR size), e.g. for ``sr4det mos create --methods espcn=DIR/espcn``; files of an earlier run are
            replaced, and images whose stems coincide are an :class:`~sr4det.errors.InputError` before any work.
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
        sr_runtime, sr_precision: deprecated spellings of ``backend``/``precision`` (a :class:`FutureWarning`); so is
            ``backend="pycocotools"``/``"faster-coco-eval"``, which sets ``coco_eval``.
        overwrite: replace the ``results.json`` (and report, plots) of another comparison in ``out_dir``.
        max_dets: COCO's detections per image that count (default 100; recorded in the config when not 100).
        pairs: pre-declared head-to-head comparisons, ``"A:B"`` texts (or ``(A, B)`` pairs) of two conditions of the
            run: "does A beat B on the same images?". Each gives ``deltas["pairs"]["A:B"]`` (A minus B: AP and AP50
            delta, paired-bootstrap interval, p, and Holm's adjustment over the pairs); a name that is not a condition
            is an :class:`~sr4det.errors.InputError` before any work. Recorded in the config when given.

    Returns:
        The results dict (:meth:`CompareResult.to_json`, also written to ``out_dir/results.json``):
        ``conditions`` -> metrics, ``deltas``, ``per_class``, ``skipped_images``, ``config``, ``versions``, ``dataset``.
    """
    backend, precision, coco_eval = renamed_options(
        backend, precision, coco_eval, sr_runtime=sr_runtime, sr_precision=sr_precision, stacklevel=3
    )
    settings = Settings(
        scale=scale,
        degradation=Degradation(scale=scale) if degradation is None else degradation,
        coco_eval=coco_eval,
        n_resamples=n_resamples,
        seed=seed,
        confidence=confidence,
        tile=tile,
        device=device,
        limit=limit,
        progress=progress,
        extra_config=extra_config,
        mos=mos,
        save_images=save_images,
        max_dets=max_dets,
        pairs=pairs,  # type: ignore[arg-type]  # any form parse_pairs takes; Settings stores the parsed pairs
    )
    if conditions is None:
        conditions = sr_conditions(sr, detector, detectors, detector_loader)
    elif detectors:
        raise InputError(
            "`detectors` labels the detectors of `sr` entries; with `conditions` set each condition's `detector` instead"
        )
    set_runtime(conditions, backend, precision)
    ctx = dist if dist is not None else setup(threads)
    try:
        return run_settings(
            settings,
            gt,
            detector,
            conditions,
            out_dir=out_dir,
            cache_dir=cache_dir,
            dist=ctx,
            class_map=class_map,
            overwrite=overwrite,
        )
    finally:
        if dist is None:
            ctx.close()


def run_settings(
    settings: Settings,
    gt: GroundTruth,
    detector: Detector,
    conditions: Sequence[Condition],
    *,
    out_dir: str | Path | None,
    cache_dir: str | Path | None | bool,
    dist: DistContext,
    class_map: str | ClassMap = "names",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Run a comparison of ``conditions`` under ``settings`` in the process group ``dist`` (see :func:`compare`)
    and return its results dict; the cache is opened from ``cache_dir`` (None: the default folder, False: none)."""
    cache = CompareCache.from_option(cache_dir, clean_orphans=dist.local_rank == 0)
    comparison = Comparison(settings, gt, detector, conditions, cache=cache, dist=dist, class_map=class_map)
    return comparison.run(out_dir, overwrite=overwrite).to_json()


def sr_conditions(
    sr: Sequence[str | SRSpec], detector: Detector, detectors: dict[str, Any] | None = None, detector_loader: Any = None
) -> list[Condition]:
    """``hr``, ``lr``, ``bicubic`` (added first when missing) and one condition per ``sr`` entry, each labelled
    entry with its detector (:func:`~.condition_detectors.resolve_detectors`)."""
    specs = [s if isinstance(s, SRSpec) else SRSpec.parse(s) for s in sr]
    if not any(s.name == "bicubic" for s in specs):
        specs.insert(0, SRSpec("bicubic", "bicubic"))
    return standard_conditions(specs, resolve_detectors(specs, detector, detectors, detector_loader))


def set_runtime(conditions: Sequence[Condition], backend: str, precision: str) -> None:
    """Let every SR condition's network run on ``backend``/``precision`` (checked first)."""
    check_runtime(backend, precision)
    for cond in conditions if (backend, precision) != ("torch", "fp32") else ():
        if isinstance(cond, SRCondition):
            cond.runtime = (backend, precision)


def run_from_config(config: CompareConfig) -> dict[str, Any]:
    """:meth:`CompareConfig.run <.config.CompareConfig.run>`: load the data and the ultralytics detector of
    ``config``, run the comparison (degraded or native), write ``config.out``; returns the results dict."""
    from .._validators import check_device
    from ..data.datasets import load_dataset
    from ..detectors import UltralyticsDetector

    check_device(config.device)
    ctx = setup(config.threads)
    try:
        device = ctx.device(config.device)
        gt = load_dataset(config.data, images=config.images, split=config.split)
        det_settings: dict[str, Any] = {
            "imgsz": config.imgsz,
            "conf": config.conf,
            "iou": config.iou,
            "max_det": config.max_det,
            "device": device,
        }
        if config.progress and ctx.is_main:  # something on the screen before the detector and SR models load
            n = len(gt.images) if config.limit is None else min(config.limit, len(gt.images))
            print(f"compare: {n} images of {config.data}; loading the detector {config.detector}", file=sys.stderr, flush=True)
        det = UltralyticsDetector(config.detector, **det_settings)
        if config.native:
            settings, conditions = _native_setup(config, det, device)
        else:
            settings = config.settings()
            conditions = sr_conditions(
                config.sr,
                det,
                parse_detectors(config.detectors) or None,
                lambda path: UltralyticsDetector(path, **det_settings),
            )
            set_runtime(conditions, config.backend, config.precision)
        return run_settings(
            settings,
            gt,
            det,
            conditions,
            out_dir=Path(config.out),
            cache_dir=config.cache,
            dist=ctx,
            class_map=config.class_map,
            overwrite=config.overwrite,
        )
    finally:
        ctx.close()


def _native_setup(config: CompareConfig, det: Detector, device: Any) -> tuple[Settings, list[Condition]]:
    """The settings and conditions of a native-resolution comparison (:mod:`.native`): scale 1 (no degradation, no
    mod-crop), one detector per condition (SR and/or slicing in front of ``det``)."""
    from .native import Slicing, native_conditions

    slicing = None if config.slice is None else Slicing.parse(config.slice, config.merge)
    specs = [s for s in config.specs() if s.name != "bicubic"]
    specs.insert(0, SRSpec("bicubic", "bicubic"))
    conditions = native_conditions(
        det,
        specs,
        config.scale,
        slicing=slicing,
        tile=config.tile,
        device=device,
        runtime=(config.backend, config.precision),
    )
    extra = {"native": {"sr_scale": config.scale, **({} if slicing is None else slicing.config())}}
    settings = config.settings(scale=1, degradation=Degradation(scale=1), extra_config={**(config.extra_config or {}), **extra})
    return settings, conditions

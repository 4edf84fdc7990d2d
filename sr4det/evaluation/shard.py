"""One rank's share of a comparison (all of it outside torchrun): check the images (:func:`check_images`), then run
every condition's SR step and detector on each image through the :class:`~.cache.CompareCache`, timing each step
after an untimed warm-up and measuring its own peak memory (:func:`run_conditions`), into one :class:`ConditionRun`
per condition. :class:`~.runner.Comparison` calls these with its :class:`~.settings.Settings` and a
:class:`ShardState` (the detector, cache, class map and device), never itself."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._overlap import Pending, Writer, overlapped
from ..data.datasets import ClassMap
from ..data.io import read_image, to_rgb8, write_image
from ..detectors.base import Detections
from ..errors import DataError, DetectorError, InputError
from ._cost import (
    _check_det_entry,
    _check_sr_entry,
    _cost_fields,
    _det_from_dict,
    _det_to_dict,
    _entry_cost,
    _PeakMemory,
    _StepClock,
)
from ._pipeline import LRStore
from ._sr_ahead import SRAhead
from .cache import CompareCache, det_key, hr_key, lr_key
from .condition_detectors import detector_label
from .conditions import Condition
from .settings import Settings


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
    #: per-image process CPU seconds and 1-minute load average of the same steps (entries that recorded them)
    sr_cpu_seconds: list[float] = field(default_factory=list)
    det_cpu_seconds: list[float] = field(default_factory=list)
    sr_load: list[float] = field(default_factory=list)
    det_load: list[float] = field(default_factory=list)
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
            for attr in ("results", "sr_seconds", "det_seconds", "sr_peak_mb", "det_peak_mb", "psnr", "ssim", *_USAGE):
                getattr(out, attr).extend(getattr(p, attr))
            for attr in ("n_detections", "unmapped", "sr_cached", "det_cached", "cost_unmeasured"):
                setattr(out, attr, getattr(out, attr) + getattr(p, attr))
        return out


_USAGE = ("sr_cpu_seconds", "det_cpu_seconds", "sr_load", "det_load")


@dataclass(frozen=True)
class ShardState:
    """What SR and detection use beside the :class:`~.settings.Settings`: the run's detector (for conditions
    without their own), each detector's cache identity (``id(detector)`` -> :func:`~.cache.detector_identity`),
    the class map, the cache and the resolved device."""

    detector: Any
    det_ids: dict[int, str | None]
    cmap: ClassMap
    cache: CompareCache
    device: Any


@dataclass
class _Checked:
    """The image check of one shard: readable images (ids) and the skipped ones, in dataset order."""

    valid: list[int]
    skipped: list[dict[str, Any]]
    hr_keys: dict[int, str]


def check_images(images, scale: int, progress: bool = False) -> _Checked:
    """Decode every image once: skip (and list) missing, corrupt or mis-sized images (mod-cropped to ``scale``)."""
    from .._progress import tqdm

    out = _Checked([], [], {})
    for im in tqdm(images, desc="check images", disable=not progress, leave=False):
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
            warnings.warn(f"skipping {im.file_name}: {exc}", stacklevel=3)
            out.skipped.append({"image_id": im.id, "file_name": im.file_name, "reason": str(exc)})
            continue
        out.valid.append(im.id)
        out.hr_keys[im.id] = hr_key(im.path, scale)
    return out


def run_conditions(
    settings: Settings,
    state: ShardState,
    conditions: Sequence[Condition],
    images,
    hr_keys: dict[int, str],
    on_done: Callable[[ConditionRun], None] | None = None,
    world_size: int = 1,
) -> tuple[list[ConditionRun], str]:
    """SR and detection of every condition on ``images`` (this rank's readable images); returns the runs and the
    kind of memory measured (:class:`._cost._PeakMemory`). Each image's LR is made once for all conditions
    (:class:`._pipeline.LRStore`); where a core is free, the SR outputs are computed ahead in a second thread
    (:mod:`._sr_ahead`). ``on_done(run)``: called when a condition's run is complete (to score it while the next
    one runs). ``world_size``: processes of the run (torchrun)."""
    from . import _sr_ahead

    memory = _PeakMemory(state.device)
    lrs = LRStore(settings.degradation)
    runs = []
    ahead = _sr_ahead.start(settings, state, conditions, images, hr_keys, lrs, world_size, load_hr, _score_and_cache)
    try:
        for c in conditions:
            runs.append(run_condition(settings, state, c, images, hr_keys, memory, lrs, ahead))
            if on_done is not None:
                on_done(runs[-1])
        return runs, memory.kind
    finally:
        if ahead is not None:
            ahead.close()
        memory.close()


def run_condition(
    settings: Settings,
    state: ShardState,
    cond: Condition,
    images,
    hr_keys: dict[int, str],
    memory: _PeakMemory,
    lrs: LRStore | None = None,
    ahead: SRAhead | None = None,
) -> ConditionRun:
    """One condition on ``images``. Before the first timed SR step and the first timed detection of the condition,
    the same call runs once untimed (warm-up: lazy initialisation, kernel selection, caches), so no condition's
    cost depends on the conditions that ran before it.

    The main thread runs SR and detection; the next images' inputs are read ahead (:class:`sr4det._overlap.Prefetch`)
    and the cache writes, PSNR/SSIM and saved images are done behind it (:class:`sr4det._overlap.Writer`), in image
    order, so the results are those of the serial loop."""
    from .._progress import tqdm

    run = ConditionRun(cond.name, cond.kind)
    run.info = {**cond.load(settings.scale, device=state.device), "detector": detector_label(cond)}
    detector = cond.detector or state.detector
    det_id = state.det_ids[id(detector)]
    warm: set[str] = set()
    lrs = lrs if lrs is not None else LRStore(settings.degradation)
    scores: list[Any] = []  # per SR image: (psnr, ssim) or the Pending value the writer computes

    waits = ahead is not None and ahead.handles(cond)

    def fetch(im: Any) -> _Inputs:
        if not waits:
            return _fetch(settings, state.cache, cond, im, hr_keys[im.id], det_id, lrs)
        assert ahead is not None
        computed, img = ahead.wait(cond, im.id)  # the SR output is in the cache now (img: still in memory)
        got = _fetch(settings, state.cache, cond, im, hr_keys[im.id], det_id, lrs, sr_img=img)
        got.ahead = computed and got.sr_img is not None
        return got

    try:
        with overlapped(fetch, images) as (prefetch, writer):
            for im, got in tqdm(
                zip(images, prefetch, strict=True), desc=cond.name, disable=not settings.progress, total=len(images), leave=False
            ):
                writer.check()
                _one_image(settings, state, cond, run, im, got, detector, memory, warm, writer, scores)
    finally:
        cond.release()  # free the SR model before the next condition's peak-memory window
    for score in scores:
        psnr, ssim = score.get() if isinstance(score, Pending) else score
        run.psnr.append(psnr)
        run.ssim.append(ssim)
    return run


@dataclass
class _Inputs:
    """What the prefetch read for one image of one condition: its keys, the cached SR entry (metadata and image)
    and detections, and the images the main thread's steps need (None when the cache has their result)."""

    img_key: str
    dkey: str | None
    sr_meta: dict | None = None
    sr_img: np.ndarray | None = None
    det: dict | None = None
    hr: np.ndarray | None = None
    lr: np.ndarray | None = None
    det_img: np.ndarray | None = None
    #: the SR entry was computed by this run's SR worker (:mod:`._sr_ahead`), not found in the cache
    ahead: bool = False


def _fetch(
    settings: Settings, cache: CompareCache, cond, im, hkey: str, det_id, lrs: LRStore, sr_img: np.ndarray | None = None
) -> _Inputs:
    """The cache entries of ``im`` under ``cond`` and, for the steps the cache does not hold, the decoded HR image
    and its LR (from ``lrs``: made once per image), or the rendered detector input of hr/lr conditions.
    ``sr_img``: the SR output of a cached entry, handed over in memory (not read back)."""
    lkey = lr_key(hkey, settings.deg_key)
    img_key = cond.key(hkey, lkey, tile=settings.tile)
    got = _Inputs(img_key, det_key(img_key, det_id))
    if cond.kind == "sr":
        got.sr_meta = cache.get_json("sr", img_key, _check_sr_entry)
        if got.sr_meta is not None:
            got.sr_img = sr_img if sr_img is not None else cache.get_image(img_key)
        if got.sr_img is None:
            got.hr = load_hr(im)
            got.lr = lrs.get(lkey, got.hr)
    got.det = cache.get_json("det", got.dkey, _check_det_entry)
    if got.det is None and cond.kind != "sr":
        got.det_img = cond.render(load_hr(im), lambda hr: lrs.get(lkey, hr))
    return got


def _detect(detector, img: np.ndarray, cond, im) -> Detections:
    try:
        dets = detector([img])
    except (InputError, DetectorError):
        raise
    except Exception as exc:  # an adapter's own failure, reported with the condition and image
        raise DetectorError(f"detector failed on {im.file_name} ({cond.name}): {type(exc).__name__}: {exc}") from exc
    if len(dets) != 1:
        raise DetectorError(f"detector returned {len(dets)} results for 1 image")
    return dets[0]


def _one_image(
    settings: Settings,
    state: ShardState,
    cond,
    run: ConditionRun,
    im,
    got: _Inputs,
    detector,
    memory: _PeakMemory,
    warm: set[str],
    writer: Writer,
    scores: list[Any],
) -> None:
    """The SR step (SR conditions) and the detection of one image, through the cache, into ``run``."""
    img, measured = None, True
    if cond.kind == "sr":
        img, measured = _sr_step(settings, state.cache, cond, run, im, got, memory, warm, writer, scores)
    det, det_measured = _det_step(state.cache, cond, run, im, got, img, detector, memory, warm, writer)
    run.cost_unmeasured += not (det_measured and measured)
    _add_results(run, cond, im, det, settings.scale, state.cmap)


def _sr_step(
    settings: Settings,
    cache: CompareCache,
    cond,
    run: ConditionRun,
    im,
    got: _Inputs,
    memory: _PeakMemory,
    warm: set[str],
    writer: Writer,
    scores: list[Any],
) -> tuple[np.ndarray, bool]:
    """The SR output of ``im`` (uint8 (H, W, 3), HR size): from the cache, else upscaled (timed after a warm-up),
    then scored (PSNR/SSIM) and cached by the writer; saved under ``save_images`` when set. Returns it and whether
    its cost was measured."""
    scale, tile = settings.scale, settings.tile
    meta, img = got.sr_meta, got.sr_img
    if img is not None:
        assert meta is not None  # the image is read only for a complete entry
        run.sr_cached += not got.ahead
        scores.append((float(meta["psnr"]), float(meta["ssim"])))
    else:
        hr, lr = got.hr, got.lr
        assert hr is not None and lr is not None  # read ahead for an image the cache does not hold
        if "sr" not in warm:
            cond.upscale(lr, tile)  # warm-up, untimed
            warm.add("sr")
        memory.start()
        with _StepClock() as clock:
            img, how = cond.upscale(lr, tile)
        sr_peak = memory.peak_mb()
        if img.shape[:2] != hr.shape[:2]:
            raise InputError(
                f"{cond.name} returned {img.shape[:2]} for a {lr.shape[:2]} input at x{scale}; expected {hr.shape[:2]}"
            )
        meta = {**_cost_fields(clock, sr_peak), "how": how}
        pending = Pending()
        scores.append(pending)
        writer.submit(lambda: _score_and_cache(cache, got.img_key, img, hr, scale, meta, pending))
    if settings.save_images is not None:
        # always this run's output (atomically): a file left by another run (other scale, data or weights under
        # this condition name) must not stand in for it
        target = Path(settings.save_images) / cond.name / f"{Path(im.file_name).stem}.png"
        writer.submit(lambda: write_image(target, img))
    return img, _record_cost(meta, run, "sr")


def _score_and_cache(
    cache: CompareCache, img_key: str, img: np.ndarray, hr: np.ndarray, scale: int, meta: dict, pending: Pending
) -> None:
    """PSNR/SSIM of an SR output against its HR image into ``meta`` and ``pending``, then the output and its
    metadata into the cache: image first, then metadata (a kill in between leaves an entry that is recomputed)."""
    from ..metrics import psnr_y, ssim_y

    score = (psnr_y(img, hr, shave=scale), ssim_y(img, hr, shave=scale))
    cache.put_image(img_key, img)
    cache.put_json("sr", img_key, {**meta, "psnr": score[0], "ssim": score[1]})
    pending.value = score


def _det_step(
    cache: CompareCache,
    cond,
    run: ConditionRun,
    im,
    got: _Inputs,
    img: np.ndarray | None,
    detector,
    memory: _PeakMemory,
    warm: set[str],
    writer: Writer,
) -> tuple[Detections, bool]:
    """The detections of the condition's image of ``im`` (``img`` for SR conditions, else rendered from the HR
    image by the prefetch): from the cache, else detected (timed after a warm-up) and cached by the writer.
    Returns them (as a resumed run reads them back) and whether their cost was measured."""
    cached = got.det
    if cached is not None:
        det = _det_from_dict(cached, detector.names)
        run.det_cached += 1
    else:
        if cond.kind != "sr":
            img = got.det_img
        assert img is not None  # SR conditions set it above, the prefetch rendered the others'
        if "det" not in warm:
            _detect(detector, img, cond, im)  # warm-up, untimed
            warm.add("det")
        memory.start()
        with _StepClock() as clock:
            found = _detect(detector, img, cond, im)
        cached = _det_to_dict(found, clock, memory.peak_mb())
        writer.submit(lambda: cache.put_json("det", got.dkey, cached))
        det = _det_from_dict(cached, detector.names)  # exactly what a resumed run reads back
    return det, _record_cost(cached, run, "det")


def _add_results(run: ConditionRun, cond, im, det: Detections, scale: int, cmap: ClassMap) -> None:
    """``det`` in the HR frame (low-resolution conditions: boxes x ``scale``) as COCO results of dataset categories
    (``cmap``); detections of classes without a category are counted in ``run.unmapped``."""
    if cond.low_resolution:
        det = det.rescaled(float(scale), image_size=(im.height, im.width))
    elif tuple(det.image_size) not in ((im.height, im.width), (0, 0)):
        raise DetectorError(
            f"detections of {im.file_name} ({cond.name}) are in a {det.image_size} frame, expected {(im.height, im.width)}"
        )
    run.n_detections += len(det)
    cats = cmap.map_labels(det.labels)
    run.unmapped += int((cats < 0).sum())
    for box, score, cat in zip(det.boxes.astype(np.float64), det.scores.astype(np.float64), cats, strict=True):
        if cat < 0:
            continue
        x1, y1, x2, y2 = (float(v) for v in box)
        run.results.append(
            {"image_id": int(im.id), "category_id": int(cat), "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(score)}
        )


def _record_cost(entry: dict, run: ConditionRun, step: str) -> bool:
    """Append a cache entry's seconds, peak MiB, CPU seconds and load to the run's lists of ``step`` ("sr", "det");
    False when the entry carries no measured cost."""
    cost = _entry_cost(entry)
    if cost is None:
        return False
    getattr(run, f"{step}_seconds").append(cost[0])
    getattr(run, f"{step}_peak_mb").append(cost[1])
    for key, attr in (("cpu_seconds", "cpu_seconds"), ("load_1min", "load")):
        if isinstance(entry.get(key), (int, float)):
            getattr(run, f"{step}_{attr}").append(float(entry[key]))
    return True


def load_hr(im) -> np.ndarray:
    """The image ``im`` as uint8 RGB (H, W, 3), cropped to its annotated (mod-cropped) size."""
    arr = to_rgb8(read_image(im.path)[0])
    return np.ascontiguousarray(arr[: im.height, : im.width])

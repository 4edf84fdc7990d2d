"""What a comparison's result records about the run: the data set, the configuration, the detectors, the package
versions and the machine.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..data.datasets import ClassMap, GroundTruth
from .cache import SR_CODE_PATH, CompareCache
from .condition_detectors import detector_label, detector_record
from .conditions import MAIN_DETECTOR, Condition, SRCondition
from .settings import Settings


def dataset_info(settings: Settings, gt: GroundTruth, gt_eval: GroundTruth) -> dict[str, Any]:
    """``gt``: the (mod-cropped, limited) ground truth of the run; ``gt_eval``: its readable images."""
    return {
        "source": gt.source,
        "format": gt.format,
        "sha256": gt_eval.content_hash(),
        "n_images": len(gt_eval),
        "n_boxes": gt_eval.num_boxes,
        "n_crowd": int(sum(int(im.iscrowd.sum()) for im in gt_eval.images)),
        "n_boxes_by_size": boxes_by_size(gt_eval),
        "mod_crop": settings.scale,
        "boxes_dropped_by_crop": gt.dropped_boxes,
        "limit": settings.limit,
    }


def boxes_by_size(gt: GroundTruth) -> dict[str, int]:
    """Non-crowd boxes per COCO size range (``small``: area < 32², ``medium``: < 96², ``large``: the rest): how many
    objects APs, APm and APl each rest on."""
    areas = np.concatenate([im.area[im.iscrowd == 0] for im in gt.images]) if gt.images else np.zeros(0)
    return {
        "small": int((areas < 32**2).sum()),
        "medium": int(((areas >= 32**2) & (areas < 96**2)).sum()),
        "large": int((areas >= 96**2).sum()),
    }


def run_config(
    settings: Settings,
    *,
    detector: Any,
    cmap: ClassMap,
    conditions: Sequence[Condition],
    cache: CompareCache,
    memory_kind: str,
    world_size: int,
) -> dict[str, Any]:
    """results.json's ``config``: the settings, the run's ``detector`` and class map, the SR models of
    ``conditions``, the cache folder, the kind of memory measured and the number of processes."""
    device = settings.device
    return {
        "scale": settings.scale,
        "degradation": settings.degradation.config(),
        "detector": getattr(detector, "config", repr(detector)),
        "class_map": {str(k): v for k, v in cmap.index_to_category.items()},
        "backend": settings.coco_eval,  # results.json keeps its key (an on-disk format)
        "bootstrap": {
            "n_resamples": settings.n_resamples,
            "seed": settings.seed,
            "confidence": settings.confidence,
            "unit": "image",
            "paired": True,
        },
        # kind "sr" is SRCondition, whose __post_init__ always sets spec
        "sr": {c.name: c.spec.source for c in conditions if isinstance(c, SRCondition) and c.spec is not None},
        "tile": settings.tile,
        "sr_backend": SR_CODE_PATH,
        "device": None if device is None else str(device),
        "memory": memory_kind,
        "psnr_ssim": f"Y channel (BT.601), uint8, border shave {settings.scale}",
        "cache_dir": None if cache.root is None else str(cache.root),
        "world_size": world_size,
        "detectors": detector_records(conditions, detector),
        # only when not COCO's 100: the config of every earlier comparison stays as it was (its output check)
        **({"max_dets": settings.max_dets} if settings.max_dets != 100 else {}),
        **({"pairs": [f"{a}:{b}" for a, b in settings.pairs]} if settings.pairs else {}),  # likewise: only when given
        **(settings.extra_config or {}),
    }


def detector_records(conditions: Sequence[Condition], detector: Any) -> dict[str, dict[str, Any]]:
    """label -> the detector's path, weights digest, settings and cache identity, and the conditions it scored
    (``main``: the run's ``detector``)."""
    out: dict[str, dict[str, Any]] = {}
    for c in conditions:
        label = detector_label(c)
        if label not in out:
            out[label] = {**detector_record(c.detector or detector), "conditions": []}
        out[label]["conditions"].append(c.name)
    if MAIN_DETECTOR in out:  # the run's detector first
        out = {MAIN_DETECTOR: out.pop(MAIN_DETECTOR), **out}
    return out


def versions() -> dict[str, str]:
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


#: the machine counts as busy during a step when the 1-minute load average exceeds the cores the run used by this
BUSY_MARGIN = 0.5


def cores_used(local_world_size: int) -> int:
    """The cores this run keeps busy on its machine: intra-op threads (torch's, and OpenVINO's, matched to them) times
    the ``local_world_size`` processes on this node, at most the machine's cores."""
    return max(1, min(os.cpu_count() or 1, torch.get_num_threads() * max(1, local_world_size)))


def usage(run: Any, cores: int) -> dict[str, Any]:
    """Per step (SR, detector) of a condition: mean process CPU seconds per image, the mean 1-minute load average at
    the end of its timed steps, and whether the machine was busy then (load above ``cores`` + :data:`BUSY_MARGIN`:
    other processes competed for the cores, so the wall times are inflated). None where not measured (cached by an
    older sr4det, or no such step)."""
    out: dict[str, Any] = {}
    for step, name in (("sr", "sr"), ("det", "detector")):
        cpu, load = getattr(run, f"{step}_cpu_seconds"), getattr(run, f"{step}_load")
        mean_load = float(np.mean(load)) if load else None
        if step == "sr" and run.kind != "sr":
            out.update({"sr_cpu_seconds_per_image": 0.0, "sr_load_average": None, "sr_machine_busy": None})
            continue
        out[f"{name}_cpu_seconds_per_image"] = float(np.mean(cpu)) if cpu else None
        out[f"{name}_load_average"] = mean_load
        out[f"{name}_machine_busy"] = None if mean_load is None else bool(mean_load > cores + BUSY_MARGIN)
    return out


def machine(cores: int | None = None) -> dict[str, Any]:
    """The machine the comparison ran on, as results.json records it (``cores_used``: see :func:`cores_used`;
    ``load_average``: the system's 1, 5 and 15-minute load averages when the result was assembled)."""
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        load = None
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        # CPU convolutions round differently with another intra-op thread count (a 1-level difference in
        # ~0.001% of SR output pixels here): outputs are bit-identical only for the same count
        "torch_threads": torch.get_num_threads(),
        "cores_used": cores,
        "load_average": load,
    }

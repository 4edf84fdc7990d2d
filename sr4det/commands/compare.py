"""``sr4det compare``: how much does SR before the detector change COCO mAP, and at what cost."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import InputError, ScaleError
from ._common import add_degradation_args


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="COCO mAP of hr / lr / bicubic / SR models through one detector, with bootstrap CIs and cost",
        description=(
            "HR images are mod-cropped to the scale; LR = MATLAB-bicubic x1/s (optionally blur, noise, JPEG). "
            "Conditions: hr, lr (given to the detector as is), bicubic, and each --sr model. Detections are mapped to "
            "the HR frame and scored with pycocotools; deltas vs bicubic and vs lr carry paired bootstrap 95% CIs. "
            "Writes OUT/results.json, OUT/report.md and PNG plots. SR outputs and detections are cached by content."
        ),
    )
    p.add_argument("--data", required=True, help="COCO instances .json, ultralytics dataset .yaml, or a folder holding one")
    p.add_argument("--images", default=None, help="image folder of a COCO json (default: guessed)")
    p.add_argument("--split", default="val", help="split of a dataset yaml (default val)")
    p.add_argument("--detector", required=True, help="ultralytics weights: .pt, OpenVINO folder, .onnx or an official name")
    p.add_argument("--imgsz", type=int, default=640)
    p.add_argument("--conf", type=float, default=0.001)
    p.add_argument("--iou", type=float, default=0.7)
    p.add_argument("--max-det", type=int, default=300)
    p.add_argument("--scale", "-s", type=int, default=4)
    p.add_argument("--sr", default="bicubic", help="comma-separated SR models: zoo names, weight files, or name=path")
    p.add_argument("--out", "-o", required=True, help="output folder")
    p.add_argument("--limit", type=int, default=None, help="only the first N images")
    p.add_argument("--device", default=None, help="device for SR and detector (cpu, cuda:0); default: the libraries' choice")
    p.add_argument("--backend", choices=("pycocotools", "faster-coco-eval"), default="pycocotools")
    p.add_argument("--class-map", choices=("names", "index", "sorted"), default="names",
                   help="detector class -> dataset category: by name (default), index i -> id i, or i -> i-th smallest id")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (0: no intervals)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and of the LR noise (a function of seed and pixels)")
    p.add_argument("--cache", default=None, help="cache folder (default $SR4DET_CACHE/compare)")
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--tile", default="auto", help="SR tile size in LR pixels, 'auto' or 'none'")
    add_degradation_args(p)
    p.add_argument("--mos", default=None, help="MOS study (sr4det mos create) whose MOS per method goes beside the conditions")
    p.add_argument("--save-images", default=None, help="also write each SR condition's images to DIR/<condition>/ (e.g. for a MOS study)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def split_sr(value: str | Sequence[str]) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    return [s.strip() for s in items if s and s.strip()]


def run_compare(
    data: str,
    detector: str,
    out: str,
    *,
    sr: str | Sequence[str] = "bicubic",
    scale: int = 4,
    images: str | None = None,
    split: str = "val",
    imgsz: int = 640,
    conf: float = 0.001,
    iou: float = 0.7,
    max_det: int = 300,
    limit: int | None = None,
    device: str | None = None,
    backend: str = "pycocotools",
    class_map: str = "names",
    bootstrap: int = 1000,
    seed: int = 0,
    cache: str | None | bool = None,
    tile: Any = "auto",
    blur_sigma: float | None = None,
    noise_std: float | None = None,
    jpeg_quality: int | None = None,
    progress: bool = True,
    extra_config: dict[str, Any] | None = None,
    mos: str | None = None,
    save_images: str | None = None,
    **aliases: Any,
) -> dict[str, Any]:
    """Load the data and the ultralytics detector, run :func:`sr4det.evaluation.compare`, write OUT. Returns results.

    ``blur``, ``noise`` and ``jpeg`` are accepted as the older names of ``blur_sigma``, ``noise_std`` and ``jpeg_quality``.
    """
    old = {"blur": "blur_sigma", "noise": "noise_std", "jpeg": "jpeg_quality"}
    unknown = sorted(set(aliases) - set(old))
    if unknown:
        raise InputError(f"run_compare() got unknown arguments {unknown}; degradation options are {sorted(old.values())}")
    given = {"blur_sigma": blur_sigma, "noise_std": noise_std, "jpeg_quality": jpeg_quality}
    for name, value in aliases.items():
        if value is not None:
            if given[old[name]] is not None and given[old[name]] != value:
                raise InputError(f"{name}={value!r} and {old[name]}={given[old[name]]!r} disagree; give only {old[name]}")
            given[old[name]] = value
    from ..data.datasets import load_dataset
    from ..detectors.ultralytics import UltralyticsDetector
    from ..evaluation import Degradation, compare

    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ScaleError(f"scale must be a positive integer such as 2 or 4, got {scale!r}")
    deg = Degradation(scale=scale, seed=seed, **given)  # bad options fail before any work
    gt = load_dataset(data, images=images, split=split)
    det = UltralyticsDetector(detector, imgsz=imgsz, conf=conf, iou=iou, max_det=max_det, device=device)
    return compare(
        gt, det, sr=split_sr(sr), scale=scale, out_dir=out, degradation=deg, backend=backend, class_map=class_map,
        n_resamples=bootstrap, seed=seed, cache_dir=cache, tile=tile, device=device, limit=limit, progress=progress,
        extra_config=extra_config, mos=mos, save_images=save_images,
    )


def summary(results: dict[str, Any]) -> str:
    """A short text table of AP, ΔAP vs bicubic (CI), PSNR and seconds per image."""
    lines = [f"{'condition':<24} {'AP':>6} {'AP50':>6} {'ΔAP vs bicubic [95% CI]':>28} {'PSNR':>6} {'SR s/img':>9} {'det s/img':>9}"]
    vs = results["deltas"].get("vs_bicubic", {})
    for name, m in results["conditions"].items():
        d = vs.get(name, {}).get("AP")
        delta = "" if d is None or d["delta"] is None else f"{d['delta']:+.3f}" + (
            f" [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]" if d.get("ci_low") is not None else "")
        fmt = lambda v, spec: "n/a" if v is None else format(v, spec)  # noqa: E731
        lines.append(f"{name:<24} {fmt(m['AP'], '6.3f')} {fmt(m['AP50'], '6.3f')} {delta:>28} {fmt(m['psnr'], '6.2f')} "
                     f"{fmt(m['sr_seconds_per_image'], '9.3f')} {fmt(m['detector_seconds_per_image'], '9.3f')}")
    if results["n_skipped"]:
        lines.append(f"skipped images: {results['n_skipped']} (see results.json)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from ._common import check_device, check_scale, check_writable_dir, parse_tile

    check_scale(args.scale)
    tile = parse_tile(args.tile)
    check_device(args.device)
    check_writable_dir(args.out, "--out")
    results = run_compare(
        args.data, args.detector, args.out, sr=args.sr, scale=args.scale, images=args.images, split=args.split,
        imgsz=args.imgsz, conf=args.conf, iou=args.iou, max_det=args.max_det, limit=args.limit, device=args.device,
        backend=args.backend, class_map=args.class_map, bootstrap=args.bootstrap, seed=args.seed,
        cache=False if args.no_cache else args.cache, tile=tile, blur_sigma=args.blur_sigma, noise_std=args.noise_std,
        jpeg_quality=args.jpeg_quality, progress=not args.quiet, mos=args.mos, save_images=args.save_images,
    )
    print(summary(results))
    print(f"wrote {Path(args.out) / 'results.json'}, report.md and plots")
    return 0

"""``sr4det materialize``: write a Degrade + SR copy of a YOLO or COCO dataset for detector training."""

from __future__ import annotations

import argparse

from ..tiling import parse_tile
from ._common import add_degradation_args, add_runtime_args, check_device, check_runtime_args, check_scale, check_writable_dir


def add_parser(sub) -> None:
    p = sub.add_parser(
        "materialize",
        help="write a degraded + super-resolved copy of a YOLO/COCO dataset",
        description="Degrade (mod-crop, blur, downscale, noise, JPEG) then super-resolve every image of a dataset, "
        "with labels rescaled; writes a new data.yaml (YOLO) or annotations.json (COCO). Reruns resume. "
        "Under torchrun (torchrun --nproc_per_node N --no-python sr4det materialize ...) the images are sharded "
        "over the processes and rank 0 writes the labels and the dataset file.",
    )
    p.add_argument("--data", required=True, help="ultralytics dataset .yaml or COCO instances .json")
    p.add_argument("--images", default=None, help="COCO only: image folder (default: guessed)")
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--degrade", type=int, default=4, help="downscaling factor (0: the images are already LR)")
    p.add_argument("--method", default="bicubic", help="downscaling kernel: bicubic (MATLAB), bilinear, lanczos, lanczos2")
    add_degradation_args(p, seed=True)
    p.add_argument("--sr", default="espcn", help="SR model: zoo name, weight file, or 'none' to write the LR images")
    p.add_argument("--scale", type=int, default=None, help="SR scale (default: the --degrade factor)")
    p.add_argument("--no-pretrained", dest="pretrained", action="store_false", help="random SR weights (testing only)")
    p.add_argument("--tile", default="auto", help="tile size in LR pixels, 'auto' or 'none'")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available)")
    add_runtime_args(p)
    p.add_argument("--splits", nargs="+", default=None, help="YOLO only: splits to write (default: all present)")
    p.add_argument("--format", default=".png", help="output image extension (default .png, lossless); 'keep' keeps the input's")
    p.add_argument("--overwrite", action="store_true", help="recompute existing images and accept changed settings")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch intra-op threads per process (default: torch's; under torchrun cores / processes per node)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar (under torchrun: rank 0 only)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .._distributed import setup
    from ..data.materialize import materialize
    from ..errors import InputError
    from ..transforms import Degrade, SRTransform

    check_scale(args.scale, "--scale", allow_none=True)
    tile = parse_tile(args.tile)
    check_device(args.device)
    check_runtime_args(args)
    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads must be >= 1, got {args.threads}")
    degrade = None
    if args.degrade:
        degrade = Degrade(
            args.degrade,
            method=args.method,
            blur_sigma=args.blur_sigma,
            noise_std=args.noise_std,
            jpeg_quality=args.jpeg_quality,
            seed=args.seed,
            preset=args.degradation,
        )
    check_writable_dir(args.output, "-o/--output")
    ctx = setup(args.threads)  # under torchrun: the process group first, so each rank builds SR on its own device
    try:
        sr = None
        if args.sr.lower() != "none":
            scale = args.scale if args.scale is not None else (degrade.scale if degrade else None)
            sr = SRTransform(
                args.sr,
                scale=scale,
                tile=tile,
                device=ctx.device(args.device) if args.backend == "torch" or args.device else "cpu",
                pretrained=args.pretrained,
                backend=args.backend,
                precision=args.precision,
            )
        out = materialize(
            args.data,
            args.output,
            degrade=degrade,
            sr=sr,
            images=args.images,
            splits=args.splits,
            image_format=None if args.format == "keep" else args.format,
            overwrite=args.overwrite,
            progress=not args.quiet,
            dist=ctx,
        )
    finally:
        ctx.close()
    if ctx.is_main:
        print(out)
    return 0

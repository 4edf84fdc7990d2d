"""``sr4det materialize``: write a Degrade + SR copy of a YOLO or COCO dataset for detector training."""

from __future__ import annotations

import argparse
from typing import Any

from .._options import DeprecatedAlias
from .._validators import check_scale
from ._common import (
    add_degradation_args,
    add_option,
    add_options,
    add_runtime_args,
    add_switch,
    check_runtime_args,
    check_writable_dir,
)


class _DegradeAlias(DeprecatedAlias):
    """The old ``--degrade N``: ``-s/--scale N``; ``--degrade 0`` (the images are already LR): ``--already-lr``."""

    def __call__(self, parser: Any, namespace: argparse.Namespace, values: Any, option_string: str | None = None) -> None:
        self.warn(parser, option_string)
        if str(values).strip() == "0":
            namespace.already_lr = True
        else:
            namespace.scale = check_scale(values, "--degrade")


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
    add_option(p, "scale")
    add_switch(p, "--already-lr", "the images are already low-resolution: no degradation, only SR by --scale")
    p.add_argument("--degrade", dest="scale", action=_DegradeAlias, replaced_by="-s/--scale N (--degrade 0: --already-lr)")
    p.add_argument("--method", default="bicubic", help="downscaling kernel: bicubic (MATLAB), bilinear, lanczos, lanczos2")
    add_degradation_args(p, seed=True)
    p.add_argument("--sr", default="espcn", help="SR model: zoo name, weight file, or 'none' to write the LR images")
    add_options(p, "pretrained", "tile", "device")
    add_runtime_args(p)
    p.add_argument("--splits", nargs="+", default=None, help="YOLO only: splits to write (default: all present)")
    p.add_argument("--format", default=".png", help="output image extension (default .png, lossless); 'keep' keeps the input's")
    add_options(p, "overwrite", "threads", "quiet")  # --overwrite recomputes existing images, accepts changed settings
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .._distributed import setup
    from ..data.materialize import materialize
    from ..transforms import Degrade, SRTransform

    tile = args.tile  # the shared options were checked while parsing
    check_runtime_args(args)
    degrade = None
    if not args.already_lr:
        degrade = Degrade(
            args.scale,
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
            sr = SRTransform(
                args.sr,
                scale=args.scale,
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

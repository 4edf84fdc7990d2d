"""``sr4det evaluate-sr``: mean PSNR-Y / SSIM-Y of a model on a folder of HR images (literature protocol)."""

from __future__ import annotations

import argparse
import json

from ..errors import DataError
from ._common import add_degradation_args, add_model_args, add_option, add_switch, degradation_from_args, load_model_from_args


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate-sr",
        help="PSNR-Y/SSIM-Y on a folder of HR images",
        description="LR = MATLAB-bicubic x1/s of the mod-cropped HR (optionally blur, noise, JPEG: the degradation of "
        "sr4det compare); PSNR/SSIM on BT.601 Y with s border pixels shaved.",
    )
    add_model_args(p)
    add_degradation_args(p, seed=True)
    p.add_argument("--data", required=True, help="folder of HR images (e.g. Set5)")
    add_option(p, "tile", default="none")  # whole images, as the published numbers
    add_switch(p, "--json", "print JSON with per-image scores")
    add_option(p, "quiet")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..data.io import list_images
    from ..metrics.sr_eval import evaluate_sr

    tile = args.tile  # the shared options were checked while parsing
    degradation = degradation_from_args(args, args.scale)  # bad options fail before any work
    paths = list_images(args.data)
    if not paths:
        raise DataError(f"no images in {args.data}")
    model = load_model_from_args(args)
    scores = evaluate_sr(model, paths, progress=not (args.quiet or args.json), tile=tile, degradation=degradation)
    mean_psnr = sum(s.psnr for s in scores) / len(scores)
    mean_ssim = sum(s.ssim for s in scores) / len(scores)
    seconds = sum(s.seconds for s in scores) / len(scores)
    if args.json:
        print(
            json.dumps(
                {
                    "model": str(args.model),
                    "arch": model.card.name,
                    "scale": model.scale,
                    "data": str(args.data),
                    "degradation": degradation.config(),
                    "images": len(scores),
                    "psnr_y": mean_psnr,
                    "ssim_y": mean_ssim,
                    "seconds_per_image": seconds,
                    "per_image": [vars(s) for s in scores],
                },
                indent=2,
            )
        )
    else:
        for s in scores:
            print(f"{s.name:<32} PSNR-Y {s.psnr:7.3f} dB  SSIM-Y {s.ssim:.4f}")
        print(
            f"{'mean over ' + str(len(scores)) + ' images':<32} PSNR-Y {mean_psnr:7.3f} dB  SSIM-Y {mean_ssim:.4f}  ({model.card.name} x{model.scale}, {seconds:.3f} s/img)"
        )
    return 0

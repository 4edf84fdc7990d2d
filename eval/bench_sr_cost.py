#!/usr/bin/env python
"""SR cost on COCO-sized inputs, every model timed in one run: seconds per image and the ratio to CRAFT.

The question the cost targets ask ("SR time per COCO image <= 1/10 of CRAFT's, measured in the same run") needs
the models timed side by side under the same load. This script makes the LR images exactly as ``sr4det compare``
does (coco128 HR mod-cropped, MATLAB-bicubic x1/s, uint8) and upscales each with every model through the same call
compare uses (``sr4det.evaluation.conditions.run_sr``: ``sr4det.upscale`` with ``tile="auto"``), **round-robin per
image** so background load hits every model alike, after one untimed warm-up call per model. It prints the median
and mean seconds per image and each model's median as a fraction of CRAFT's.

    python eval/bench_sr_cost.py --images 32 --threads 1
    python eval/bench_sr_cost.py --models bicubic,rfdn_det,CRAFT=../shared/weights/sr/spandrel/CRAFT_x4_ntire2024_team34.pth
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

_DEFAULT = (
    "bicubic,rfdn_det,rfdn=${shared}/weights/sr/state_dict/RFDN_AIM.pth,imdn=${shared}/weights/sr/state_dict/IMDN_x4.pth,"
    "pan=${shared}/weights/sr/state_dict/PANx4_DF2K.pth,carn_m=${shared}/weights/sr/state_dict/carn_m.pth,srresnet,"
    "CRAFT=${shared}/weights/sr/spandrel/CRAFT_x4_ntire2024_team34.pth"
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=_DEFAULT, help="comma-separated zoo names or NAME=PATH (${shared} expands)")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--images", type=int, default=32, help="the first N coco128 images")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reference", default="CRAFT", help="the model the ratios are taken against")
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    from _shared import shared_root

    from sr4det.data.io import list_images, read_image, to_rgb8
    from sr4det.degradation import DegradationSpec, degrade
    from sr4det.evaluation.conditions import run_sr
    from sr4det.models import resolve_model

    torch.set_num_threads(args.threads)
    root = str(shared_root())
    specs = [s.strip().replace("${shared}", root) for s in args.models.split(",") if s.strip()]
    models = {}
    for spec in specs:
        name, _, path = spec.partition("=")
        models[name] = resolve_model(path or name, args.scale)
    paths = list_images(Path(root) / "data" / "coco128" / "images" / "train2017")[: args.images]
    spec = DegradationSpec(scale=args.scale)
    lrs = [degrade(to_rgb8(read_image(p)[0]), spec) for p in paths]
    for m in models.values():  # warm-up: first-call allocations and the tiler's memory probe are not timed
        run_sr(m, lrs[0])
    times: dict[str, list[float]] = {n: [] for n in models}
    for lr in lrs:
        for name, m in models.items():
            t0 = time.perf_counter()
            run_sr(m, lr)
            times[name].append(time.perf_counter() - t0)
    ref = statistics.median(times[args.reference]) if args.reference in times else float("nan")
    sizes = sorted({lr.shape[:2] for lr in lrs})
    print(
        f"{len(lrs)} coco128 LR images x{args.scale} (e.g. {sizes[len(sizes) // 2][1]}x{sizes[len(sizes) // 2][0]}), "
        f"{args.threads} thread(s), torch {torch.__version__}, round-robin, 1 warm-up call per model"
    )
    print(f"{'model':<12} {'params':>10} {'median s/img':>13} {'mean s/img':>11} {'vs ' + args.reference:>10}")
    for name, m in models.items():
        med = statistics.median(times[name])
        params = sum(p.numel() for p in m.parameters())
        print(f"{name:<12} {params:>10,} {med:>13.3f} {np.mean(times[name]):>11.3f} {med / ref:>10.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

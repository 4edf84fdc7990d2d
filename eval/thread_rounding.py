"""How much an SR model's uint8 output changes between torch intra-op thread counts (CPU convolutions sum in
another order). Prints the share of differing pixels and the largest difference.

    python eval/thread_rounding.py [--model rfdn_det] [--scale 4] [--images 8] [--threads 1 2]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from _shared import shared_path
from PIL import Image

import sr4det
from sr4det.degradation import DegradationSpec, degrade


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="rfdn_det")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--images", type=int, default=8, help="the first N coco128 images")
    p.add_argument("--threads", type=int, nargs=2, default=[1, 2])
    args = p.parse_args()
    folder = shared_path("data", "coco128", "images")
    if folder is None:
        raise SystemExit("needs ../shared/data/coco128 (set SR4DET_SHARED)")
    model = sr4det.create_model(args.model, args.scale, pretrained=True)
    total = differing = largest = 0
    for path in sorted(folder.rglob("*.jpg"))[: args.images]:
        hr = np.asarray(Image.open(path).convert("RGB"))
        hr = hr[: hr.shape[0] // args.scale * args.scale, : hr.shape[1] // args.scale * args.scale]
        x = torch.from_numpy(np.ascontiguousarray(degrade(hr, DegradationSpec(scale=args.scale)))).permute(2, 0, 1)[None] / 255
        outs = []
        for threads in args.threads:
            torch.set_num_threads(threads)
            with torch.no_grad():
                outs.append((model(x.float()).clamp(0, 1) * 255).round().to(torch.uint8).numpy().astype(int))
        d = np.abs(outs[0] - outs[1])
        total, differing, largest = total + d.size, differing + int((d > 0).sum()), max(largest, int(d.max()))
    print(
        f"{args.model} x{args.scale}, {args.images} coco128 images, threads {args.threads[0]} vs {args.threads[1]}: "
        f"{differing / total:.4%} of output values differ, largest difference {largest}"
    )


if __name__ == "__main__":
    main()

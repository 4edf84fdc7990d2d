#!/usr/bin/env python
"""MATLAB ``imresize`` of uint8 images (the degradation of every compare/materialize/training LR): the dense float64
matmul path against the gather it replaced, in one run, and whether their uint8 outputs agree.

    python eval/bench_resize.py --images 30 --threads 1

Images: the first ``--images`` of ``coco_train160`` (any COCO photo size); per image x1/4, x1/2 and x4 (of the x1/4
result). Prints seconds for each path and the count of differing uint8 values.
"""

from __future__ import annotations

import argparse
import os
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    import torch
    from _shared import shared_root

    import sr4det.resize as resize
    from sr4det.data.io import read_image

    torch.set_num_threads(args.threads)
    files = sorted((shared_root() / "data" / "coco_train160" / "images").rglob("*.jpg"))[: args.images]
    images = [read_image(f)[0] for f in files]
    seconds = {}
    outputs = {}
    for name, dense_max in (("gather", 0), ("dense", resize._DENSE_MAX)):
        resize._DENSE_MAX = dense_max
        t0 = time.perf_counter()
        outs = []
        for im in images:
            quarter = resize.imresize_uint8(im, 0.25)
            outs += [quarter, resize.imresize_uint8(im, 0.5), resize.imresize_uint8(quarter, 4.0)]
        seconds[name] = time.perf_counter() - t0
        outputs[name] = outs
    differ = sum(int((a != b).sum()) for a, b in zip(outputs["gather"], outputs["dense"], strict=True))
    total = sum(a.size for a in outputs["gather"])
    print(f"{len(images)} images, {args.threads} thread(s), load average {os.getloadavg()}")
    print("| path | seconds | speed-up |\n|---|---|---|")
    for name in ("gather", "dense"):
        print(f"| {name} | {seconds[name]:.2f} | {seconds['gather'] / seconds[name]:.2f}x |")
    print(f"differing uint8 values: {differ} of {total}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

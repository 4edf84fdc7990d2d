"""Detector adapter and SRTransform throughput on coco128 images (prints a table; CPU-friendly sizes).

    python eval/bench_detectors.py --images 16

Times are per image, median of the per-batch means over ``--repeat`` passes, after one warm-up pass.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from _shared import shared_path
from PIL import Image


def _time(fn, batch, repeat: int) -> float:
    fn(batch)  # warm-up (model compile / allocation)
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(batch)
        runs.append((time.perf_counter() - t0) / len(batch))
    return statistics.median(runs) * 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=16)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    folder = shared_path("data", "coco128", "images", "train2017")
    if folder is None:
        raise SystemExit("needs ../shared/data/coco128 (set SR4DET_SHARED)")
    files = sorted(folder.glob("*.jpg"))[: args.images]
    hr = [np.asarray(Image.open(f).convert("RGB")) for f in files]

    from sr4det.detectors import UltralyticsDetector
    from sr4det.transforms import Degrade, SRTransform

    lr = [Degrade(4)(im) for im in hr]
    rows = []
    for name in ("yolo11n_int8_openvino_model", "yolov8n_int8_openvino_model", "yolov8n_dynamic_int8.onnx"):
        w = shared_path("weights", name)
        if w is None:
            continue
        det = UltralyticsDetector(w)
        rows.append((f"UltralyticsDetector {name}", "HR ~640x480", _time(det, hr, args.repeat)))
    rows.append(
        ("Degrade(4) bicubic (MATLAB imresize)", "HR -> LR", _time(lambda b: [Degrade(4)(x) for x in b], hr, args.repeat))
    )
    for model in ("bicubic", "espcn"):
        try:
            t = SRTransform(model, scale=4, tile=None)
        except Exception as exc:  # e.g. weights not shipped yet
            rows.append((f"SRTransform {model} x4", "LR -> SR", float("nan")))
            print(f"skip {model}: {exc}")
            continue
        rows.append(
            (f"SRTransform {model} x4, tile=None", "LR ~160x120 -> SR", _time(lambda b, t=t: [t(x) for x in b], lr, args.repeat))
        )
    print(f"\n{len(hr)} coco128 images, torch threads={args.threads}\n")
    print(f"| {'stage':<52} | {'input':<18} | ms / image |")
    print(f"|{'-' * 54}|{'-' * 20}|-----------:|")
    for stage, inp, ms in rows:
        print(f"| {stage:<52} | {inp:<18} | {ms:10.1f} |")


if __name__ == "__main__":
    main()

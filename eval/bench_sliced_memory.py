"""Peak memory of SR -> slices -> YOLO11n on a large image: the streamed pipeline (SRSlicedDetector: SR band by band,
never the whole SR image) against super-resolving the whole image first (SRDetector + SlicedDetector).

Each case runs in a fresh process (peak RSS = ``ru_maxrss`` of that process: Python, torch, OpenVINO and the model
included). The input is a VisDrone val frame resized to the case's size (bicubic, in memory): only its size matters
here, no accuracy is measured. Usage::

    .venv/bin/python eval/bench_sliced_memory.py --threads 1                    # every case
    .venv/bin/python eval/bench_sliced_memory.py --threads 1 --case streamed_4000x3000_x4
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

from _shared import shared_path

#: name -> (width, height, scale, pipeline)
CASES = {
    "streamed_4000x3000_x4": (4000, 3000, 4, "streamed"),
    "streamed_1360x765_x4": (1360, 765, 4, "streamed"),
    "whole_sr_first_1360x765_x4": (1360, 765, 4, "whole"),
}


def _child(name: str, model_name: str, max_memory: str, threads: int) -> None:
    import numpy as np
    import torch
    from PIL import Image

    torch.set_num_threads(threads)
    import sr4det
    from sr4det.detectors import SlicedDetector, SRDetector, UltralyticsDetector
    from sr4det.detectors.sr_sliced import SRSlicedDetector
    from sr4det.transforms import SRTransform

    width, height, scale, pipeline = CASES[name]
    src = shared_path("data", "visdrone_val", "images", "0000001_03999_d_0000007.jpg")
    weights = shared_path("weights", "yolo11n_int8_openvino_model")
    if src is None or weights is None:
        raise SystemExit("needs shared/data/visdrone_val and shared/weights/yolo11n_int8_openvino_model")
    image = np.asarray(Image.open(src).convert("RGB").resize((width, height), Image.Resampling.BICUBIC))
    det = UltralyticsDetector(str(weights), conf=0.25)
    model = sr4det.create_model(model_name, scale=scale, pretrained=True)
    base_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    if pipeline == "streamed":
        pipe = SRSlicedDetector(SRTransform(model, tile="auto", max_memory=max_memory), det, max_memory=max_memory)
        n_slices = sum(len(b[2]) for b in pipe.bands(height, width))
    else:
        pipe = SRDetector(SRTransform(model, tile="auto", max_memory=max_memory), SlicedDetector(det))
        n_slices = len(pipe.detector.windows(height * scale, width * scale))
    (found,) = pipe([image])
    seconds = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "case": name,
                "model": model_name,
                "max_memory": max_memory,
                "slices": n_slices,
                "boxes": len(found),
                "seconds": round(seconds, 1),
                "maxrss_before_mib": round(base_kib / 1024),
                "maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=list(CASES), action="append", help="default: every case")
    ap.add_argument("--model", default="bicubic", help="SR model (zoo name) at x4")
    ap.add_argument("--max-memory", default="2GB")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child, args.model, args.max_memory, args.threads)
        return
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, threads {args.threads}; model {args.model}")
    print("| case | SR output | slices | boxes (conf 0.25) | seconds | peak RSS (MiB) | RSS before the pipeline (MiB) |")
    print("|---|---|---|---|---|---|---|")
    for name in args.case or list(CASES):
        cmd = [sys.executable, __file__, "--child", name, "--model", args.model, "--max-memory", args.max_memory]
        cmd += ["--threads", str(args.threads)]
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if res.returncode != 0:
            print(f"| {name} | failed: {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res.returncode} |")
            continue
        r = json.loads(res.stdout.strip().splitlines()[-1])
        w, h, s, _ = CASES[name]
        print(
            f"| {name} | {w * s}x{h * s} | {r['slices']} | {r['boxes']} | {r['seconds']} | {r['maxrss_mib']} | "
            f"{r['maxrss_before_mib']} |"
        )


if __name__ == "__main__":
    main()

"""SR + sliced detection of one large frame, per SR runtime: the cost per image of issue 29's pipeline.

One VisDrone val frame at its native size (1360x765, the size of 108 of the 137 frames, unless ``--image``), the SR model at ``--scale`` through the
memory-aware tiler (``tile="auto"`` under ``--max-memory``) on each runtime (torch, OpenVINO fp32 and bf16, ONNX Runtime fp32; compiled once,
untimed), then YOLO11n on 640 slices (overlap 0.2, plus the whole-image pass) of the SR frame with the slices batched
``--batch`` at a time. Times are the median of ``--repeats`` rounds, the runtimes of a round run back to back, so
their ratios share the machine's load. Usage::

    .venv/bin/python eval/bench_sr_frame.py --threads 1
    .venv/bin/python eval/bench_sr_frame.py --threads 2 --model rfdn_real --scale 2 --batch 1,8
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

from _shared import shared_path

RUNTIMES = (("torch", "fp32"), ("openvino", "fp32"), ("openvino", "bf16"), ("onnxruntime", "fp32"))


def _median_seconds(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="rfdn_real")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--image", default=None, help="default: the first VisDrone val frame (1360x765)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-memory", default="2GB", help="the SR tiler's budget")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--batch", default="1,8", help="slice batch sizes of the detector (comma-separated)")
    ap.add_argument("--runtimes", default=",".join(f"{b}/{p}" for b, p in RUNTIMES))
    args = ap.parse_args()

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    import sr4det
    from sr4det.data.io import read_image, to_rgb8
    from sr4det.detectors import SlicedDetector, UltralyticsDetector

    src = args.image or shared_path("data", "visdrone_val", "images", "0000026_00000_d_0000024.jpg")
    weights = shared_path("weights", "yolo11n_int8_openvino_model")
    if src is None or weights is None:
        raise SystemExit("needs shared/data/visdrone_val and shared/weights/yolo11n_int8_openvino_model")
    image = np.ascontiguousarray(to_rgb8(read_image(src)[0]))
    h, w = image.shape[:2]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, threads {args.threads}, load {os.getloadavg()[0]:.1f}; "
        f"{args.model} x{args.scale} on {w}x{h} -> {w * args.scale}x{h * args.scale}; median of {args.repeats}"
    )
    models = {}
    for spec in args.runtimes.split(","):
        backend, precision = spec.split("/")
        try:
            model = sr4det.create_model(args.model, scale=args.scale, pretrained=True, backend=backend, precision=precision)
            sr4det.upscale(model, image[:128, :128], tile="auto", progress=False)  # compile + warm up, untimed
            models[spec] = model
        except (ImportError, ValueError, RuntimeError) as exc:  # a missing runtime or precision: say so, go on
            print(f"| {spec} | not run: {type(exc).__name__}: {exc} |")
    reference = None
    rows = []
    for spec, model in models.items():
        seconds, out = _median_seconds(
            lambda m=model: sr4det.upscale(m, image, tile="auto", max_memory=args.max_memory, progress=False), args.repeats
        )
        out = np.asarray(out)
        if reference is None:
            reference = out
        diff = int(np.abs(out.astype(np.int16) - reference.astype(np.int16)).max())
        rows.append((spec, seconds, diff))
        print(f"  {spec}: {seconds:.2f} s", flush=True)  # as it goes: a long run shows where it is
    sr_image = reference
    det = UltralyticsDetector(str(weights), conf=0.001)
    det_rows = []
    for batch in (int(b) for b in args.batch.split(",")):
        sliced = SlicedDetector(det, slice=640, overlap=0.2, batch=batch)
        sliced([sr_image])  # warm-up
        seconds, found = _median_seconds(lambda s=sliced: s([sr_image]), args.repeats)
        det_rows.append((batch, len(sliced.windows(*sr_image.shape[:2])), seconds, len(found[0])))
    print("| SR runtime | SR s/frame | vs torch | max uint8 diff vs first |")
    print("|---|---|---|---|")
    base = rows[0][1] if rows else float("nan")
    for spec, seconds, diff in rows:
        print(f"| {spec} | {seconds:.2f} | {base / seconds:.2f}x | {diff} |")
    print("| detector batch | slices (+ whole image) | detection s/frame | boxes (conf 0.001) |")
    print("|---|---|---|---|")
    for batch, n, seconds, boxes in det_rows:
        print(f"| {batch} | {n} | {seconds:.2f} | {boxes} |")


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""SR per backend and precision (issue 25): seconds per image, speed-up over torch, max abs diff and PSNR vs torch fp32.

Every model runs on one LR image of ``--size`` (default 120x160, a coco128 image centre-cropped to s times that size
and degraded as ``sr4det compare`` does: MATLAB bicubic x1/s) through the whole ``SRModel`` call (colour handling,
padding, clamp: what a user pays for), for each runtime (``SRModel.set_runtime``): torch fp32 (the reference),
OpenVINO fp32, OpenVINO bf16 (only where OpenVINO reports the BF16 capability), ONNX Runtime fp32, and for the
``--int8`` models OpenVINO int8 (NNCF post-training quantisation on ``--calibration`` coco_train160 LR images; needs
``pip install nncf``; sr4det itself does not offer int8). For each thread count, all runtimes of a model are timed **round-robin** (one call each per round,
after two untimed warm-up calls) so background load hits them alike; the median of ``--repeats`` rounds is reported.
Conversion is not timed (it is cached on disk). The load average is printed at the start and the end.

Achieved GFLOP/s = the network's floating-point operations for this input (``torch.utils.flop_counter``: multiply-add
= 2 FLOPs, convolutions and matmuls only) / the median seconds; it is set against this CPU's fp32 GEMM rate, measured by
the same script at each thread count (median of 2048x2048 ``torch.mm`` calls), as a share of what the machine reaches
on the easiest dense kernel. int8/bf16 rows count the same FLOPs (the network's arithmetic, whatever its precision).

    python eval/bench_sr_runtime.py --threads 1,2
    python eval/bench_sr_runtime.py --models rfdn_det,espcn --repeats 5
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

_DEFAULT = "rfdn_det,espcn,fsrcnn,srresnet,rfdn=${shared}/weights/sr/state_dict/RFDN_AIM.pth"


def _lr_image(root: Path, scale: int, size: tuple[int, int]):
    import torch

    from sr4det.data.io import list_images, read_image, to_rgb8, to_tensor
    from sr4det.degradation import DegradationSpec, degrade

    h, w = size[0] * scale, size[1] * scale
    for path in list_images(root / "data" / "coco128" / "images" / "train2017"):
        hr = to_rgb8(read_image(path)[0])
        if hr.shape[0] >= h and hr.shape[1] >= w:
            top, left = (hr.shape[0] - h) // 2, (hr.shape[1] - w) // 2
            lr = degrade(hr[top : top + h, left : left + w], DegradationSpec(scale=scale))
            return to_tensor(lr).unsqueeze(0).to(torch.float32), path.name
    raise SystemExit(f"no coco128 image of at least {h}x{w}")


def _runtimes() -> list[tuple[str, str]]:
    import openvino as ov

    found = [("torch", "fp32"), ("openvino", "fp32")]
    if "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        found.append(("openvino", "bf16"))
    return [*found, ("onnxruntime", "fp32")]


def _calibration(root: Path, scale: int, size: tuple[int, int], n: int) -> list:
    """``n`` LR images (1, 3, h, w) float32 from coco_train160 (training images: never an evaluation set), made as
    compare makes LR (centre crop of s times ``size``, MATLAB bicubic x1/s)."""
    from sr4det.data.io import list_images, read_image, to_rgb8, to_tensor
    from sr4det.degradation import DegradationSpec, degrade

    h, w = size[0] * scale, size[1] * scale
    out = []
    for path in list_images(root / "data" / "coco_train160" / "images" / "train2017"):
        hr = to_rgb8(read_image(path)[0])
        if hr.shape[0] >= h and hr.shape[1] >= w:
            top, left = (hr.shape[0] - h) // 2, (hr.shape[1] - w) // 2
            out.append(to_tensor(degrade(hr[top : top + h, left : left + w], DegradationSpec(scale=scale))).unsqueeze(0))
        if len(out) == n:
            break
    return out


def _int8(model, calibration: list, threads: int, folder: Path):
    """``model`` with its OpenVINO fp32 IR quantised to int8 by NNCF post-training quantisation (default preset,
    ``calibration`` images), compiled for the CPU. Benchmark only: sr4det does not offer int8 (no accuracy gate yet)."""
    import nncf
    import openvino as ov

    from sr4det.models.runtime import OpenVINONet

    model.set_runtime("openvino", "fp32", threads=threads)
    ov_model = ov.Core().read_model(str(model.compiled.path))
    data = nncf.Dataset([x.numpy() for x in calibration])
    quantized = nncf.quantize(ov_model, data, subset_size=len(calibration))
    path = folder / f"{model.card.name}_int8.xml"
    ov.save_model(quantized, str(path), compress_to_fp16=False)
    model._compiled = OpenVINONet(path, "fp32", threads)  # int8 weights and activations; the rest runs fp32
    model.precision = "int8"
    return model


def _flops(model, x) -> int:
    """Convolution and matmul FLOPs of one call of ``model``'s network on ``x`` (torch counts a multiply-add as 2)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(x)
    return int(counter.get_total_flops())


def _gemm_gflops(threads: int, n: int = 2048, repeats: int = 7) -> float:
    """This CPU's fp32 GEMM rate (GFLOP/s) at ``threads``: the median of ``repeats`` n x n ``torch.mm`` calls."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times) / 1e9


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=_DEFAULT, help="comma-separated zoo names or NAME=PATH (${shared} expands)")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--size", default="120x160", help="LR height x width")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts")
    ap.add_argument("--repeats", type=int, default=7, help="timed rounds per model and thread count")
    ap.add_argument("--int8", default="rfdn_det", help="models also run as OpenVINO int8 (NNCF); '' for none")
    ap.add_argument("--calibration", type=int, default=32, help="coco_train160 LR images for the int8 calibration")
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    from _shared import shared_root

    from sr4det.models import resolve_model

    root = shared_root()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    x, image = _lr_image(root, args.scale, (size[0], size[1]))
    print(f"# bench_sr_runtime  {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs; torch {torch.__version__}")
    print(f"input: {image} centre crop -> LR {tuple(x.shape[-2:])} x{args.scale}; load average at start {os.getloadavg()}")
    thread_counts = [int(t) for t in args.threads.split(",")]
    gemm = {t: _gemm_gflops(t) for t in thread_counts}
    print("fp32 GEMM (2048^2 torch.mm): " + ", ".join(f"{gemm[t]:.1f} GFLOP/s at {t} thread(s)" for t in thread_counts))
    rows = []
    failed: list[str] = []
    calibration = None
    scratch = Path(tempfile.mkdtemp(prefix="bench_sr_runtime_"))
    for spec in [s.strip().replace("${shared}", str(root)) for s in args.models.split(",") if s.strip()]:
        name, _, path = spec.partition("=")
        flops = _flops(resolve_model(path or name, args.scale), x)
        for threads in thread_counts:
            torch.set_num_threads(threads)
            models = {}
            for backend, precision in _runtimes():
                model = resolve_model(path or name, args.scale)  # one object per runtime: each keeps its compiled net
                models[(backend, precision)] = model.set_runtime(backend, precision, threads=threads)
            if name in args.int8.split(","):
                if calibration is None:
                    calibration = _calibration(root, args.scale, (size[0], size[1]), args.calibration)
                models[("openvino", "int8")] = _int8(resolve_model(path or name, args.scale), calibration, threads, scratch)
            times: dict[tuple[str, str], list[float]] = {k: [] for k in models}
            outputs = {}
            with torch.inference_mode():
                for key, model in list(models.items()):
                    try:  # the first call converts and compiles: a network a runtime cannot take is a row, not a crash
                        outputs[key] = model(x)
                    except Exception as exc:
                        if key == ("torch", "fp32"):
                            raise
                        failed.append(f"{name} {threads} thread(s) {key[0]} {key[1]}: {type(exc).__name__}: {str(exc)[:200]}")
                        del models[key], times[key]
                        continue
                    model(x)
                for _ in range(args.repeats):
                    for key, model in models.items():
                        t0 = time.perf_counter()
                        model(x)
                        times[key].append(time.perf_counter() - t0)
            ref = outputs[("torch", "fp32")]
            base = statistics.median(times[("torch", "fp32")])
            for key, ts in times.items():
                diff = float((outputs[key] - ref).abs().max())
                mse = float(((outputs[key] - ref).double() ** 2).mean())
                psnr = float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)
                med = statistics.median(ts)
                gflops = flops / med / 1e9
                rows.append((name, threads, *key, med, base / med, diff, psnr, gflops, gflops / gemm[threads]))
    print(f"load average at end {os.getloadavg()}\n")
    print(
        "| model | threads | backend | precision | s/image (median) | speed-up vs torch | max abs diff vs torch "
        "| PSNR vs torch fp32 (dB) | GFLOP/s | share of fp32 GEMM |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, threads, backend, precision, med, speed, diff, psnr, gflops, share in rows:
        print(
            f"| {name} | {threads} | {backend} | {precision} | {med:.4f} | {speed:.2f}x | {diff:.2g} | {psnr:.1f} "
            f"| {gflops:.1f} | {share:.0%} |"
        )
    for line in failed:
        print(f"not run: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python
"""SR on a CUDA GPU (issue 25): per-image time, difference from torch fp32 and peak memory per runtime and batch size.

**Prepared, not yet run**: no GPU was lent when it was written; the CUDA backends it measures are unverified until
it runs. Without a CUDA device it prints "no CUDA device" and exits with status 2 (nothing measured); ``--dry-run``
prints the plan and exits 0 on any machine.

For each model (default: rfdn_det, rfdn_real, espcn x4, and CRAFT from ``${shared}/weights/sr/spandrel`` when the file
is there) and each LR size (default 120x160 and 270x480; a coco128 image centre-cropped to s times the size and
degraded as ``sr4det compare`` does, or, where no coco128 image is that large, the image's own centre crop used as
the LR), the whole ``SRModel`` call on a batch of ``B`` copies runs on the GPU through:

* torch fp32 (the reference; TF32 off, as in onnxruntime-cuda fp32) and torch fp16 (``model.to("cuda", torch.float16)``),
* ONNX Runtime CUDA execution provider fp32 / fp16 (``set_runtime("onnxruntime-cuda", ...)``),
* ONNX Runtime TensorRT execution provider fp16 (``set_runtime("tensorrt", "fp16")``; by default at batch 1 only:
  TensorRT builds an engine per new input shape, tens of seconds each).

Per cell: the median over ``--repeats`` timed calls (after 2 untimed warm-up calls; ``torch.cuda.synchronize`` around
each) divided by ``B``; max abs difference and PSNR against torch fp32 at the same size and batch; peak memory:
``torch.cuda.max_memory_allocated`` for the torch rows (above what the input and the reference output
already hold); for ONNX Runtime (its own allocator, invisible to torch) the
growth of the GPU's ``nvidia-smi --query-gpu=memory.used`` over the cell, a lower bound since its arena is never
returned (n/a without nvidia-smi). A runtime that cannot run is reported as ``n/a: reason``. ``--budget-s`` bounds the
wall time: cells not started by then are reported as ``n/a: time budget``. Reads ``../shared`` only; writes nothing
there (converted networks and TensorRT engines go to the sr4det cache, ``$SR4DET_CACHE``).

    python eval/bench_sr_gpu.py                   # everything above, about 4 minutes on one H100 (budget 240 s)
    python eval/bench_sr_gpu.py --models rfdn_det --batches 1,8 --trt-batches 1,8
    python eval/bench_sr_gpu.py --dry-run
"""

from __future__ import annotations

import argparse
import datetime
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

_DEFAULT = "rfdn_det,rfdn_real,espcn,craft=${shared}/weights/sr/spandrel/CRAFT_x4_ntire2024_team34.pth"
#: (backend, precision) of every row; "torch" fp16 is the model cast to half
_RUNTIMES = [
    ("torch", "fp32"),
    ("torch", "fp16"),
    ("onnxruntime-cuda", "fp32"),
    ("onnxruntime-cuda", "fp16"),
    ("tensorrt", "fp16"),
]
NO_CUDA_EXIT = 2


def _lr(root: Path, scale: int, size: tuple[int, int]):
    """(1, 3, h, w) float32 LR image and a description: degraded from a large enough coco128 image, else a crop."""
    from bench_sr_runtime import _lr_image

    from sr4det.data.io import list_images, read_image, to_rgb8, to_tensor

    try:
        x, name = _lr_image(root, scale, size)
        return x, f"{name} x1/{scale} MATLAB bicubic"
    except SystemExit:  # no coco128 image is s times this size (COCO images are at most 640 px)
        pass
    for path in list_images(root / "data" / "coco128" / "images" / "train2017"):
        img = to_rgb8(read_image(path)[0])
        if img.shape[0] >= size[0] and img.shape[1] >= size[1]:
            top, left = (img.shape[0] - size[0]) // 2, (img.shape[1] - size[1]) // 2
            return to_tensor(img[top : top + size[0], left : left + size[1]]).unsqueeze(0), f"{path.name} crop as LR"
    raise SystemExit(f"no coco128 image of at least {size[0]}x{size[1]}")


def _smi(query: str) -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def _versions() -> str:
    import torch

    parts = [f"torch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()})"]
    try:
        import onnxruntime as ort

        parts.append(f"onnxruntime {ort.__version__} ({', '.join(ort.get_available_providers())})")
    except ImportError:
        parts.append("onnxruntime: not installed")
    try:
        import tensorrt  # type: ignore[import-not-found]

        parts.append(f"tensorrt {tensorrt.__version__}")
    except ImportError:
        parts.append("tensorrt (Python package): not installed")
    return "; ".join(parts)


def _plan(args, root: Path) -> list[tuple[str, str, str | None]]:
    """(name, spec, reason it cannot run or None) per model."""
    out = []
    for spec in [s.strip().replace("${shared}", str(root)) for s in args.models.split(",") if s.strip()]:
        name, _, path = spec.partition("=")
        missing = f"n/a: {path} is missing" if path and not Path(path).is_file() else None
        out.append((name, path or name, missing))
    return out


def _model(spec: str, scale: int, backend: str, precision: str):
    import torch

    from sr4det.models import resolve_model

    if backend == "torch":
        return resolve_model(spec, scale).to("cuda", torch.float16 if precision == "fp16" else torch.float32)
    return resolve_model(spec, scale).to("cuda").set_runtime(backend, precision)


def _cell(model, x, repeats: int) -> tuple[float, object]:
    """Median seconds per call of ``model(x)`` and its output (after 2 untimed warm-up calls)."""
    import torch

    with torch.inference_mode():
        out = model(x)
        model(x)
        times = []
        for _ in range(repeats):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            model(x)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=_DEFAULT, help="comma-separated zoo names or NAME=PATH (${shared} expands)")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--sizes", default="120x160,270x480", help="comma-separated LR height x width")
    ap.add_argument("--batches", default="1,8,32", help="batch sizes")
    ap.add_argument("--trt-batches", default="1", help="batch sizes TensorRT runs at (an engine build per shape)")
    ap.add_argument("--repeats", type=int, default=10, help="timed calls per cell")
    ap.add_argument("--budget-s", type=float, default=240.0, help="cells not started after this many seconds: n/a")
    ap.add_argument("--dry-run", action="store_true", help="print the plan and exit 0 (no GPU needed)")
    args = ap.parse_args(argv)

    import torch
    from _shared import shared_root

    root = shared_root()
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    trt_batches = {int(b) for b in args.trt_batches.split(",")}
    plan = _plan(args, root)
    cuda = torch.cuda.is_available()
    if args.dry_run:
        print(f"# bench_sr_gpu --dry-run (CUDA device: {'yes' if cuda else 'no CUDA device on this machine'})")
        for name, spec, missing in plan:
            print(f"model {name} x{args.scale}: {missing or spec}")
        print("sizes: " + ", ".join(f"{h}x{w}" for h, w in sizes) + f"; batches {batches} (TensorRT: {sorted(trt_batches)})")
        print("runtimes: " + ", ".join(f"{b} {p}" for b, p in _RUNTIMES) + f"; {args.repeats} timed calls per cell")
        return 0
    if not cuda:
        print(
            f"no CUDA device: torch {torch.__version__} sees none (torch.cuda.is_available() is False); this benchmark "
            "measures the GPU runtimes only. Nothing was measured. eval/bench_sr_runtime.py measures the CPU ones."
        )
        return NO_CUDA_EXIT

    import numpy as np

    torch.backends.cudnn.allow_tf32 = False  # torch fp32 is the reference: real fp32, as onnxruntime-cuda fp32 runs
    torch.backends.cuda.matmul.allow_tf32 = False
    start = time.perf_counter()
    props = torch.cuda.get_device_properties(0)
    print(f"# bench_sr_gpu  {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"device: {props.name}, {props.total_memory / 2**30:.0f} GiB; driver {_smi('driver_version') or 'n/a'}")
    print(f"versions: {_versions()}")
    print(f"command: {' '.join([Path(sys.argv[0]).name, *sys.argv[1:]])}")
    rows = []
    for name, spec, missing in plan:
        for size in sizes:
            x1, source = _lr(root, args.scale, (size[0], size[1]))
            print(f"{name} {size[0]}x{size[1]}: {source}")
            for batch in batches:
                x = x1.repeat(batch, 1, 1, 1).to("cuda")
                ref = None
                for backend, precision in _RUNTIMES:
                    label = (name, f"{size[0]}x{size[1]}", batch, backend, precision)
                    reason = missing
                    if reason is None and time.perf_counter() - start > args.budget_s:
                        reason = f"n/a: time budget ({args.budget_s:.0f} s) spent"
                    if reason is None and backend == "tensorrt" and batch not in trt_batches:
                        reason = "n/a: not run at this batch (--trt-batches)"
                    if reason is None and (backend, precision) != ("torch", "fp32") and ref is None:
                        reason = "n/a: no torch fp32 reference"
                    if reason is not None:
                        rows.append((*label, reason))
                        continue
                    torch.cuda.empty_cache()
                    torch.cuda.reset_peak_memory_stats()
                    before = torch.cuda.memory_allocated()  # the input and the reference output
                    used = _smi("memory.used")
                    try:
                        model = _model(spec, args.scale, backend, precision)
                        seconds, out = _cell(model, x, args.repeats)
                    except Exception as exc:  # a runtime or model that cannot run here: say why, go on
                        rows.append((*label, f"n/a: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"))
                        continue
                    if backend == "torch":
                        memory = f"{(torch.cuda.max_memory_allocated() - before) / 2**20:.0f} MiB"
                    else:
                        after = _smi("memory.used")
                        memory = f">= {int(after) - int(used)} MiB (nvidia-smi)" if used and after else "n/a"
                    if ref is None:
                        ref = out
                    d = (out.float() - ref.float()).double()
                    mse = float((d**2).mean())
                    psnr = "inf" if mse == 0 else f"{10 * np.log10(1.0 / mse):.1f}"
                    rows.append((*label, seconds / batch, float(d.abs().max()), psnr, memory))
                    del model, out
    print(f"\nwall time {time.perf_counter() - start:.0f} s\n")
    print(
        "| model | LR size | batch | backend | precision | ms/image (median) | max abs diff vs torch fp32 | PSNR vs fp32 (dB) | peak GPU memory |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        if isinstance(row[5], str):
            print(f"| {' | '.join(map(str, row[:5]))} | {row[5]} | | | |")
        else:
            print(f"| {' | '.join(map(str, row[:5]))} | {row[5] * 1e3:.3f} | {row[6]:.2g} | {row[7]} | {row[8]} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

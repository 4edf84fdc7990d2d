#!/usr/bin/env python
"""SR benchmark: PSNR-Y / SSIM-Y on Set5, Set14, BSD100 beside the seed papers' numbers, plus cost and
no-reference sharpness/naturalness.

Protocol (the SRCNN/VDSR/SRGAN one): HR mod-cropped to the scale, LR = MATLAB-bicubic shrink rounded to
uint8 (``sr4det.resize.imresize_uint8``), SR rounded to uint8, Y = BT.601, shave = scale.

Rows: bicubic, every weight file shipped in ``sr4det/models/weights`` and every loadable third-party
file in the shared ``weights/sr`` (spandrel files; OpenCV ``.pb`` graphs only when ``cv2.dnn_superres``
imports; plain state dicts spandrel does not know are listed as skipped).

Columns: params; GFLOPs for one 640x480 output (``torch.utils.flop_counter``; convolutions and matmuls
only, so the bicubic resampler counts 0); CPU milliseconds for one 640x480 output (median of ``--reps``,
``--threads`` threads; the machine is shared, so treat it as a rough figure); per set PSNR/SSIM and,
with ``--noref``, the mean Sobel gradient magnitude ("grad", HR images give the target) and NIQE
against a pristine model fitted on the training HR images (lower = more natural).

    python eval/sr_benchmark.py                       # everything, all sets (slow on 2 cores)
    python eval/sr_benchmark.py --sets Set5 --scales 4 --limit 3 --no-third-party
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

# the seed papers' tables (PSNR-Y dB): SRGAN paper x4 (Set5/Set14/BSD100) and VDSR paper Set5 x2/x4
PAPER = {
    ("bicubic", 4): {"Set5": "28.43 / 28.42v", "Set14": "25.99", "BSD100": "25.94"},
    ("srcnn", 4): {"Set5": "30.07 / 30.48v", "Set14": "27.18", "BSD100": "26.68"},
    ("srresnet", 4): {"Set5": "32.05", "Set14": "28.49", "BSD100": "27.58"},
    ("srgan", 4): {"Set5": "29.40", "Set14": "26.02", "BSD100": "25.16"},
    ("vdsr", 4): {"Set5": "31.35v"},
    ("bicubic", 2): {"Set5": "33.66v"},
    ("srcnn", 2): {"Set5": "36.66v"},
    ("vdsr", 2): {"Set5": "37.53v"},
}
OUTPUT_HW = (480, 640)


def _shared(*parts: str) -> Path | None:
    from _shared import shared_path

    return shared_path(*parts)


def _candidates(scale: int, third_party: bool):
    """Yield (label, loader) for every model to evaluate at ``scale``."""
    from sr4det.models import create_model, get_card, list_models, load_model

    yield "bicubic", lambda: create_model("bicubic", scale)
    for name in [n for n in list_models(pretrained=True) if scale in get_card(n).shipped]:  # declared on the cards
        yield name, (lambda n=name: create_model(n, scale, pretrained=True))
    if not third_party:
        return
    root = _shared("weights", "sr")
    if root is None:
        return
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in (".pth", ".pt", ".pb", ".safetensors", ".ckpt"):
            continue
        named = re.search(r"x(\d)(?=[_.-]|$)", path.stem)
        if named and int(named[1]) != scale:
            continue  # the file name says another scale
        yield f"3p:{path.name}", (lambda p=path: load_model(p, scale=scale))


def _flops(model, scale: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    h, w = OUTPUT_HW[0] // scale, OUTPUT_HW[1] // scale
    x = torch.rand(1, 3, h, w)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    return fc.get_total_flops() / 1e9


def _cpu_ms(model, scale: int, reps: int) -> float:
    h, w = OUTPUT_HW[0] // scale, OUTPUT_HW[1] // scale
    x = torch.rand(1, 3, h, w)
    times = []
    with torch.no_grad():
        model(x)  # warm-up (allocations, lazy init)
        for _ in range(reps):
            t = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", nargs="+", default=["Set5", "Set14", "BSD100"])
    ap.add_argument("--scales", nargs="+", type=int, default=[2, 4])
    ap.add_argument("--limit", type=int, default=None, help="first N images of each set")
    ap.add_argument("--models", nargs="*", default=None, help="only rows whose label contains one of these")
    ap.add_argument("--no-third-party", action="store_true")
    ap.add_argument("--noref", action="store_true", help="gradient sharpness and NIQE columns")
    ap.add_argument("--no-cost", action="store_true", help="skip GFLOPs and CPU timing")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from sr4det.errors import SR4DetError
    from sr4det.metrics import fit_niqe_model, gradient_sharpness, niqe, psnr_y, ssim_y
    from sr4det.training import load_benchmark, super_resolve_uint8

    bench_root = _shared("data", "sr_benchmark")
    if bench_root is None:
        print("error: shared data/sr_benchmark not found (set SR4DET_SHARED)", file=sys.stderr)
        return 2
    niqe_model = None
    if args.noref:
        from sr4det.data.io import list_images, read_image

        train_root = _shared("data", "sr_train")
        if train_root is None:
            print("error: --noref needs data/sr_train for the NIQE pristine model", file=sys.stderr)
            return 2
        t = time.perf_counter()
        niqe_model = fit_niqe_model(read_image(p)[0] for p in list_images(*sorted(train_root.iterdir())))
        print(
            f"NIQE pristine model: {niqe_model.n_patches} sharp 96x96 blocks of data/sr_train "
            f"(T91+BSD200), fitted in {time.perf_counter() - t:.1f} s\n"
        )

    notes: dict[str, str] = {}
    for scale in args.scales:
        sets = {s: load_benchmark(bench_root / s, scale, args.limit) for s in args.sets}
        header = ["model", "params", "GFLOPs", "CPU ms"]
        for s in args.sets:
            header += [f"{s} PSNR", f"{s} SSIM", f"{s} paper"]
            if args.noref:
                header += [f"{s} grad", f"{s} NIQE"]
        rows = []
        if args.noref:
            row = ["HR (reference)", "", "", ""]
            for pairs in sets.values():
                row += ["", "", ""]
                row += [
                    f"{np.mean([gradient_sharpness(hr, shave=scale) for _, hr, _ in pairs]):.2f}",
                    f"{np.mean([niqe(hr, niqe_model) for _, hr, _ in pairs]):.2f}",
                ]
            rows.append(row)
        for label, loader in _candidates(scale, not args.no_third_party):
            if args.models and label != "bicubic" and not any(m in label for m in args.models):
                continue
            try:
                model = loader()
            except (SR4DetError, ImportError) as exc:
                why = (
                    "cv2.dnn_superres is not importable (needs opencv-contrib)"
                    if label.endswith(".pb")
                    else str(exc).splitlines()[0][:140]
                )
                notes[label] = f"{label}: skipped ({type(exc).__name__}: {why})"
                continue
            flops = "" if args.no_cost else f"{_flops(model, scale):.2f}"
            ms = "" if args.no_cost else f"{_cpu_ms(model, scale, args.reps):.0f}"
            row = [label, f"{model.card.params / 1e3:.1f}k" if model.card.params else "0", flops, ms]
            arch = label if not label.startswith("3p:") else ""
            for s, pairs in sets.items():
                ps, ss, gs, ns = [], [], [], []
                for _, hr, lr in pairs:
                    sr = super_resolve_uint8(model, lr)
                    ps.append(psnr_y(sr, hr, shave=scale))
                    ss.append(ssim_y(sr, hr, shave=scale))
                    if args.noref:
                        gs.append(gradient_sharpness(sr, shave=scale))
                        ns.append(niqe(sr, niqe_model))
                row += [f"{np.mean(ps):.2f}", f"{np.mean(ss):.4f}", PAPER.get((arch, scale), {}).get(s, "")]
                if args.noref:
                    row += [f"{np.mean(gs):.2f}", f"{np.mean(ns):.2f}"]
            rows.append(row)
            print(f"  done x{scale} {label}", file=sys.stderr, flush=True)
        n = {s: len(p) for s, p in sets.items()}
        print(f"## x{scale}  (images: {', '.join(f'{s} {k}' for s, k in n.items())})\n")
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for r in rows:
            print("| " + " | ".join(r) + " |")
        print()
    print("Paper column: SRGAN paper (Ledig et al. 2017) x4; values marked v are from the VDSR paper (Kim et al. 2016).")
    print(f"CPU ms: one {OUTPUT_HW[1]}x{OUTPUT_HW[0]} output, {args.threads} thread(s), median of {args.reps}; shared machine.")
    for note in notes.values():
        print("note:", note)
    if any(k.endswith(".pb") for k in notes):
        print(
            "note: published numbers for the OpenCV graphs (SOURCES.md, same protocol, Set5 x4): ESPCN 28.38, "
            "FSRCNN 28.41, FSRCNN-small 28.20, LapSRN 28.75; Set5 x2: ESPCN 34.76, FSRCNN 34.85."
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

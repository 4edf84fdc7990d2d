"""Benchmarks for sr4det.tiling: effective overlap of deep models, tiled/untiled time, peak RSS, seam error.

Prints one table per section; all ratios are measured within one run. Usage::

    .venv/bin/python eval/bench_tiling.py                      # every section
    .venv/bin/python eval/bench_tiling.py --section overlap    # overlap | time | rss | seam
    .venv/bin/python eval/bench_tiling.py --threads 1

Real images come from ``shared/data/sr_benchmark/BSD100`` (HR, shrunk x4 with MATLAB bicubic to make the
LR input). Models without trained weights (EDSR, SRResNet, RRDBNet) use random weights (seed 0): see
``eval/RESULTS.md`` for what that means for the effective-overlap numbers.
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

import numpy as np
import torch
from _baselines import hard_crop_upscale  # eval/_baselines.py (this script's folder is on sys.path)
from _shared import shared_path
from torch import nn

import sr4det
from sr4det.data.io import from_tensor, read_image, to_tensor
from sr4det.models.wrapper import SRModel
from sr4det.resize import imresize
from sr4det.tiling import estimate_memory, plan_tiles, upscale


def _lr_images(n: int) -> list[torch.Tensor]:
    root = shared_path("data", "sr_benchmark", "BSD100")
    if root is None:
        raise SystemExit("needs shared/data/sr_benchmark/BSD100 (set SR4DET_SHARED)")
    files = sorted(root.glob("*.png"))[:: max(1, 100 // n)][:n]
    return [imresize(to_tensor(read_image(f)[0]), scale=0.25).clamp(0, 1) for f in files]


def _table(headers: list[str], rows: list[list]) -> str:
    cells = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)])


# ------------------------------------------------------------------------------------------------ effective overlap


class _Calibrated(nn.Module):
    """Random-weight nets have a tiny or saturated output range; map the raw output affinely so its mean/std
    match the bicubic upscale of the calibration image. The same constants serve tiled and untiled runs,
    so the uint8 comparison then asks the question it asks of a trained model with a realistic output range."""

    def __init__(self, net: nn.Module, mean: torch.Tensor, std: torch.Tensor, target_mean: float, target_std: float):
        super().__init__()
        self.net, self.a, self.b = net, target_std / std, target_mean - target_std / std * mean

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * self.a + self.b


def _calibrated(model, lr: torch.Tensor) -> SRModel:
    with torch.inference_mode():
        raw = model.net(lr[None])
    bic = imresize(lr[None], scale=model.scale)
    net = _Calibrated(model.net, raw.mean(), raw.std(), float(bic.mean()), float(bic.std()))
    return SRModel(net, model.card, model.scale).eval()


def _u8(t: torch.Tensor) -> np.ndarray:
    return from_tensor(t, np.uint8)


def _agreement(model, images: list[torch.Tensor], overlap: int, tile_extra: int) -> tuple[int, float]:
    """(max |diff| in uint8 levels, fraction of exactly equal values) of tiled vs untiled over ``images``."""
    worst, equal, total = 0, 0, 0
    for lr in images:
        arr = _u8(lr)
        ref = upscale(model, arr, tile=None)
        out = upscale(model, arr, tile=2 * overlap + tile_extra, overlap=overlap)
        d = np.abs(out.astype(np.int16) - ref.astype(np.int16))
        worst, equal, total = max(worst, int(d.max())), equal + int((d == 0).sum()), total + d.size
    return worst, equal / total


def section_overlap(args) -> None:
    """Smallest overlap whose tiled uint8 output is within 1 level of untiled everywhere, exact on >= 99.9%."""
    imgs = _lr_images(3)
    crops = [lr[:, :64, :96] for lr in imgs]  # 64 x 96 LR crops keep the deep models affordable on CPU
    candidates = [2, 4, 6, 8, 10, 12, 16, 20, 24, 32]
    cases = [
        ("edsr (baseline 16x64, random)", lambda: sr4det.create_model("edsr", scale=4), True),
        ("srresnet (16x64, random)", lambda: sr4det.create_model("srresnet", scale=4), True),
        ("rrdbnet (23x64, random)", lambda: sr4det.create_model("rrdbnet", scale=4), True),
        ("srresnet (6x32, shipped, trained)", lambda: sr4det.create_model("srresnet", scale=4, pretrained=True), False),
        ("srgan (6x32, shipped, trained)", lambda: sr4det.create_model("srgan", scale=4, pretrained=True), False),
        (
            "Real-ESRGAN Compact (trained)",
            lambda: sr4det.load_model(shared_path("weights", "sr", "spandrel", "realesr-animevideov3.pth")),
            False,
        ),
    ]
    if args.cases:
        cases = [c for c in cases if any(k in c[0] for k in args.cases)]
    rows = []
    for label, make, random_weights in cases:
        torch.manual_seed(0)
        t0 = time.perf_counter()
        base = make()
        model = _calibrated(base, crops[0]) if random_weights else base
        use = crops[:2] if "rrdbnet" in label else crops
        chosen, stats = None, None
        lo, hi = 0, len(candidates) - 1
        while lo <= hi:  # binary search, assuming agreement improves with the overlap
            mid = (lo + hi) // 2
            worst, frac = _agreement(model, use, candidates[mid], args.overlap_tile_extra)
            if worst <= 1 and frac >= 0.999:
                chosen, stats, hi = candidates[mid], (worst, frac), mid - 1
            else:
                lo = mid + 1
        rf = base.card.receptive_field
        cost = lambda o: sum((t.y1 - t.y0) * (t.x1 - t.x0) for t in plan_tiles(1024, 1024, 512, o)) / 1024**2  # noqa: E731
        rows.append(
            [
                label,
                f"{base.card.params / 1e6:.2f}M",
                rf if rf is not None else "n/a",
                chosen if chosen is not None else f">{candidates[-1]}",
                f"{stats[0]}" if stats else "-",
                f"{100 * stats[1]:.3f}%" if stats else "-",
                f"{cost(chosen):.3f}" if chosen is not None else "-",
                f"{cost(rf):.3f}" if rf is not None and 2 * rf < 512 else ("n/a" if rf is None else "tile too small"),
                f"{time.perf_counter() - t0:.0f}s",
            ]
        )
        print(f"  {label}: overlap {chosen} ({rows[-1][-1]})", flush=True)
    print(f"\nEffective overlap (x4, BSD100 LR crops 64x96, tile = 2*overlap + {args.overlap_tile_extra})")
    print(
        _table(
            [
                "model",
                "params",
                "theoretical RF",
                "chosen overlap",
                "max diff",
                "exact",
                "work 1024^2 @512 (chosen)",
                "work (RF)",
                "time",
            ],
            rows,
        )
    )


# ------------------------------------------------------------------------------------------------ time


def _timed(fn, repeats: int = 1) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def section_time(args) -> None:
    torch.manual_seed(0)
    cases = [
        ("espcn", sr4det.create_model("espcn", scale=4), 1024, 512),
        ("fsrcnn", sr4det.create_model("fsrcnn", scale=4), 1024, 512),
        ("edsr-baseline", sr4det.create_model("edsr", scale=4), args.deep_side, args.deep_side // 2),
        (
            "rrdbnet nb=2 nf=32 gc=16",
            sr4det.create_model("rrdbnet", scale=4, nb=2, nf=32, gc=16),
            args.deep_side,
            args.deep_side // 2,
        ),
    ]
    rows = []
    for name, model, side, tile in cases:
        x = torch.rand(3, side, side, generator=torch.Generator().manual_seed(1))
        o = model.card.default_overlap
        upscale(model, x[:, :64, :64], tile=None)  # warm-up
        t_un = _timed(lambda m=model, x=x: upscale(m, x, tile=None), args.repeats)
        t_ti = _timed(lambda m=model, x=x, t=tile, o=o: upscale(m, x, tile=t, overlap=o), args.repeats)
        t_b4 = _timed(lambda m=model, x=x, t=tile, o=o: upscale(m, x, tile=t, overlap=o, batch_tiles=4), args.repeats)
        n = len(plan_tiles(side, side, tile, o))
        work = sum((t.y1 - t.y0) * (t.x1 - t.x0) for t in plan_tiles(side, side, tile, o)) / side**2
        rows.append(
            [
                name,
                f"{side}x{side}",
                tile,
                o,
                n,
                f"{work:.3f}",
                f"{t_un:.2f}",
                f"{t_ti:.2f}",
                f"{t_ti / t_un:.3f}",
                f"{t_b4 / t_un:.3f}",
            ]
        )
        print(f"  {name}: {rows[-1]}", flush=True)
    print(f"\nTiled / untiled time at x4 (default overlap; best of {args.repeats})")
    print(
        _table(
            [
                "model",
                "input",
                "tile",
                "overlap",
                "tiles",
                "work ratio",
                "untiled s",
                "tiled s",
                "tiled/untiled",
                "batch 4 / untiled",
            ],
            rows,
        )
    )


# ------------------------------------------------------------------------------------------------ peak RSS

_RSS_CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
torch.set_num_threads(int(sys.argv[1]))
import sr4det
from sr4det.tiling import upscale
torch.manual_seed(0)
model = sr4det.create_model("rrdbnet", scale=4, **json.loads(sys.argv[2]))
img = np.random.default_rng(0).integers(0, 256, size=(3000, 4000, 3), dtype=np.uint8)
t0 = time.perf_counter()
out = upscale(model, img, tile="auto", max_memory=sys.argv[3])
dt = time.perf_counter() - t0
print(json.dumps({"shape": list(out.shape), "dtype": str(out.dtype), "memmap": isinstance(out, np.memmap),
                  "seconds": dt, "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def section_rss(args) -> None:
    kwargs = json.loads(args.rss_kwargs)
    cmd = [sys.executable, "-c", _RSS_CHILD, str(args.threads), args.rss_kwargs, args.rss_budget]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        print(res.stderr[-3000:])
        raise SystemExit("child failed")
    child = json.loads(res.stdout.strip().splitlines()[-1])
    wall = time.perf_counter() - t0
    # what an untiled run would need, from the same per-pixel probe the tiler uses (12M LR pixels, batch 1)
    px = 3000 * 4000
    rows = []
    for label, kw in [(f"rrdbnet {kwargs} (run)", kwargs), ("rrdbnet nb=23 nf=64 gc=32 (full)", {})]:
        torch.manual_seed(0)
        m = sr4det.create_model("rrdbnet", scale=4, **kw)
        mm = estimate_memory(m)
        weights = sum(p.numel() * p.element_size() for p in m.parameters())
        rows.append(
            [
                label,
                f"{m.card.params / 1e6:.2f}M",
                f"{mm.per_pixel / 1024:.1f} KiB",
                f"{(mm.bytes(px) + weights) / 2**30:.1f} GiB",
            ]
        )
    print(f"\nPeak RSS, x4 of a 4000x3000 uint8 image, max_memory={args.rss_budget!r}, child process")
    print(
        _table(
            ["model", "output", "memmap output", "peak RSS (child)", "seconds"],
            [
                [
                    f"rrdbnet {kwargs}",
                    f"{child['shape']} {child['dtype']}",
                    child["memmap"],
                    f"{child['maxrss_kib'] / 2**20:.2f} GiB",
                    f"{child['seconds']:.0f} (wall {wall:.0f})",
                ]
            ],
        )
    )
    print("\nUntiled requirement computed from the probe (model call at 12.0M LR px, probe safety factor included, plus weights)")
    print(_table(["model", "params", "probe per LR px", "untiled need"], rows))


# ------------------------------------------------------------------------------------------------ seam error


def _seam_stats(
    y: torch.Tensor, ref: torch.Tensor, s: int, seams_y: list[int], seams_x: list[int]
) -> tuple[float, float, float, float]:
    """(max, mean, mean within 2 LR px of a seam line) |diff| in uint8 levels, and PSNR vs untiled (dB)."""
    d = (y - ref).abs().amax(0) * 255
    band = torch.zeros_like(d, dtype=torch.bool)
    for v in seams_y:
        band[max(0, (v - 2) * s) : (v + 2) * s, :] = True
    for v in seams_x:
        band[:, max(0, (v - 2) * s) : (v + 2) * s] = True
    mse = float(((y - ref) ** 2).mean())
    psnr = 10 * np.log10(1 / mse) if mse > 0 else float("inf")
    return float(d.max()), float(d.mean()), float(d[band].mean()) if band.any() else 0.0, psnr


def section_seam(args) -> None:
    imgs = [lr[:, :64, :96] for lr in _lr_images(2)]
    torch.manual_seed(0)
    espcn = sr4det.create_model("espcn", scale=4)
    craft = sr4det.load_model(shared_path("weights", "sr", "spandrel", "CRAFT_x4_ntire2024_team34.pth"))
    core, pad = 32, 10
    rows = []
    for label, model in [("espcn x4 (local, random weights)", espcn), ("CRAFT x4 (non-local, trained)", craft)]:
        acc: dict[str, list[tuple]] = {}
        for lr in imgs:
            with torch.inference_mode():
                ref = model(lr)
            _, h, w = lr.shape
            grid_y, grid_x = list(range(core, h, core)), list(range(core, w, core))
            variants = {
                "naive (grid 32, no overlap)": (hard_crop_upscale(model, lr, core, 0), grid_y, grid_x),
                "hard crop (grid 32, tile_pad 10)": (hard_crop_upscale(model, lr, core, pad), grid_y, grid_x),
            }
            for ov in (10, 16):
                tile = core + 2 * ov
                tiles = plan_tiles(h, w, tile, ov, model.card.size_multiple)
                sy = sorted({t.cy0 for t in tiles if t.cy0 > 0})
                sx = sorted({t.cx0 for t in tiles if t.cx0 > 0})
                kind = "feathered" if model.card.non_local else "core crop"
                variants[f"sr4det {kind} (tile {tile}, overlap {ov})"] = (upscale(model, lr, tile=tile, overlap=ov), sy, sx)
            for k, (y, sy, sx) in variants.items():
                acc.setdefault(k, []).append(_seam_stats(y, ref, model.scale, sy, sx))
        for k, v in acc.items():
            a = np.array(v)
            rows.append(
                [label, k, f"{a[:, 0].max():.2f}", f"{a[:, 1].mean():.3f}", f"{a[:, 2].mean():.3f}", f"{a[:, 3].mean():.2f}"]
            )
        print(f"  {label} done", flush=True)
    print("\nSeam error vs untiled output (x4, 2 BSD100 LR crops 64x96; |diff| in uint8 levels)")
    print(_table(["model", "tiling", "max", "mean", "mean near seams", "PSNR vs untiled dB"], rows))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--section", choices=["overlap", "time", "rss", "seam", "all"], default="all")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument(
        "--deep-side", type=int, default=256, help="input side for the EDSR/RRDBNet timing (1024 is far too slow on a 2-core CPU)"
    )
    p.add_argument("--overlap-tile-extra", type=int, default=32)
    p.add_argument("--cases", nargs="*", help="overlap section: only the models whose label contains one of these")
    p.add_argument("--rss-kwargs", default='{"nb": 1, "nf": 16, "gc": 8}')
    p.add_argument("--rss-budget", default="1GB")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, threads {args.threads}, no GPU used"
    )
    sections = ["overlap", "time", "rss", "seam"] if args.section == "all" else [args.section]
    for s in sections:
        globals()[f"section_{s}"](args)
    _ = resource  # imported for the child's getrusage; keeps linters quiet


if __name__ == "__main__":
    main()

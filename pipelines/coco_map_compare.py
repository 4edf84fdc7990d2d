#!/usr/bin/env python
"""The main job: COCO mAP of hr / lr / bicubic / SR models through one detector (a thin wrapper of ``sr4det compare``).

    python pipelines/coco_map_compare.py --config pipelines/configs/coco128_x4.yaml [--limit 8] [--out DIR]

The YAML holds the arguments of :func:`sr4det.commands.compare.run_compare`; ``${shared}`` expands to the shared
data folder. SR weight files that do not exist are skipped with a warning (and listed in results.json);
``shipped_models: true`` adds every zoo model whose weights ship with sr4det at the configured scale.
Outputs and detections are cached by content, so rerunning after adding a model only computes the new model.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch
import yaml

from sr4det._shared import shared_root
from sr4det.commands._common import parse_tile
from sr4det.commands.compare import run_compare, split_sr, summary
from sr4det.errors import SR4DetError
from sr4det.models.loading import SHIPPED_DIR

_KEYS = {"data", "images", "split", "detector", "imgsz", "conf", "iou", "max_det", "scale", "sr", "limit", "device", "backend",
         "class_map", "bootstrap", "seed", "cache", "tile", "blur_sigma", "noise_std", "jpeg_quality", "out", "shipped_models",
         "blur", "noise", "jpeg"}  # the last three: older names of the degradation options


def _expand(value):
    if isinstance(value, str):
        return value.replace("${shared}", str(shared_root()))
    if isinstance(value, list):
        return [_expand(v) for v in value]
    return value


def load_config(path: str | Path) -> dict:
    cfg = yaml.safe_load(Path(path).read_text()) or {}
    unknown = set(cfg) - _KEYS
    if unknown:
        raise SR4DetError(f"{path}: unknown keys {sorted(unknown)}; allowed: {sorted(_KEYS)}")
    return {k: _expand(v) for k, v in cfg.items()}


def resolve_sr(cfg: dict) -> tuple[list[str], list[str]]:
    """(SR specs to run, specs skipped because their weight file is missing)."""
    specs, skipped = [], []
    for spec in split_sr(cfg.get("sr", ["bicubic"])):
        path = spec.split("=", 1)[1] if "=" in spec else spec
        if ("/" in path or path.endswith((".pth", ".pt", ".safetensors", ".pb"))) and not Path(path).exists():
            warnings.warn(f"SR weights not found, condition skipped: {spec}", stacklevel=2)
            skipped.append(spec)
            continue
        specs.append(spec)
    if cfg.get("shipped_models"):
        scale = int(cfg.get("scale", 4))
        names = {s.split("=", 1)[0] for s in specs}
        for p in sorted(SHIPPED_DIR.glob(f"*_x{scale}.pt")):
            name = p.stem.rsplit("_x", 1)[0]
            if name not in names:
                specs.append(name)  # a zoo name: create_model(pretrained=True) finds the shipped file
    return specs, skipped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("--limit", type=int, default=None, help="only the first N images (quick check)")
    ap.add_argument("--out", default=None, help="override the config's output folder")
    ap.add_argument("--detector", default=None, help="override the config's detector (e.g. to score the same SR with another one)")
    ap.add_argument("--sr", default=None, help="override the SR list (comma-separated; shipped models are then not added)")
    ap.add_argument("--bootstrap", type=int, default=None)
    ap.add_argument("--device", default=None)
    ap.add_argument("--cache", default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        cfg = load_config(args.config)
        if args.sr is not None:
            cfg["shipped_models"] = False
        for key in ("limit", "out", "detector", "sr", "bootstrap", "device", "cache"):
            if getattr(args, key) is not None:
                cfg[key] = getattr(args, key)
        specs, skipped = resolve_sr(cfg)
        opts = {k: v for k, v in cfg.items() if k not in ("sr", "shipped_models", "data", "detector", "out")}
        if "tile" in opts:
            opts["tile"] = parse_tile(str(opts["tile"]))
        t0 = time.perf_counter()
        results = run_compare(
            cfg["data"], cfg["detector"], cfg.get("out", "runs/compare"), sr=specs, progress=not args.quiet,
            extra_config={"pipeline_config": str(args.config), "skipped_sr": skipped}, **opts,
        )
    except SR4DetError as exc:
        print(f"coco_map_compare: error: {exc}", file=sys.stderr)
        return 2
    print(summary(results))
    print(f"wall time {time.perf_counter() - t0:.0f} s; wrote {cfg.get('out')}/results.json, report.md and plots")
    return 0


if __name__ == "__main__":
    sys.exit(main())

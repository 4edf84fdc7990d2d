#!/usr/bin/env python
"""The main job: COCO mAP of hr / lr / bicubic / SR models through one detector (a thin wrapper of ``sr4det compare``).

    python pipelines/coco_map_compare.py --config pipelines/configs/coco128_x4.yaml [--limit 8] [--out DIR]
    python pipelines/coco_map_compare.py --config pipelines/configs/coco128_x4.yaml --data my.json --out DIR  # other images

The YAML holds the options of :class:`sr4det.evaluation.config.CompareConfig` (the fields of ``sr4det compare``);
``${shared}`` expands to the shared
data folder. SR weight files that do not exist are skipped with a warning (and listed in results.json);
``shipped_models: true`` adds every zoo model whose weights ship with sr4det at the configured scale.
Conditions with their own detector: ``SR@LABEL=DETECTOR`` entries in ``sr`` (or in a ``conditions:`` list beside
it), or ``SR@LABEL`` with ``detectors: {LABEL: PATH}``; a detector that is missing or does not load is an error
(never skipped).
Outputs and detections are cached by content, so rerunning after adding a model only computes the new model.

Sharded over processes (each takes a contiguous part of the images; rank 0 evaluates and writes):

    torchrun --nproc_per_node 2 pipelines/coco_map_compare.py --config pipelines/configs/coco128_x4.yaml
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

from _shared import shared_root

from sr4det._options import add_option
from sr4det._suggest import did_you_mean
from sr4det._yaml_file import read_yaml
from sr4det.errors import SR4DetError
from sr4det.evaluation.conditions import SRSpec
from sr4det.evaluation.config import ALIASES, CompareConfig, split_sr
from sr4det.evaluation.distributed import env_world_size
from sr4det.evaluation.report import render_summary
from sr4det.models import get_card, list_models

_PIPELINE_KEYS = {"shipped_models"}  # besides CompareConfig's options
_KEYS = set(CompareConfig.option_names()) - {"progress", "extra_config"} | set(ALIASES) | _PIPELINE_KEYS


def _expand(value):
    if isinstance(value, str):
        return value.replace("${shared}", str(shared_root()))
    if isinstance(value, list):
        return [_expand(v) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    return value


def load_config(path: str | Path) -> dict:
    cfg = read_yaml(path, "config", "a mapping of options (key: value)")  # ConfigError: file, line and column
    unknown = sorted(map(str, set(cfg) - _KEYS))
    if unknown:
        hints = "".join(f"; {key!r}{did_you_mean(key, _KEYS)}" for key in unknown if did_you_mean(key, _KEYS))
        raise SR4DetError(f"{path}: unknown keys {unknown}{hints}; allowed: {sorted(_KEYS)}")
    return {k: _expand(v) for k, v in cfg.items()}


def resolve_sr(cfg: dict) -> tuple[list[str], list[str]]:
    """(SR specs to run: ``sr`` then ``conditions``, specs skipped because their SR weight file is missing).
    Only SR weights are skipped: the detector of an ``SR@LABEL=DETECTOR`` entry is checked (an error) later."""
    specs, skipped = [], []
    for spec in split_sr(cfg.get("sr", ["bicubic"])) + split_sr(cfg.get("conditions") or []):
        path = SRSpec.parse(spec).source
        if ("/" in path or path.endswith((".pth", ".pt", ".safetensors", ".pb"))) and not Path(path).exists():
            warnings.warn(f"SR weights not found, condition skipped: {spec}", stacklevel=2)
            skipped.append(spec)
            continue
        specs.append(spec)
    if cfg.get("shipped_models"):
        scale = int(cfg.get("scale", 4))
        names = {SRSpec.parse(s).name for s in specs}
        for name in list_models(pretrained=True):
            if scale in get_card(name).shipped and name not in names:
                specs.append(name)  # a zoo name: create_model(pretrained=True) finds the shipped file
    return specs, skipped


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument(
        "--data", default=None, help="override the config's dataset (e.g. your own COCO json: the same job on other images)"
    )
    ap.add_argument("--images", default=None, help="image folder of --data's COCO json (default: guessed)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N images (quick check)")
    ap.add_argument("--out", default=None, help="override the config's output folder")
    ap.add_argument(
        "--detector", default=None, help="override the config's detector (e.g. to score the same SR with another one)"
    )
    ap.add_argument(
        "--sr", default=None, help="override the SR list and `conditions` (comma-separated; shipped models are then not added)"
    )
    ap.add_argument(
        "--degradation",
        default=None,
        help="override the config's degradation preset (clean, camera, web, video: sr4det.degradation.presets)",
    )
    ap.add_argument(
        "--pair",
        dest="pairs",
        action="append",
        default=None,
        help="head-to-head A:B of two conditions (repeatable or comma-separated; replaces the config's `pairs`)",
    )
    ap.add_argument("--bootstrap", type=int, default=None)
    ap.add_argument("--ci-level", type=float, default=None, help="level of the intervals (default 0.95)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--cache", default=None)
    ap.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads per process (default under torchrun: cores / processes)"
    )
    ap.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the results of another comparison in the output folder (default: refuse)",
    )
    for name in ("backend", "precision"):  # the SR runtime, as in `sr4det compare`; default: the config's
        add_option(ap, name, default=None)
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    try:
        cfg = load_config(args.config)
        if args.sr is not None:
            cfg["shipped_models"] = False
            cfg["conditions"] = []
        if args.data is not None:
            cfg.pop("images", None)  # the config's image folder belongs to the config's dataset
        if args.overwrite:
            cfg["overwrite"] = True
        keys = ("data", "images", "limit", "out", "detector", "sr", "degradation", "bootstrap", "ci_level", "device", "cache")
        for key in (*keys, "threads", "pairs", "backend", "precision"):
            if getattr(args, key) is not None:
                cfg[key] = getattr(args, key)
        specs, skipped = resolve_sr(cfg)
        opts = {k: v for k, v in cfg.items() if k not in _PIPELINE_KEYS and k != "conditions"}
        config = CompareConfig.from_mapping(
            {
                "out": "runs/compare",
                **opts,
                "sr": specs,
                "progress": not args.quiet,
                "extra_config": {"pipeline_config": str(args.config), "skipped_sr": skipped},
            },
            what=str(args.config),
        )
        t0 = time.perf_counter()
        results = config.run()
    except SR4DetError as exc:
        print(f"coco_map_compare: error: {exc}", file=sys.stderr)
        return 2
    if env_world_size() > 1 and os.environ.get("RANK", "0") != "0":
        return 0
    print(render_summary(results))
    print(f"wall time {time.perf_counter() - t0:.0f} s; wrote {cfg.get('out')}/results.json, report.md and plots")
    return 0


if __name__ == "__main__":
    sys.exit(main())

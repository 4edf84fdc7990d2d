"""``sr4det adapt-detector``: fine-tune a YOLO detector on degraded (+ super-resolved) training images."""

from __future__ import annotations

import argparse
import json
import shlex

from .._validators import tile_text
from ._common import add_option, add_options, add_switch, check_writable_dir


def add_parser(sub) -> None:
    p = sub.add_parser(
        "adapt-detector",
        help="fine-tune a YOLO detector on degraded (+ SR) training images (the alternative to SR)",
        description="Rebuilds a trainable YOLO from an ultralytics OpenVINO export (or takes a YOLO .pt), then fine-tunes "
        "it with ultralytics on Degrade(--scale) images of --data, upscaled by --sr (bicubic, an SR model, 'lr' for the "
        "LR images themselves, 'hr' for no degradation). Writes OUT/adapted.pt (loads with UltralyticsDetector) and "
        "OUT/adapted.json (command, epochs, wall time). Never train on coco128: it is the evaluation set.",
    )
    add_arguments(p)
    p.set_defaults(func=run)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--detector", required=True, help="ultralytics OpenVINO export folder (*_openvino_model) or YOLO .pt")
    p.add_argument(
        "--data",
        required=True,
        help="training data: COCO instances .json or ultralytics dataset .yaml, e.g. "
        "../shared/data/coco_train160/annotations/instances_train2017.json (never coco128, the evaluation set)",
    )
    add_option(p, "scale")
    p.add_argument("--sr", default="bicubic", help="input preparation: bicubic, an SR zoo name or weight file, lr, hr")
    p.add_argument("--epochs", type=int, default=10, help="training epochs")
    p.add_argument("--imgsz", type=int, default=640, help="training image size (multiple of 32)")
    p.add_argument("--batch", type=int, default=8, help="batch size")
    p.add_argument("--out", "-o", "--output", dest="out", required=True, help="output folder")
    add_options(p, "threads", "device")  # threads: default ultralytics' min(8, cpus - 1)
    p.add_argument("--limit", type=int, default=None, help="use only the first N training images (quick checks)")
    add_option(p, "seed")  # ultralytics' training seed
    p.add_argument(
        "--lr0",
        type=float,
        default=None,
        help="initial learning rate, with optimizer AdamW (default: ultralytics' optimizer=auto, AdamW lr 0.000119 for 80 classes)",
    )
    add_switch(p, "--val", "validate after every epoch (on the degraded training split)")
    add_switch(p, "--amp", "mixed precision on CUDA (ultralytics' downloading AMP check is skipped)")
    add_options(p, "tile", "overwrite", "quiet")  # --quiet: less ultralytics output


def run(args: argparse.Namespace) -> int:
    from ..integrations.ultralytics.adapt import adapt_detector

    tile = args.tile  # the shared options were checked while parsing
    data = str(args.data)
    check_writable_dir(args.out, "--out")
    extra = {"lr0": args.lr0, "optimizer": "AdamW"} if args.lr0 is not None else {}  # auto ignores lr0
    record = adapt_detector(
        args.detector,
        data,
        args.out,
        scale=args.scale,
        sr=args.sr,
        epochs=args.epochs,
        imgsz=args.imgsz,
        batch=args.batch,
        threads=args.threads,
        device=args.device,
        limit=args.limit,
        seed=args.seed,
        val=args.val,
        amp=args.amp,
        tile=tile,
        command=_canonical(args, data),
        verbose=not args.quiet,
        overwrite=args.overwrite,
        **extra,
    )
    summary = {k: record[k] for k in ("weights", "command", "epochs", "wall_time_s", "train_s", "epoch_s", "threads", "device")}
    print(json.dumps(summary, indent=2))
    return 0


def _canonical(args: argparse.Namespace, data: str) -> str:
    """The ``sr4det adapt-detector`` command line that reproduces this run (every option spelled out)."""
    words = ["sr4det", "adapt-detector", "--detector", str(args.detector), "--data", str(data)]
    for flag in ("scale", "sr", "epochs", "imgsz", "batch", "out", "threads", "device", "limit", "seed", "lr0", "tile"):
        value = tile_text(args.tile) if flag == "tile" else getattr(args, flag)
        if value is not None:
            words += [f"--{flag}", str(value)]
    words += [f"--{flag}" for flag in ("val", "amp") if getattr(args, flag)]
    return shlex.join(words)

#!/usr/bin/env python
"""Train an sr4det zoo model on a folder of HR images and export its weights.

Examples (the shipped weights were made with the commands in eval/RESULTS.md):

    python pipelines/train_sr.py --model espcn --scale 4 --steps 3000 --out runs/espcn_x4 \
        --export sr4det/models/weights/espcn_x4.pt --val Set5
    python pipelines/train_sr.py --model srgan --scale 4 --init sr4det/models/weights/srresnet_x4.pt \
        --kw n_blocks=6 channels=48 --gan-weight 5e-3 --pixel-weight 1 --steps 600 --out runs/srgan_x4
    # detector in the loop (COCO crops with boxes; coco128 is never trained on):
    python pipelines/train_sr.py --model rfdn --scale 4 --init ../shared/weights/sr/state_dict/RFDN_AIM.pth \
        --detector ../shared/weights/yolo11n_int8_openvino_model \
        --det-data ../shared/data/coco_train160/annotations/instances_train2017.json \
        --patch 64 --batch 8 --pixel-weight 0.05 --distill-output-weight 1 --detection-weight 0.1 --det-warmup 100 \
        --grad-clip 1 --lr 1e-4 --steps 1500 --out runs/rfdn_det_x4

    # on GPUs (each process on cuda:LOCAL_RANK) or CPU processes; --batch is the global batch:
    torchrun --standalone --nproc_per_node 4 pipelines/train_sr.py --model rfdn --scale 4 --batch 32 --out runs/rfdn_x4

``--data`` and ``--val`` accept folders or, for names without a slash, sub-folders of the shared data
(``sr_train/NAME`` for data, ``sr_benchmark/NAME`` for validation). ``--resume`` continues a run (also under torchrun,
with the same or another process count that divides ``--batch``). ``--device`` picks where it trains (default: CUDA
when available, else the CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path


def _folder(name: str, kind: str) -> str:
    from _shared import shared_path

    from sr4det.errors import DataError

    if "/" in name or Path(name).exists():
        return name
    p = shared_path("data", kind, name)
    if p is None:
        raise DataError(f"{name!r} is neither a folder nor a shared data set under data/{kind}")
    return str(p)


def _kwargs(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, _, val = item.partition("=")
        try:
            out[key] = json.loads(val)
        except json.JSONDecodeError:
            out[key] = val
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--kw", nargs="*", default=[], help="architecture options, key=value (JSON values)")
    p.add_argument("--data", nargs="+", default=["T91", "BSD200"])
    p.add_argument("--out", required=True, help="run folder (checkpoint, log.csv)")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=16, help="crops per step (under torchrun: of all processes together)")
    p.add_argument("--patch", type=int, default=24, help="LR crop side")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-min-ratio", type=float, default=0.01)
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument("--loss", default="l1", choices=["l1", "mse"])
    p.add_argument("--pixel-weight", type=float, default=1.0)
    p.add_argument("--feature", default=None, help="vgg19 | resnet18 | resnet34 | resnet50 | ultralytics")
    p.add_argument("--feature-weights", default=None, help="local weights of the feature network")
    p.add_argument("--feature-layer", default=None)
    p.add_argument("--feature-weight", type=float, default=0.0)
    p.add_argument("--gan-weight", type=float, default=0.0)
    p.add_argument(
        "--detector",
        default=None,
        help="frozen training detector for the detector terms: ultralytics OpenVINO export folder or YOLO .pt",
    )
    p.add_argument("--det-data", default=None, help="COCO instances json of the detector terms' training crops (coco_train160)")
    p.add_argument(
        "--distill-feature-weight", type=float, default=0.0, help="neck-feature distillation (SR vs HR through the detector)"
    )
    p.add_argument("--distill-output-weight", type=float, default=0.0, help="head-output distillation (class logits, box bins)")
    p.add_argument("--detection-weight", type=float, default=0.0, help="the detector's own loss against ground-truth boxes")
    p.add_argument("--det-warmup", type=int, default=0, help="steps over which the detector terms ramp up from 0")
    p.add_argument(
        "--det-val",
        type=int,
        default=0,
        help="hold this many --det-data images out of training and score AP vs bicubic on them every --val-every "
        "steps and at the end; the best step is also exported as OUT/best_det_val.pt (0: off)",
    )
    p.add_argument(
        "--det-val-detector",
        default=None,
        help="score the --det-val images through this detector instead of --detector (e.g. the other shared YOLO)",
    )
    p.add_argument("--disc-channels", type=int, default=32)
    p.add_argument("--disc-lr", type=float, default=None)
    p.add_argument("--init", default=None, help="weights to start from (e.g. the SRResNet for SRGAN)")
    p.add_argument("--val", default=None, help="HR folder (or Set5/Set14/BSD100) evaluated during training")
    p.add_argument("--val-every", type=int, default=0)
    p.add_argument("--val-limit", type=int, default=None)
    p.add_argument("--grad-clip", type=float, default=None)
    p.add_argument("--export", default=None, help="write final weights here (sr4det format)")
    p.add_argument("--export-half", default="auto", choices=["auto", "yes", "no"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="intra-op threads per process")
    p.add_argument(
        "--device",
        default=None,
        help="cpu, cuda or cuda:N (default: CUDA when available, else cpu); under torchrun cuda puts each process "
        "on cuda:LOCAL_RANK",
    )
    p.add_argument(
        "--degradation",
        default=None,
        help="LR of the training pairs: a preset (clean, camera, web, video) or random (a new Real-ESRGAN-style random "
        "degradation per detection crop; needs --det-data); default: clean",
    )
    p.add_argument("--limit-images", type=int, default=None)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--ckpt-every", type=int, default=500)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)

    from sr4det.errors import SR4DetError
    from sr4det.training import TrainConfig, train

    command = "python pipelines/train_sr.py " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    cfg = TrainConfig(
        model=args.model,
        scale=args.scale,
        model_kwargs=_kwargs(args.kw),
        data=[_folder(d, "sr_train") for d in args.data],
        out=args.out,
        steps=args.steps,
        batch=args.batch,
        patch=args.patch,
        lr=args.lr,
        lr_min_ratio=args.lr_min_ratio,
        warmup=args.warmup,
        pixel_loss=args.loss,
        pixel_weight=args.pixel_weight,
        feature=args.feature,
        feature_weights=args.feature_weights,
        feature_layer=args.feature_layer,
        feature_weight=args.feature_weight,
        gan_weight=args.gan_weight,
        disc_channels=args.disc_channels,
        disc_lr=args.disc_lr,
        init=args.init,
        detector=args.detector,
        det_data=args.det_data,
        distill_feature_weight=args.distill_feature_weight,
        distill_output_weight=args.distill_output_weight,
        detection_weight=args.detection_weight,
        det_warmup=args.det_warmup,
        det_val=args.det_val,
        det_val_detector=args.det_val_detector,
        val=_folder(args.val, "sr_benchmark") if args.val else None,
        val_every=args.val_every,
        val_limit=args.val_limit,
        grad_clip=args.grad_clip,
        export=args.export,
        export_half=args.export_half,
        seed=args.seed,
        threads=args.threads,
        device=args.device,
        limit_images=args.limit_images,
        degradation=args.degradation,
        progress=not args.no_progress,
        resume=args.resume,
        log_every=args.log_every,
        ckpt_every=args.ckpt_every,
        meta={"command": command},
    )
    try:
        res = train(cfg)
    except SR4DetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun every rank returns rank 0's result: print it once
        return 0
    print(
        json.dumps(
            {
                "step": res.step,
                "loss": res.loss,
                "val_psnr": res.val_psnr,
                "val_ssim": res.val_ssim,
                "seconds": round(res.seconds, 1),
                "export": str(res.export) if res.export else None,
                "export_half": res.export_half,
                "det_val": res.det_val,
                "best_det_val": str(res.best_det_val) if res.best_det_val else None,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

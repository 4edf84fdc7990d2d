"""Train a torchvision detector on degraded + super-resolved COCO-format data (transforms v2 pipeline).

    python pipelines/train_torchvision_detector.py \\
        --train-json ../shared/data/coco128/annotations/instances_train2017.json \\
        --train-images ../shared/data/coco128/images/train2017 \\
        --model fasterrcnn_mobilenet_v3_large_fpn --degrade 4 --sr espcn --epochs 12 -o runs/frcnn_espcn

The training sample pipeline is ``ToImage -> Degrade -> SRTransform -> RandomHorizontalFlip ->
RandomPhotometricDistort -> ToDtype(float) -> SanitizeBoundingBoxes``: boxes travel as
``tv_tensors.BoundingBoxes`` through every step. Validation uses ``Degrade -> SRTransform`` only; the SR
frame equals the mod-cropped HR frame, so predictions are scored with pycocotools against the original
annotations. Labels are COCO category ids (torchvision's COCO models use 91 classes indexed by id).

``--sr none`` trains on the LR images themselves (boxes scaled by 1/scale); ``--degrade 0`` on the HR images.
The detector's internal resize is set with ``--min-size/--max-size`` (an SR gain vanishes if it shrinks
the image back). Outputs: ``OUT/model_final.pt`` (state dict), ``OUT/metrics.json`` (loss per epoch, val AP).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset


def build_transforms(degrade: int, sr: str | None, *, train: bool, tile, device, pretrained: bool):
    """The v2 pipeline for one split (see the module docstring)."""
    from torchvision.transforms import v2

    from sr4det.transforms import Degrade, SRTransform

    steps: list = [v2.ToImage()]
    if degrade:
        steps.append(Degrade(degrade))
    if sr is not None:
        steps.append(SRTransform(sr, scale=degrade or None, tile=tile, device=device, pretrained=pretrained))
    if train:
        steps += [v2.RandomHorizontalFlip(0.5), v2.RandomPhotometricDistort(p=0.5)]
    steps += [v2.ToDtype(torch.float32, scale=True), v2.SanitizeBoundingBoxes()]
    return v2.Compose(steps)


def coco_dataset(json_path: str, images: str, transforms, max_images: int | None):
    from torchvision.datasets import CocoDetection, wrap_dataset_for_transforms_v2

    ds = CocoDetection(images, json_path, transforms=transforms)
    ds = wrap_dataset_for_transforms_v2(ds, target_keys=("boxes", "labels", "image_id"))
    return Subset(ds, range(min(len(ds), max_images))) if max_images else ds


def build_model(name: str, weights: str | None, weights_backbone: str | None, min_size, max_size, num_classes):
    import torchvision

    kwargs = {"weights": weights, "weights_backbone": weights_backbone}
    if weights is None:
        kwargs["num_classes"] = num_classes
    model = torchvision.models.get_model(name, **kwargs)
    if min_size:
        model.transform.min_size = (min_size,)
        model.transform.fixed_size = None
    if max_size:
        model.transform.max_size = max_size
        model.transform.fixed_size = None
    return model


def _collate(batch):
    return tuple(zip(*batch, strict=True))


def evaluate(model, loader, json_path: str, device, progress: bool) -> dict[str, float]:
    """COCO box AP with pycocotools; predictions are in the (mod-cropped) HR frame of the annotations."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    from tqdm.auto import tqdm

    model.eval()
    results, ids = [], []
    with torch.inference_mode():
        for images, targets in tqdm(loader, desc="val", disable=not progress):
            outputs = model([im.to(device) for im in images])
            for out, tgt in zip(outputs, targets, strict=True):
                ids.append(int(tgt["image_id"]))
                for box, score, label in zip(out["boxes"].cpu(), out["scores"].cpu(), out["labels"].cpu(), strict=True):
                    x0, y0, x1, y1 = box.tolist()
                    results.append(
                        {
                            "image_id": int(tgt["image_id"]),
                            "category_id": int(label),
                            "bbox": [x0, y0, x1 - x0, y1 - y0],
                            "score": float(score),
                        }
                    )
    if not results:  # pycocotools cannot load an empty result list; nothing detected scores 0
        return {"AP": 0.0, "AP50": 0.0}
    gt = COCO(json_path)
    ev = COCOeval(gt, gt.loadRes(results), "bbox")
    ev.params.imgIds = sorted(ids)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return {"AP": float(ev.stats[0]), "AP50": float(ev.stats[1])}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train-json", required=True)
    p.add_argument("--train-images", required=True)
    p.add_argument("--val-json", default=None, help="default: no validation")
    p.add_argument("--val-images", default=None)
    p.add_argument("--model", default="fasterrcnn_mobilenet_v3_large_fpn", help="torchvision detection builder name")
    p.add_argument("--weights", default=None, help="detector weights enum name, e.g. DEFAULT (downloads); default random init")
    p.add_argument("--weights-backbone", default=None, help="backbone weights, e.g. DEFAULT (downloads); default none")
    p.add_argument("--num-classes", type=int, default=91, help="classes incl. background when training from scratch")
    p.add_argument("--degrade", type=int, default=4, help="downscaling factor; 0 = train on HR images")
    p.add_argument("--sr", default="espcn", help="SR model (zoo name / weight file) or 'none'")
    p.add_argument("--no-pretrained-sr", dest="pretrained_sr", action="store_false", help="random SR weights (smoke tests)")
    p.add_argument("--tile", default="none", help="SR tile: none, auto or an int")
    p.add_argument("--sr-device", default="cpu", help="device of the SR model inside DataLoader workers")
    p.add_argument("--min-size", type=int, default=None, help="detector's internal resize: shorter side")
    p.add_argument("--max-size", type=int, default=None, help="detector's internal resize: longer-side cap")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--max-images", type=int, default=None, help="use only the first N images (smoke runs)")
    p.add_argument("--device", default=None, help="detector device (default: cuda if available)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--quiet", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> int:
    from tqdm.auto import tqdm

    from sr4det.tiling import parse_tile

    args = parse_args(argv)
    torch.manual_seed(args.seed)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    sr = None if args.sr.lower() == "none" else args.sr
    tile = parse_tile(args.tile)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    train_tf = build_transforms(args.degrade, sr, train=True, tile=tile, device=args.sr_device, pretrained=args.pretrained_sr)
    train_ds = coco_dataset(args.train_json, args.train_images, train_tf, args.max_images)
    train_loader = DataLoader(train_ds, batch_size=args.batch_size, shuffle=True, num_workers=args.workers, collate_fn=_collate)
    val_loader = None
    if args.val_json:
        val_tf = build_transforms(args.degrade, sr, train=False, tile=tile, device=args.sr_device, pretrained=args.pretrained_sr)
        val_ds = coco_dataset(args.val_json, args.val_images or args.train_images, val_tf, args.max_images)
        val_loader = DataLoader(val_ds, batch_size=args.batch_size, num_workers=args.workers, collate_fn=_collate)
    model = build_model(args.model, args.weights, args.weights_backbone, args.min_size, args.max_size, args.num_classes).to(
        device
    )
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=args.lr, momentum=0.9, weight_decay=1e-4)
    steps = max(1, args.epochs * len(train_loader))
    warmup = min(500, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda i: (i + 1) / (warmup + 1) if i < warmup else 0.5 * (1 + math.cos(math.pi * (i - warmup) / max(1, steps - warmup))),
    )
    history = []
    for epoch in range(args.epochs):
        model.train()
        total, n, t0 = 0.0, 0, time.time()
        for images, targets in tqdm(train_loader, desc=f"epoch {epoch + 1}/{args.epochs}", disable=args.quiet):
            images = [im.to(device) for im in images]
            targets = [{"boxes": t["boxes"].to(device), "labels": t["labels"].to(device)} for t in targets]
            losses = model(images, targets)
            loss = sum(losses.values())
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at epoch {epoch + 1}; lower --lr")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total, n = total + float(loss.detach()), n + 1
        record = {"epoch": epoch + 1, "loss": total / max(n, 1), "seconds": time.time() - t0}
        if val_loader is not None:
            record.update(evaluate(model, val_loader, args.val_json, device, not args.quiet))
        history.append(record)
        print(json.dumps(record))
    # written beside the target, then renamed: a run killed while saving leaves no half-written file
    _save_atomically(out / "model_final.pt", lambda tmp: torch.save(model.state_dict(), tmp))
    config = {k: v for k, v in vars(args).items()}
    text = json.dumps({"config": config, "history": history}, indent=2)
    _save_atomically(out / "metrics.json", lambda tmp: tmp.write_text(text))
    return 0


def _save_atomically(path: Path, write) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())

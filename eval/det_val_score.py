#!/usr/bin/env python
"""Score SR models on the images ``pipelines/train_sr.py --det-val N`` holds out of coco_train160: AP vs bicubic
through the training detector, whole images, ``compare``'s protocol (``sr4det.training.detection_val``).

The held-out ids are the ones a run with ``--det-val N`` uses (split seed ``DET_VAL_SEED``, the same for every run),
so a trained candidate and an earlier model can be compared on them without touching the evaluation set (coco128).
A model that was trained on all of coco_train160 has seen these images: its score here is biased in its favour.

    python eval/det_val_score.py --scale 2 --n-val 32 imdn_det imdn
    python eval/det_val_score.py --scale 2 cand=runs/imdn_det_x2d/best_det_val.pt
"""

from __future__ import annotations

import argparse
import json
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", help="zoo names (pretrained) or NAME=WEIGHTS")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--n-val", type=int, default=32, help="the N of --det-val")
    ap.add_argument("--detector", default="${shared}/weights/yolo11n_int8_openvino_model")
    ap.add_argument("--data", default="${shared}/data/coco_train160/annotations/instances_train2017.json")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)

    import torch
    from _shared import shared_root

    import sr4det
    from sr4det.training.detection_val import DET_VAL_SEED, DetectionValidation, held_out_ids

    if args.threads:
        torch.set_num_threads(args.threads)
    root = str(shared_root())
    data, detector = (v.replace("${shared}", root) for v in (args.data, args.detector))
    held = held_out_ids(data, args.n_val)
    val = DetectionValidation(data, held, detector, args.scale)
    print(f"{len(held)} held-out images of {data} (split seed {DET_VAL_SEED}), x{args.scale}, detector {detector}")
    for spec in args.models:
        name, _, path = spec.partition("=")
        model = sr4det.resolve_model(path or name, args.scale)
        t0 = time.perf_counter()
        res = val(model.net, model.card)
        print(spec, json.dumps({k: round(v, 5) for k, v in res.items()}), f"{time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

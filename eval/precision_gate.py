#!/usr/bin/env python
"""The bf16 / int8 accuracy gate of issue 25 (item 2): does a lower-precision SR runtime change detection accuracy?

One ``sr4det.evaluation.compare`` run on coco_val600 (x4, the clean degradation, YOLO11n) with the conditions built
in code: ``hr``, ``lr``, ``bicubic``, ``rfdn_det`` (torch fp32, which equals OpenVINO fp32 within 1e-5), the same
network as ``rfdn_det_bf16`` (OpenVINO bf16, where the CPU has it) and, with ``--int8`` and NNCF installed, as
``rfdn_det_int8`` (OpenVINO int8 by NNCF post-training quantisation, calibrated on ``--calibration`` LR crops of
**coco_train160**, never on the evaluation set; the IR is made as ``eval/bench_sr_runtime.py`` makes it). The
pre-declared head-to-head pairs ``rfdn_det_bf16:rfdn_det`` (and ``rfdn_det_int8:rfdn_det``) give ΔAP vs fp32 with its
paired-bootstrap interval. Printed per precision: ΔAP vs fp32 [95% CI], PSNR (RGB, 8-bit, whole image, over all
images) and max abs difference of its SR outputs against the fp32 outputs (read back from the compare cache), the SR
seconds per image of each condition (with the load average when they were measured), and the verdict of the issue's
rule: a precision may be offered as a default only if its ΔAP interval vs fp32 lies within ±0.005.

    nice -n 5 python eval/precision_gate.py --cache /tmp/ev/cache --threads 1 --out /tmp/ev/precision_gate
    nice -n 5 python eval/precision_gate.py --limit 20 --no-int8 --out /tmp/pg  # quick look
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

_HERE = Path(__file__).resolve().parent
TOLERANCE = 0.005  # issue 25: a precision is a default candidate only if its ΔAP interval vs fp32 lies within ±this


def _bench():
    """eval/bench_sr_runtime.py as a module (its calibration-image maker and NNCF int8 path)."""
    spec = importlib.util.spec_from_file_location("bench_sr_runtime", _HERE / "bench_sr_runtime.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _int8_condition(shared: Path, scale: int, n_calib: int, threads: int, folder: Path):
    """An SR condition running rfdn_det as NNCF int8 on OpenVINO (quantised once, on coco_train160 LR crops)."""
    import nncf

    from sr4det.evaluation.conditions import SRCondition, SRSpec, model_digest

    bench = _bench()
    size = (120, 160)  # LR crop size of the calibration images (coco_val600 LR images are about this size)

    class Int8Condition(SRCondition):
        def load(self, scale, device=None):
            from sr4det.models import resolve_model
            from sr4det.models.runtime import OpenVINONet

            model = resolve_model(self.spec.source, scale, pretrained=True)
            ir = folder / f"{model.card.name}_int8.xml"
            if not ir.is_file():  # quantised once (the first load); later loads (check, run) compile the same IR
                calibration = bench._calibration(shared, scale, size, n_calib)  # coco_train160 only
                self.model = bench._int8(model, calibration, threads, folder)
            else:
                model.set_runtime("openvino", "fp32", threads=threads)
                model._compiled = OpenVINONet(ir, "fp32", threads)
                model.precision = "int8"
                self.model = model
            calib = f"nncf {nncf.__version__} PTQ default preset, {n_calib} coco_train160 LR crops {size[0]}x{size[1]}"
            # the calibration decides the outputs too: part of the digest (and so of the SR cache keys)
            self.digest = hashlib.sha256(f"{model_digest(self.model)}|{calib}".encode()).hexdigest()
            return {"model": self.spec.source, "model_digest": self.digest[:16], "runtime": f"openvino/int8 ({calib})"}

        def fingerprint(self, scale):
            return None  # known only once quantised: the forecast counts it after loading

    return Int8Condition("rfdn_det_int8", spec=SRSpec("rfdn_det_int8", "rfdn_det"))


def _psnr_vs(cache, gt, deg_key: str, scale: int, cond, ref) -> tuple[float | None, float | None, int]:
    """PSNR (RGB, 8-bit, pooled MSE over all pixels of all images) and max abs difference (grey levels) of ``cond``'s SR
    outputs against ``ref``'s, read from the compare cache; and how many images both had there."""
    from sr4det.evaluation.cache import hr_key, lr_key

    sq, n_px, worst, n = 0.0, 0, 0, 0
    for im in gt.images:
        hk = hr_key(im.path, scale)
        lk = lr_key(hk, deg_key)
        a = cache.get_image(cond.key(hk, lk, tile="auto"))
        b = cache.get_image(ref.key(hk, lk, tile="auto"))
        if a is None or b is None:
            continue
        d = a.astype(np.int32) - b.astype(np.int32)
        sq += float((d.astype(np.float64) ** 2).sum())
        n_px += d.size
        worst = max(worst, int(np.abs(d).max()))
        n += 1
    if not n:
        return None, None, 0
    mse = sq / n_px
    return (float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)), worst, n


def _timings(conds, gt, degradation, scale: int, n: int) -> dict[str, float]:
    """Median SR seconds per image of each condition in ``conds`` on the first ``n`` images, timed round-robin in
    this process (one call each per image, after one untimed warm-up call each), so machine load hits them alike."""
    import statistics
    import time

    from sr4det.evaluation.shard import load_hr

    for c in conds:
        c.load(scale)
    times: dict[str, list[float]] = {c.name: [] for c in conds}
    try:
        for i, im in enumerate(gt.images[: n + 1]):
            lr = degradation(load_hr(im))
            for c in conds:
                t0 = time.perf_counter()
                c.upscale(lr, "auto")
                if i:  # image 0 is the warm-up
                    times[c.name].append(time.perf_counter() - t0)
    finally:
        for c in conds:
            c.release()
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    shared = Path(os.environ.get("SR4DET_SHARED", _HERE.parent.parent / "shared"))
    ap.add_argument("--data", default=str(shared / "data" / "coco_val600" / "coco_val600.yaml"))
    ap.add_argument("--detector", default=str(shared / "weights" / "yolo11n_int8_openvino_model"))
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", default=None, help="compare cache folder (default: sr4det's)")
    ap.add_argument("--out", default="runs/precision_gate")
    ap.add_argument("--int8", action=argparse.BooleanOptionalAction, default=None, help="default: when nncf is installed")
    ap.add_argument("--calibration", type=int, default=32, help="coco_train160 LR crops for the int8 calibration")
    ap.add_argument("--time-images", type=int, default=10, help="images timed round-robin after the run (0: none)")
    args = ap.parse_args(argv)

    from sr4det.data.datasets import load_dataset
    from sr4det.degradation import with_preset
    from sr4det.detectors import UltralyticsDetector
    from sr4det.evaluation import compare
    from sr4det.evaluation.api import sr_conditions
    from sr4det.evaluation.cache import CompareCache
    from sr4det.evaluation.conditions import SRCondition, SRSpec
    from sr4det.evaluation.distributed import setup

    has_nncf = importlib.util.find_spec("nncf") is not None
    int8 = has_nncf if args.int8 is None else args.int8
    if int8 and not has_nncf:
        raise SystemExit("--int8 needs nncf: pip install 'sr4det[quantize]'")
    print(f"load average at start: {os.getloadavg()}", flush=True)
    ctx = setup(args.threads)
    try:
        gt = load_dataset(args.data)
        det = UltralyticsDetector(args.detector, imgsz=640, conf=0.001, iou=0.7, max_det=300, device=None)
        conditions = sr_conditions(["bicubic", "rfdn_det"], det)
        fp32 = conditions[-1]
        bf16 = SRCondition("rfdn_det_bf16", spec=SRSpec("rfdn_det_bf16", "rfdn_det"))
        bf16.runtime = ("openvino", "bf16")
        extra: list = [bf16]
        pairs = ["rfdn_det_bf16:rfdn_det"]
        scratch = tempfile.TemporaryDirectory(prefix="precision_gate_")
        if int8:
            extra.append(_int8_condition(shared, args.scale, args.calibration, args.threads, Path(scratch.name)))
            pairs.append("rfdn_det_int8:rfdn_det")
        degradation = with_preset("clean", args.scale, seed=args.seed)
        res = compare(
            gt,
            det,
            conditions=[*conditions, *extra],
            scale=args.scale,
            degradation=degradation,
            n_resamples=args.bootstrap,
            seed=args.seed,
            cache_dir=args.cache,
            limit=args.limit,
            out_dir=args.out,
            dist=ctx,
            pairs=pairs,
            extra_config={"script": "eval/precision_gate.py", "calibration": "coco_train160" if int8 else None},
        )
    finally:
        ctx.close()
    print(f"load average after compare: {os.getloadavg()}", flush=True)
    gt_eval = gt.head(args.limit).mod_crop(args.scale)
    timed: dict[str, float] = {}
    if args.time_images:
        import torch

        torch.set_num_threads(args.threads)
        ov_fp32 = SRCondition("rfdn_det_openvino_fp32", spec=SRSpec("rfdn_det_openvino_fp32", "rfdn_det"))
        ov_fp32.runtime = ("openvino", "fp32")  # timed only (equal to torch fp32 within 1e-5)
        timed = _timings([fp32, ov_fp32, *extra], gt_eval, degradation, args.scale, args.time_images)
        print(f"load average after the round-robin timing: {os.getloadavg()}", flush=True)
    cache = CompareCache.from_option(args.cache)
    conds = res["conditions"]
    print(
        f"\n{res['dataset']['n_images']} images of {args.data}, x{args.scale} clean, {args.bootstrap} resamples, seed {args.seed}"
    )
    print(f"{'condition':<16} {'AP':>6} {'AP50':>6} {'SR s/img':>9} {'SR load':>8} {'SR cached':>9} {'timed s/img':>11}")
    for name in ("hr", "lr", "bicubic", "rfdn_det", *(c.name for c in extra)):
        m = conds[name]
        load = "" if m.get("sr_load_average") is None else f"{m['sr_load_average']:.2f}"
        print(
            f"{name:<16} {m['AP']:6.4f} {m['AP50']:6.4f} {m['sr_seconds_per_image']:9.3f} {load:>8} {m.get('sr_cached', 0):>9}"
            f" {'' if name not in timed else format(timed[name], '11.3f')}"
        )
    if timed:
        print(f"{'rfdn_det_openvino_fp32':<24} {'(timed only)':>46} {timed['rfdn_det_openvino_fp32']:11.3f}")
        print(
            f"(timed s/img: median over images 1..{args.time_images} of round-robin calls in this process, {args.threads} thread(s))"
        )
    print(f"\nprecision vs fp32 (rule: offered as a default only if the ΔAP interval lies within ±{TOLERANCE})")
    for cond in extra:
        d = res["deltas"]["pairs"][f"{cond.name}:rfdn_det"]["AP"]
        psnr, worst, n = _psnr_vs(cache, gt_eval, degradation.key(), args.scale, cond, fp32)
        inside = d["ci_low"] is not None and d["ci_low"] >= -TOLERANCE and d["ci_high"] <= TOLERANCE
        speed = timed["rfdn_det_openvino_fp32"] / timed[cond.name] if timed else float("nan")
        print(
            f"{cond.name}: ΔAP {d['delta']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}] (p {d['p']:.3f}, Holm "
            f"{d['p_holm']:.3f}); PSNR vs fp32 {psnr:.2f} dB, max |diff| {worst} levels ({n} images); SR {speed:.2f}x "
            f"OpenVINO fp32's speed (timed); verdict: {'may be offered' if inside else 'NOT offered'} as a default"
        )
    scratch.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())

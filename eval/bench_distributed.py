"""Wall time of one ``compare`` with 1 and N processes (torchrun, gloo on CPU / NCCL on GPU), and the speed-up.

    python eval/bench_distributed.py [--procs 1 2] [--sr bicubic,espcn,fsrcnn] [--limit 128] [--paper-images 5000]

Each configuration runs the same compare (coco128, YOLO11n OpenVINO int8, x4, 1000 bootstrap resamples) with an
empty cache (a fresh temporary folder per run), so every process really computes its shard. Prints a table:
processes, wall seconds (process start to exit, torchrun included), speed-up over 1 process, and rank 0's
own times (shard work, waiting for/gathering the other ranks, COCO evaluation + bootstrap + report) with the
evaluation's share of the total. Then an on-paper estimate for N GPUs (or N processes) on a bigger set
(``--paper-images``, default all 5,000 COCO val images): the 1-process per-image shard cost measured here x
images / N, plus the gather measured at the largest N, plus the per-condition scoring (COCO eval + bootstrap,
scaled linearly with the number of images, split over min(N, conditions) ranks) and the rank-0 report time
measured here. It assumes per-image costs as on this CPU; a GPU shortens the shard term, not the others.
A worker mode (``--worker``, started by torchrun) does one run and prints
its timings as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def worker(args: argparse.Namespace) -> None:
    from sr4det.data.datasets import load_dataset
    from sr4det.detectors import UltralyticsDetector
    from sr4det.evaluation.cache import CompareCache
    from sr4det.evaluation.conditions import SRSpec, standard_conditions
    from sr4det.evaluation.config import CompareConfig
    from sr4det.evaluation.distributed import setup
    from sr4det.evaluation.runner import Comparison

    cfg = CompareConfig(
        data=args.data,
        detector=args.detector,
        out=args.out,
        sr=args.sr,
        limit=args.limit,
        cache=args.cache,
        progress=False,
        bootstrap=args.bootstrap,
    ).checked()
    ctx = setup(cfg.threads)
    try:
        det = UltralyticsDetector(cfg.detector, device=ctx.device(cfg.device))
        specs = [SRSpec.parse(s) for s in cfg.sr]
        comparison = Comparison(
            cfg.settings(),
            load_dataset(cfg.data),
            det,
            standard_conditions(specs),
            cache=CompareCache(cfg.cache),
            dist=ctx,
            class_map=cfg.class_map,
        )
        comparison.run(cfg.out)
        if ctx.is_main:
            print("TIMINGS " + json.dumps(comparison.timings), flush=True)
    finally:
        ctx.close()


def run_one(nproc: int, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="sr4det-bench-") as tmp:
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            "--data",
            args.data,
            "--detector",
            args.detector,
            "--sr",
            args.sr,
            "--limit",
            str(args.limit),
            "--bootstrap",
            str(args.bootstrap),
            "--cache",
            f"{tmp}/cache",
            "--out",
            f"{tmp}/out",
        ]
        if nproc > 1:
            torchrun = Path(sys.executable).parent / "torchrun"
            cmd = [str(torchrun), "--standalone", "--nproc_per_node", str(nproc), *cmd[1:]]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        t0 = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(f"{nproc} process(es) failed:\n{done.stderr[-3000:]}")
        line = next(ln for ln in done.stdout.splitlines() if ln.startswith("TIMINGS "))
        return {"procs": nproc, "wall_s": wall, **json.loads(line[len("TIMINGS ") :])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--sr", default="bicubic,espcn,fsrcnn", help="SR conditions (bicubic + 2 SR models by default)")
    p.add_argument("--limit", type=int, default=128)
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--data", default=None)
    p.add_argument("--detector", default=None)
    p.add_argument("--cache", default=None)
    p.add_argument("--out", default=None)
    p.add_argument("--paper-images", type=int, default=5000, help="images of the on-paper N-GPU estimate")
    p.add_argument("--paper-n", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.data is None or args.detector is None:
        from _shared import shared_path

        data = shared_path("data", "coco128", "annotations", "instances_train2017.json")
        det = shared_path("weights", "yolo11n_int8_openvino_model")
        if data is None or det is None:
            raise SystemExit("needs ../shared/data/coco128 and ../shared/weights/yolo11n_int8_openvino_model (set SR4DET_SHARED)")
        args.data, args.detector = args.data or str(data), args.detector or str(det)
    if args.worker:
        worker(args)
        return
    rows = [run_one(n, args) for n in args.procs]
    base = next((r["wall_s"] for r in rows if r["procs"] == 1), rows[0]["wall_s"])
    print(f"compare on {args.limit} coco128 images, SR: {args.sr}, {args.bootstrap} bootstrap resamples, cores: {os.cpu_count()}")
    print(
        f"{'procs':>5} {'wall s':>8} {'speed-up':>8} {'shard s':>8} {'gather s':>9} {'score s':>8} {'report s':>9} "
        f"{'eval share':>10}"
    )
    for r in rows:
        print(
            f"{r['procs']:>5} {r['wall_s']:>8.1f} {base / r['wall_s']:>7.2f}x {r['shard_s']:>8.1f} {r['gather_s']:>9.2f} "
            f"{r['score_s']:>8.1f} {r['report_s']:>9.1f} {100 * r['evaluate_s'] / r['wall_s']:>9.1f}%"
        )
    print_estimate(rows, args)


def print_estimate(rows: list[dict], args: argparse.Namespace) -> None:
    one = next((r for r in rows if r["procs"] == 1), None)
    if one is None:
        return
    widest = max(rows, key=lambda r: r["procs"])
    n_cond = len([s for s in args.sr.split(",") if s]) + 2  # + hr and lr
    grow = args.paper_images / args.limit
    per_image = one["shard_s"] / args.limit
    score_all = one["score_s"] * grow  # one process scores every condition
    startup = one["wall_s"] - one["shard_s"] - one["evaluate_s"] - one["gather_s"]
    print(
        f"\non paper: {args.paper_images} images, {n_cond} conditions, shard {per_image:.3f} s/image (1 process here), "
        f"scoring {score_all:.0f} s for all conditions, report {one['report_s']:.1f} s, start-up {startup:.1f} s, "
        f"gather {widest['gather_s']:.2f} s x {grow:.0f}"
    )
    print(f"{'N':>4} {'shard s':>9} {'score s':>8} {'total s':>9} {'speed-up':>8} {'eval share':>10}")
    t1 = None
    for n in args.paper_n:
        shard = per_image * args.paper_images / n
        gather = 0.0 if n == 1 else widest["gather_s"] * grow
        score = score_all / min(n, n_cond)
        total = startup + shard + gather + score + one["report_s"]
        t1 = t1 or total
        print(
            f"{n:>4} {shard:>9.0f} {score:>8.0f} {total:>9.0f} {t1 / total:>7.1f}x {100 * (score + one['report_s']) / total:>9.1f}%"
        )


if __name__ == "__main__":
    main()

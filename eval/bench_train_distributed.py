"""Training speed of one short SR run with 1 process against N data-parallel processes (torchrun), and the speed-up.

    python eval/bench_train_distributed.py [--model rfdn] [--scale 4] [--batch 8] [--steps 300] [--warmup 10]
                                           [--procs 1 2] [--cores 2]

Each configuration trains the same run (``pipelines/train_sr.py``: pixel L1 loss, global batch ``--batch``, LR
patch ``--patch``, ``--limit-images`` images of T91, seed 0) in a fresh run folder for ``--warmup`` + ``--steps``
steps: 1 process with ``--cores`` intra-op threads (plain ``python``), N processes with ``--cores / N`` threads each
(``torchrun --standalone --nproc_per_node N``, gloo on CPU), so no configuration oversubscribes the cores. Steps/s
is measured over the steps after the warm-up, from rank 0's cumulative ``seconds`` column of ``log.csv`` (one row
per step; the ranks meet at every step's gradient all-reduce, so rank 0's clock is the run's). Wall seconds (process
start to exit: imports, image degradation, warm-up) are printed beside it. The N-process run trains on the same data
as the 1-process one (each process on its slice of every global batch).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(procs: int, threads: int, args: argparse.Namespace, out: Path) -> tuple[float, float]:
    """(steps/s after the warm-up, wall seconds) of one run with ``procs`` processes x ``threads`` threads."""
    train = [
        str(REPO / "pipelines" / "train_sr.py"),
        *("--model", args.model, "--scale", str(args.scale), "--data", args.data, "--limit-images", str(args.limit_images)),
        *("--batch", str(args.batch), "--patch", str(args.patch), "--steps", str(args.warmup + args.steps)),
        *("--log-every", "1", "--ckpt-every", str(10**9), "--threads", str(threads), "--device", "cpu", "--no-progress"),
        *("--out", str(out)),
    ]
    if procs == 1:
        cmd = [sys.executable, *train]
    else:
        torchrun = Path(sys.executable).parent / "torchrun"
        cmd = [str(torchrun), "--standalone", "--nproc_per_node", str(procs), *train]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(REPO)}
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    with open(out / "log.csv", newline="") as f:
        seconds = {int(r["step"]): float(r["seconds"]) for r in csv.DictReader(f) if r["seconds"]}
    last = args.warmup + args.steps
    return args.steps / (seconds[last] - seconds[args.warmup]), wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="rfdn")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--batch", type=int, default=8, help="global batch (divisible by every --procs)")
    p.add_argument("--patch", type=int, default=24)
    p.add_argument("--steps", type=int, default=300, help="timed steps, after the warm-up (log seconds have 0.1 s resolution)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="cores shared out among the processes")
    p.add_argument("--data", default="T91", help="HR folder or shared sr_train name")
    p.add_argument("--limit-images", type=int, default=24)
    args = p.parse_args()

    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="bench_train_"))
    try:
        for procs in args.procs:
            threads = max(1, args.cores // procs)
            rate, wall = _run(procs, threads, args, tmp / f"p{procs}")
            rows.append((procs, threads, rate, wall))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = rows[0][2]
    print(
        f"{args.model} x{args.scale}, pixel L1, global batch {args.batch}, LR patch {args.patch}, "
        f"{args.steps} timed steps after {args.warmup}, {args.cores} cores, CPU\n"
    )
    print("| processes x threads | steps/s | speed-up | wall s |")
    print("|---|---|---|---|")
    for procs, threads, rate, wall in rows:
        print(f"| {procs} x {threads} | {rate:.2f} | {rate / base:.2f}x | {wall:.1f} |")


if __name__ == "__main__":
    main()

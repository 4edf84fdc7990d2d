#!/usr/bin/env python
"""End-to-end ``sr4det compare`` wall time and where it goes, this checkout against another (``--before``) in one run.

    python eval/bench_compare_e2e.py --limit 40 --threads 1 --before /tmp/sr4det_before

The compare: conditions hr, lr, bicubic, rfdn_det; YOLO11n (``../shared/weights/yolo11n_int8_openvino_model``,
imgsz 640, conf 0.001, iou 0.7, max_det 300); x4 clean degradation; the first ``--limit`` images of coco_val600;
1000 bootstrap resamples; a cold cache in a fresh temporary folder for every run. Each run is a child process
(``PYTHONPATH`` = the checkout under test) that wraps the library's step functions with timers, by name, so both
checkouts are timed alike: decode (``read_image``), degrade (``DegradationSpec.__call__``), SR (``run_sr``),
detection (``shard._detect``), PSNR/SSIM, cache writes (``CompareCache.put_image/put_json``), cache reads, COCO
eval + bootstrap (``scoring.score``), ``malloc_trim`` (``trim_heap``). Times are exclusive (a timed step inside
another is subtracted from it) and split by thread: the main thread's steps are on the critical path, other
threads' (this checkout's prefetch and writer) run beside it. ``other`` = wall - the main thread's steps (model
loading, Python overhead, waiting on the pipeline). Inference share = main-thread SR + detection / wall. Process CPU
s: user + system seconds of the child, all threads (the work done, whatever the load).

Runs alternate before, after, before, after ... (``--repeats`` pairs); the table gives each run and the ratio of
the medians. The results (every condition's COCO metrics, PSNR, SSIM, n_detections and all deltas) of the two
checkouts are compared and must be identical.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# runs in the child: wrap the step functions, run the CLI, dump the timings
_CHILD = r"""
import json, sys, threading, time, importlib
t_start = time.perf_counter()
out_json, argv = sys.argv[1], sys.argv[2:]
import sr4det.evaluation.shard, sr4det.evaluation.runner, sr4det.evaluation.cache, sr4det.evaluation.scoring
import sr4det.evaluation._cost, sr4det.metrics, sr4det.data.io, sr4det.evaluation.conditions
from sr4det.degradation import DegradationSpec
from sr4det.evaluation.cache import CompareCache
for extra in ("sr4det.evaluation._pipeline",):
    try:
        importlib.import_module(extra)
    except ImportError:
        pass
MAIN = threading.main_thread()
acc = {}        # (thread kind, step) -> [seconds, calls]
spans = []      # (start, end) of every SR and detection call, all threads
INFERENCE = ("sr", "detection")
local = threading.local()

def wrap(fn, step):
    def timed(*a, **k):
        stack = getattr(local, "stack", None)
        if stack is None:
            stack = local.stack = []
        stack.append(0.0)
        t0 = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            dt = time.perf_counter() - t0
            child = stack.pop()
            if stack:
                stack[-1] += dt
            if step in INFERENCE:
                spans.append((t0, t0 + dt))
            me = threading.current_thread()
            kind = "main" if me is MAIN else "sr_ahead" if me.name == "sr4det-sr-ahead" else "background"
            entry = acc.setdefault((kind, step), [0.0, 0])
            entry[0] += dt - child
            entry[1] += 1
    timed.__wrapped__ = fn
    return timed

def wrap_everywhere(fn, step):
    w = wrap(fn, step)
    for name, mod in list(sys.modules.items()):
        if name.startswith("sr4det") and mod is not None:
            for attr, val in list(vars(mod).items()):
                if val is fn:
                    setattr(mod, attr, w)

from sr4det.data.io import read_image
wrap_everywhere(read_image, "decode")
wrap_everywhere(sr4det.evaluation.conditions.run_sr, "sr")
wrap_everywhere(sr4det.evaluation.shard._detect, "detection")
wrap_everywhere(sr4det.metrics.psnr_y, "psnr_ssim")
wrap_everywhere(sr4det.metrics.ssim_y, "psnr_ssim")
wrap_everywhere(sr4det.evaluation.scoring.score, "coco_eval_bootstrap")
wrap_everywhere(sr4det.evaluation._cost.trim_heap, "malloc_trim")
DegradationSpec.__call__ = wrap(DegradationSpec.__call__, "degrade")
for meth in ("put_image", "put_json"):
    setattr(CompareCache, meth, wrap(getattr(CompareCache, meth), "cache_write"))
for meth in ("get_image", "get_json"):
    setattr(CompareCache, meth, wrap(getattr(CompareCache, meth), "cache_read"))
from sr4det.cli import main
t0 = time.perf_counter()
rc = main(argv)
wall = time.perf_counter() - t0
import resource
steps = {}
for (kind, step), (s, n) in acc.items():
    steps.setdefault(kind, {})[step] = {"seconds": s, "calls": n}
busy, end = 0.0, None  # seconds of the wall with at least one SR or detection call running (any thread)
for a, b in sorted(spans):
    if end is None or a > end:
        busy += b - a
        end = b
    elif b > end:
        busy += b - end
        end = b
json.dump({"rc": rc, "sr4det": sr4det.__file__, "wall_s": wall, "import_s": t0 - t_start, "steps": steps,
           "inference_busy_s": busy,
           "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}, open(out_json, "w"))
sys.exit(rc)
"""

STEPS = ("decode", "degrade", "sr", "detection", "psnr_ssim", "cache_read", "cache_write", "malloc_trim", "coco_eval_bootstrap")
_SAME = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR100", "psnr", "ssim", "n_detections", "unmapped_detections")


def _run(checkout: Path, args, label: str, work: Path, extra: tuple[str, ...] = (), threads: int | None = None) -> dict:
    from _shared import shared_root

    threads = args.threads if threads is None else threads
    shared = shared_root()
    run_dir = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=work))
    argv = [
        "compare",
        "--data", str(shared / "data" / "coco_val600" / "coco_val600.yaml"),
        "--detector", str(shared / "weights" / "yolo11n_int8_openvino_model"),
        "--imgsz", "640", "--conf", "0.001", "--iou", "0.7", "--max-det", "300",
        "--scale", "4", "--sr", "bicubic,rfdn_det", "--limit", str(args.limit),
        "--bootstrap", str(args.bootstrap), "--seed", "0",
        "--cache", str(run_dir / "cache"), "--out", str(run_dir / "out"),
        "--threads", str(threads), "--quiet", *extra,
    ]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": str(checkout),
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
    }
    timings = run_dir / "timings.json"
    load0 = os.getloadavg()[0]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(  # cwd: not a checkout (``-c`` puts the working folder first on sys.path)
        [sys.executable, "-c", _CHILD, str(timings), *argv], env=env, capture_output=True, text=True, cwd=run_dir
    )
    process_s = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    if proc.returncode != 0:
        raise SystemExit(f"{label} run failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    out = json.loads(timings.read_text())
    out.update(label=label, threads=threads, process_s=process_s, cpu_s=cpu_s, load_start=load0, load_end=os.getloadavg()[0])
    out["results"] = json.loads((run_dir / "out" / "results.json").read_text())
    return out


def _main_steps(run: dict) -> dict[str, float]:
    main = {k: v["seconds"] for k, v in run["steps"].get("main", {}).items()}
    main["other"] = run["wall_s"] - sum(main.values())
    return main


def _bg(run: dict, kind: str = "background") -> float:
    return sum(v["seconds"] for v in run["steps"].get(kind, {}).values())


def _same_results(a: dict, b: dict) -> list[str]:
    diffs = []
    for name, m in a["conditions"].items():
        for key in _SAME:
            if m.get(key) != b["conditions"].get(name, {}).get(key):
                diffs.append(f"{name}.{key}: {m.get(key)} vs {b['conditions'].get(name, {}).get(key)}")
    if a["deltas"] != b["deltas"]:
        diffs.append("deltas differ")
    return diffs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=40, help="first N coco_val600 images")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--before-threads",
        default=None,
        help="intra-op threads of the before runs, comma-separated (default: --threads); a count other than "
        "--threads is labelled before@Nt",
    )
    ap.add_argument("--bootstrap", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=1, help="before/after pairs, alternating")
    ap.add_argument("--before", type=Path, help="checkout of the code to compare against (e.g. a git archive of main)")
    ap.add_argument("--json", type=Path, help="also write every run's timings here")
    ap.add_argument(
        "--after-backend",
        choices=("openvino", "onnxruntime"),
        help="also run this checkout with this compiled SR runtime (label 'after+RUNTIME[-PRECISION]')",
    )
    ap.add_argument("--after-precision", default="fp32", choices=("fp32", "bf16"), help="precision of --after-backend")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(HERE))
    checkouts: list[tuple[str, Path, tuple[str, ...], int]] = [("after", ROOT, (), args.threads)]
    if args.before is not None:
        counts = [int(t) for t in (args.before_threads or str(args.threads)).split(",")]
        for t in reversed(counts):
            label = "before" if t == args.threads else f"before@{t}t"
            checkouts.insert(0, (label, args.before.resolve(), (), t))
    if args.after_backend:
        extra = ("--backend", args.after_backend, "--precision", args.after_precision)
        suffix = "" if args.after_precision == "fp32" else f"-{args.after_precision}"
        checkouts.append((f"after+{args.after_backend}{suffix}", ROOT, extra, args.threads))
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench_compare_e2e-") as work:
        for _ in range(args.repeats):
            for label, checkout, extra, threads in checkouts:
                run = _run(checkout, args, label, Path(work), extra, threads)
                runs.append(run)
                where = Path(run["sr4det"]).parents[1]
                print(f"{label} ({where}): wall {run['wall_s']:.1f} s (load {run['load_start']:.1f} -> {run['load_end']:.1f})")
    print(f"\n{args.limit} images x 4 conditions (hr, lr, bicubic, rfdn_det), cold cache")
    print(
        "main-thread steps (the critical path) in seconds; SR ahead s: the SR worker thread's steps "
        "(sr4det/evaluation/_sr_ahead.py); inference busy: share of the wall with an SR or detection call running "
        "on any thread"
    )
    cols = [*STEPS, "other"]
    print(
        "| run | threads | wall s | "
        + " | ".join(cols)
        + " | SR ahead s | background s | inference busy | process CPU s | load |"
    )
    print("|---" * (len(cols) + 9) + "|")
    for run in runs:
        m = _main_steps(run)
        busy = run.get("inference_busy_s", m.get("sr", 0.0) + m.get("detection", 0.0)) / run["wall_s"]
        cells = " | ".join(f"{m.get(c, 0.0):.1f}" for c in cols)
        load = f"{run['load_start']:.1f}-{run['load_end']:.1f}"
        print(
            f"| {run['label']} | {run['threads']} | {run['wall_s']:.1f} | {cells} | {_bg(run, 'sr_ahead'):.1f} | "
            f"{_bg(run):.1f} | {busy:.0%} | {run['cpu_s']:.1f} | {load} |"
        )
    for run in runs:
        bg = run["steps"].get("background")
        if bg:
            print(f"{run['label']} background threads: " + ", ".join(f"{k} {v['seconds']:.1f} s" for k, v in sorted(bg.items())))
    for run in runs:  # the steps' own cost as results.json records it (background work beside a step can add to it)
        conds = run["results"]["conditions"].items()
        print(
            f"{run['label']} SR / det s/img: "
            + ", ".join(f"{n} {c['sr_seconds_per_image']:.3f}/{c['detector_seconds_per_image']:.3f}" for n, c in conds)
        )
        print(f"{run['label']} SR / det peak MiB: " + ", ".join(
            f"{n} {c['sr_peak_memory_mb'] or 0:.0f}/{c['detector_peak_memory_mb'] or 0:.0f}" for n, c in conds))  # fmt: skip
    walls = {lab: statistics.median(r["wall_s"] for r in runs if r["label"] == lab) for lab, *_ in checkouts}
    if args.before is not None:
        print()
        befores = [lab for lab in walls if lab.startswith("before")]
        for b in befores:
            for lab in walls:
                if not lab.startswith("before"):
                    print(f"median wall: {b} {walls[b]:.1f} s, {lab} {walls[lab]:.1f} s: {lab}/{b} = "
                          f"{walls[lab] / walls[b]:.2f} ({walls[b] / walls[lab]:.2f}x faster)")  # fmt: skip
        by_label = {r["label"]: r for r in runs}
        for b in befores:
            diffs = _same_results(by_label[b]["results"], by_label["after"]["results"])
            print(f"{b} vs after, results identical (COCO metrics, PSNR, SSIM, detections, deltas):",
                  "yes" if not diffs else f"NO: {diffs[:5]}")  # fmt: skip
    if args.after_backend:  # compiled fp32 equals torch within 1e-5 before rounding to 8 bits: a few pixels may differ
        by_label = {r["label"]: r for r in runs}
        lab = checkouts[-1][0]
        ref, comp = by_label["after"]["results"]["conditions"], by_label[lab]["results"]["conditions"]
        print(f"{lab} - after: " + ", ".join(
            f"{n} AP {comp[n]['AP'] - ref[n]['AP']:+.4f} PSNR {(comp[n].get('psnr') or 0) - (ref[n].get('psnr') or 0):+.3f} dB"
            for n in ref if n in comp))  # fmt: skip
    if args.json is not None:
        args.json.write_text(json.dumps([{k: v for k, v in r.items() if k != "results"} for r in runs], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

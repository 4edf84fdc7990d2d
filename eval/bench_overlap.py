#!/usr/bin/env python
"""``sr4det detect`` and ``sr4det materialize`` wall time, serial loop against the pipelined one (decode ahead, write
behind: ``sr4det/_overlap.py``), in one run, with the outputs of the two compared byte for byte.

    python eval/bench_overlap.py --limit 40 --threads 1 --repeats 1

detect: YOLO11n (``../shared/weights/yolo11n_int8_openvino_model``, imgsz 640, conf 0.25) on the first ``--limit``
images of coco_val600, annotated PNGs + labels + detections.json written. materialize: the same images as a YOLO
dataset (a list file beside this run, labels from coco_val600), ``--degrade 4 --sr rfdn_det`` (x4) with PNG outputs.
Each run is a child process (``PYTHONPATH`` = this checkout) with torch (and so OpenVINO) on ``--threads`` threads;
"serial" sets ``sr4det._overlap.PREFETCH = WRITE_QUEUE = 0`` (every step inline in the main thread, the loop as it
was), "pipelined" keeps the defaults. Wall = the command's ``main()`` (imports excluded, model loading included);
loop = the image loop alone (``detect._detect_all``, ``materialize._process_images``: what the pipeline changes);
moved = the seconds of the steps the pipeline moves off the main thread (decode; detect's labels, drawing and PNG
writes, materialize's PNG writes), summed over threads;
CPU = the child's user + system seconds (all threads). Runs alternate serial, pipelined, ... (``--repeats`` pairs per command).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

_CHILD = r"""
import json, sys, time
out_json, mode, threads, argv = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
import torch
torch.set_num_threads(threads)
import sr4det, sr4det._overlap as overlap
if mode == "serial":
    overlap.PREFETCH = overlap.WRITE_QUEUE = 0
import sr4det.commands.detect as detect, sr4det.data.materialize as materialize, sr4det.data.io as io
loop, moved = [], []
def timed(fn, into):
    def run(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            into.append(time.perf_counter() - t)
    return run
detect._detect_all = timed(detect._detect_all, loop)
materialize._process_images = timed(materialize._process_images, loop)
# the steps the pipeline takes off the main thread: decode, and the writes (detect: labels, drawing, PNG)
io.read_image = timed(io.read_image, moved)
detect._write_outputs = timed(detect._write_outputs, moved)
materialize.read_image = timed(materialize.read_image, moved)
materialize.write_image = timed(materialize.write_image, moved)
from sr4det.cli import main
t0 = time.perf_counter()
rc = main(argv)
wall = time.perf_counter() - t0
json.dump({"rc": rc, "wall_s": wall, "loop_s": sum(loop), "moved_s": sum(moved), "sr4det": sr4det.__file__}, open(out_json, "w"))
sys.exit(rc)
"""


def _outputs(folder: Path) -> dict[str, bytes]:
    """Every output file by relative path (the folder's own path made relative), bookkeeping left out."""
    return {
        str(p.relative_to(folder)): p.read_bytes().replace(str(folder.resolve()).encode(), b"<OUT>")
        for p in sorted(folder.rglob("*"))
        if p.is_file() and ".sr4det_run" not in p.name
    }


def _run(command: str, mode: str, argv: list[str], out: Path, threads: int, work: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **{k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}}
    timings = work / f"{out.name}.json"
    load0 = os.getloadavg()[0]
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(timings), mode, str(threads), *argv], env=env, capture_output=True, text=True, cwd=work
    )
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{command} {mode} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    got = json.loads(timings.read_text())
    assert got["sr4det"].startswith(str(ROOT)), got["sr4det"]
    got.update(
        command=command,
        mode=mode,
        cpu_s=cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime,
        load=(load0 + os.getloadavg()[0]) / 2,
    )
    return got


def main(argv: list[str] | None = None) -> int:
    work = Path(tempfile.mkdtemp(prefix="bench_overlap-"))
    try:
        return _bench(work, argv)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _bench(work: Path, argv: list[str] | None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=40, help="first N coco_val600 images (sorted by name)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=1, help="serial/pipelined pairs per command")
    ap.add_argument("--commands", default="detect,materialize")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(HERE))
    from _shared import shared_root

    shared = shared_root()
    coco = shared / "data" / "coco_val600"
    images = sorted((coco / "images" / "val2017").glob("*.jpg"))[: args.limit]
    detector = shared / "weights" / "yolo11n_int8_openvino_model"
    (work / "list.txt").write_text("".join(f"{p}\n" for p in images))
    names = (coco / "coco_val600.yaml").read_text().split("names:", 1)[1]
    (work / "data.yaml").write_text(f"path: {coco}\nval: {work / 'list.txt'}\nnames:{names}")

    def argv_for(command: str, out: Path) -> list[str]:
        if command == "detect":
            return ["detect", *map(str, images), "--detector", str(detector), "--imgsz", "640", "-o", str(out), "--quiet"]
        return [
            "materialize", "--data", str(work / "data.yaml"), "-o", str(out), "--scale", "4", "--sr", "rfdn_det",
            "--format", ".png", "--threads", str(args.threads), "--quiet",
        ]  # fmt: skip

    runs = []
    for command in args.commands.split(","):
        for r in range(args.repeats):
            for mode in ("serial", "pipelined"):
                out = work / f"{command}-{mode}-{r}"
                runs.append({**_run(command, mode, argv_for(command, out), out, args.threads, work), "out": out})
                print(f"{command:12s} {mode:9s} wall {runs[-1]['wall_s']:6.1f} s  loop {runs[-1]['loop_s']:6.1f} s  "
                      f"moved {runs[-1]['moved_s']:5.1f} s  cpu {runs[-1]['cpu_s']:6.1f} s  load {runs[-1]['load']:.2f}", flush=True)  # fmt: skip
        a, b = (next(x for x in runs if x["command"] == command and x["mode"] == m) for m in ("serial", "pipelined"))
        same = _outputs(a["out"]) == _outputs(b["out"])
        print(f"{command}: outputs of serial and pipelined identical: {same} ({len(_outputs(a['out']))} files)")
        if not same:
            return 1
    print(f"\n{len(images)} images, {args.threads} thread(s), load average {os.getloadavg()[0]:.2f} at the end")
    print(
        "| command | serial loop s | of it decode + writes s | pipelined loop s | loop speed-up | serial wall s "
        "| pipelined wall s | serial CPU s | pipelined CPU s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for command in args.commands.split(","):
        med = {
            m: [
                statistics.median(x[k] for x in runs if x["command"] == command and x["mode"] == m)
                for k in ("loop_s", "wall_s", "cpu_s", "moved_s")
            ]
            for m in ("serial", "pipelined")
        }
        (sl, sw, sc, sm), (pl, pw, pc, _) = med["serial"], med["pipelined"]
        print(f"| {command} | {sl:.1f} | {sm:.1f} | {pl:.1f} | {sl / pl:.2f}x | {sw:.1f} | {pw:.1f} | {sc:.1f} | {pc:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Sharded compare under torchrun (gloo on CPU): identical results to one process, a failing rank fails the run
with its message (no hang), a killed sharded run resumes from the cache."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sr4det.data.datasets import load_coco
from sr4det.evaluation import compare
from sr4det.evaluation.distributed import DistContext, default_threads, shard_bounds

from .test_runner import Oracle, make_dataset

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TORCHRUN = BIN / "torchrun"

pytestmark = [
    pytest.mark.torchrun,
    pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed beside this python"),
]


#: the per-condition numbers two equivalent runs must share (cost numbers aside)
METRICS = (
    "AP",
    "AP50",
    "AP75",
    "APs",
    "APm",
    "APl",
    "AR1",
    "AR10",
    "AR100",
    "psnr",
    "ssim",
    "n_images",
    "n_detections",
    "unmapped_detections",
)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]), "OMP_NUM_THREADS": "1"}


def _torchrun(nproc: int, *cmd: str, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(TORCHRUN), "--standalone", "--nproc_per_node", str(nproc), *cmd],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


def _same(a: dict, b: dict) -> None:
    """Metrics, deltas (with CIs), per-class AP and dataset of two results are identical (cost numbers aside)."""
    assert list(a["conditions"]) == list(b["conditions"])
    for name in a["conditions"]:
        for key in METRICS:
            assert a["conditions"][name][key] == b["conditions"][name][key], (name, key)
    assert a["deltas"] == b["deltas"]
    assert a["per_class"] == b["per_class"]
    assert a["dataset"] == b["dataset"]
    assert a["skipped_images"] == b["skipped_images"]


def test_shards_are_contiguous_balanced_and_cover_everything():
    for n in (0, 1, 5, 8, 13):
        for world in (1, 2, 3, 4):
            bounds = [shard_bounds(n, r, world) for r in range(world)]
            assert bounds[0][0] == 0
            assert bounds[-1][1] == n
            assert all(bounds[r][1] == bounds[r + 1][0] for r in range(world - 1))
            sizes = [b - a for a, b in bounds]
            assert max(sizes) - min(sizes) <= 1
            assert sizes == sorted(sizes, reverse=True)
    ctx = DistContext(rank=1, world_size=2)
    assert ctx.shard(list(range(5))) == [3, 4]
    assert DistContext().shard([1, 2]) == [1, 2]
    assert default_threads(1) >= 1
    assert default_threads(10_000) == 1


_SCRIPT = """
import os, sys, json
from evaluation.test_runner import Oracle
from sr4det.data.datasets import load_coco
from sr4det.errors import DetectorError
from sr4det.evaluation import compare

class FailsOnRank1(Oracle):
    def __call__(self, images):
        if os.environ["RANK"] == "1":
            raise DetectorError("rank one cannot see (injected failure)")
        return super().__call__(images)

kind, path, cache, out = sys.argv[1:5]
det = {{"oracle": Oracle, "fails": FailsOnRank1}}[kind](path, sleep=float(os.environ.get("SLEEP", "0")))
res = compare(load_coco(path), det, sr=["bicubic", "bilinear"], scale=4, n_resamples=200, out_dir=out,
              cache_dir=None if cache == "-" else cache, progress=False)
# one write() call below PIPE_BUF is atomic on a pipe, so the two ranks' lines never interleave
os.write(1, f"RANK {{os.environ['RANK']}} N_IMAGES {{res['n_images']}} WORLD {{res['config']['world_size']}}\\n".encode())
"""


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "run_compare.py"
    path.write_text(_SCRIPT.format())
    return path


def test_two_processes_give_the_results_of_one_with_a_fake_detector(tmp_path, script):
    path = make_dataset(tmp_path / "ds")
    done = _torchrun(2, str(script), "oracle", str(path), str(tmp_path / "cache2"), str(tmp_path / "out2"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "RANK 0 N_IMAGES 5 WORLD 2" in done.stdout  # all ranks get the results
    assert "RANK 1 N_IMAGES 5 WORLD 2" in done.stdout
    sharded = json.loads((tmp_path / "out2" / "results.json").read_text())
    single = compare(
        load_coco(path),
        Oracle(path),
        sr=["bicubic", "bilinear"],
        scale=4,
        n_resamples=200,
        cache_dir=tmp_path / "cache1",
        progress=False,
    )
    _same(sharded, single)
    assert sharded["conditions"]["bilinear"]["sr_cached"] == 0
    assert single["config"]["world_size"] == 1
    # both ranks wrote their shard into one cache: a single process then finds everything there
    again = Oracle(path)
    compare(
        load_coco(path), again, sr=["bicubic", "bilinear"], scale=4, n_resamples=0, cache_dir=tmp_path / "cache2", progress=False
    )
    assert again.calls == 0


def test_an_error_on_rank_1_fails_the_run_with_its_message(tmp_path, script):
    path = make_dataset(tmp_path / "ds")
    t0 = time.monotonic()
    done = _torchrun(2, str(script), "fails", str(path), "-", str(tmp_path / "out"), timeout=240)
    assert done.returncode != 0
    assert "rank one cannot see (injected failure)" in done.stderr
    assert "rank 1 failed during SR and detection" in done.stderr  # rank 0 names the rank that failed
    assert time.monotonic() - t0 < 200  # no hang until a collective's timeout
    assert not (tmp_path / "out" / "results.json").exists()


def test_a_killed_sharded_run_resumes_from_the_cache(tmp_path, script):
    import psutil

    path = make_dataset(tmp_path / "ds")
    cache = tmp_path / "cache"
    proc = subprocess.Popen(
        [
            str(TORCHRUN),
            "--standalone",
            "--nproc_per_node",
            "2",
            str(script),
            "oracle",
            str(path),
            str(cache),
            str(tmp_path / "out"),
        ],
        env={**_env(), "SLEEP": "0.4"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 180
        while time.time() < deadline and len(list(cache.glob("det/*/*.json"))) < 8:
            time.sleep(0.05)
            assert proc.poll() is None, "the run ended before it could be killed"
        workers = psutil.Process(proc.pid).children(recursive=True)
        for p in [*workers, psutil.Process(proc.pid)]:  # as a machine that dies: no rank gets to clean up
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        proc.wait()
        psutil.wait_procs(workers, timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    done = list(cache.glob("det/*/*.json"))
    assert 8 <= len(done) < 20  # killed mid-run (5 images x 4 conditions)
    for f in done:
        json.loads(f.read_text())
    resumed = _torchrun(2, str(script), "oracle", str(path), str(cache), str(tmp_path / "out"))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert sum(m["detections_cached"] for m in res["conditions"].values()) >= len(done)
    clean = compare(
        load_coco(path), Oracle(path), sr=["bicubic", "bilinear"], scale=4, n_resamples=200, cache_dir=False, progress=False
    )
    _same(res, clean)


N_COCO = 6


def test_two_processes_give_the_results_of_one_on_coco128_through_the_cli(shared, tmp_path):
    pytest.importorskip("openvino")
    data = shared("data", "coco128", "annotations", "instances_train2017.json")
    weights = shared("weights", "yolo11n_int8_openvino_model")
    args = [
        "compare",
        "--data",
        str(data),
        "--detector",
        str(weights),
        "--scale",
        "4",
        "--sr",
        "bicubic,bilinear",
        "--limit",
        str(N_COCO),
        "--bootstrap",
        "200",
        "--quiet",
    ]
    done = _torchrun(
        2, "--no-python", str(BIN / "sr4det"), *args, "--cache", str(tmp_path / "c2"), "--out", str(tmp_path / "two"), timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("wrote ") == 1  # rank 0 alone prints
    from sr4det.cli import main

    assert main([*args, "--cache", str(tmp_path / "c1"), "--out", str(tmp_path / "one")]) == 0
    two = json.loads((tmp_path / "two" / "results.json").read_text())
    one = json.loads((tmp_path / "one" / "results.json").read_text())
    _same(two, one)
    assert two["n_images"] == N_COCO
    assert two["config"]["world_size"] == 2
    assert one["config"]["world_size"] == 1
    assert two["deltas"]["vs_bicubic"]["bilinear"]["AP"]["ci_low"] is not None

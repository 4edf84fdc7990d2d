"""A full disk is a typed error (DiskFullError naming the path), nothing half-written is left, and the rerun after
freeing space resumes: every command's writes go through sr4det/_files.py; RLIMIT_FSIZE plays the full disk."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sr4det._files import atomic_write, disk_full
from sr4det.data.io import write_image
from sr4det.errors import DiskFullError

ROOT = Path(__file__).resolve().parents[1]

# a command in a child process whose files may not exceed LIMIT bytes (ulimit -f); detect's detector is a fake
_CHILD = """
import resource, sys
limit = int(sys.argv[1])
if limit:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from sr4det.commands import detect
from sr4det.detectors.base import Detections
class Fake:
    names = {0: "thing"}
    config = {"type": "fake"}
    def __call__(self, images):
        return [Detections([[1.0, 1.0, 5.0, 5.0]], [0.9], [0], self.names, im.shape[:2]) for im in images]
detect.build = lambda args: (Fake(), None, None)
if sys.argv[2] == "save":
    import torch
    from sr4det.models.weights import atomic_torch_save
    from sr4det.errors import DiskFullError
    try:
        atomic_torch_save({"x": torch.zeros(200_000)}, sys.argv[3])
    except DiskFullError as exc:
        print(exc, file=sys.stderr)
        sys.exit(2)
    sys.exit(0)
from sr4det.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _run(limit: int, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", _CHILD, str(limit), *argv], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):  # random pixels: each PNG ~12 KB, its x2 upscale ~48 KB
        write_image(tmp_path / "in" / f"{name}.png", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    return tmp_path


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".sr4det_run"))


@pytest.mark.parametrize("command", ["upscale", "detect", "torch.save (training checkpoints, YOLO .pt)"])
def test_a_full_disk_is_a_typed_error_naming_the_path_and_the_rerun_resumes(images, command):
    out = images / "out"
    if command == "upscale":
        argv = ["upscale", str(images / "in"), "-o", str(out), "-m", "bicubic", "-s", "2", "--quiet"]
    elif command == "detect":
        argv = ["detect", str(images / "in"), "--detector", "fake.pt", "-o", str(out), "--quiet"]
    else:
        argv = ["save", str(out / "last.pt")]
        out.mkdir()
    full = _run(8_000 if command == "detect" else 30_000, *argv)  # each output image or checkpoint is larger
    assert full.returncode == 2, full.stderr
    assert "Traceback" not in full.stderr
    assert "no room to write" in full.stderr
    assert str(out) in full.stderr  # names the path
    assert "run the same command again" in full.stderr
    assert _files(out) in ([], ["a.txt"])  # nothing half-written (labels/a.txt, 40 bytes, was complete)
    done = _run(0, *argv)  # space freed: the same command resumes and completes
    assert done.returncode == 0, done.stderr
    expected = {"upscale": ["a.png", "b.png"], "detect": ["a.png", "a.txt", "b.png", "b.txt", "detections.json"]}
    assert _files(out) == expected.get(command, ["last.pt"])


def test_disk_full_maps_only_the_no_space_errors(tmp_path):
    for code in (errno.ENOSPC, errno.EFBIG):
        err = disk_full(OSError(code, os.strerror(code)), tmp_path / "x")
        assert isinstance(err, DiskFullError) and isinstance(err, OSError)
        assert err.errno == code
        assert str(tmp_path / "x") in str(err)
    other = PermissionError(errno.EACCES, "denied")
    assert disk_full(other, tmp_path) is other
    atomic_write(tmp_path / "ok.txt", "fine")  # the ordinary path is unchanged
    assert (tmp_path / "ok.txt").read_text() == "fine"

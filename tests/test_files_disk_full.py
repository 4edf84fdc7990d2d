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


# compare, materialize and training through their Python entry points, in a child process under RLIMIT_FSIZE
_API_CHILD = """
import json, resource, sys
from pathlib import Path
import numpy as np
limit, what, root = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
if limit:
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
from sr4det.errors import DiskFullError
try:
    if what == "compare":
        from sr4det.data.datasets import load_coco
        from sr4det.detectors.base import Detections
        from sr4det.evaluation import compare
        class Fake:
            names = {0: "apple"}
            config = {"type": "fake"}
            def __call__(self, images):
                return [Detections([[2.0, 2.0, 20.0, 20.0]], [0.9], [0], self.names, im.shape[:2]) for im in images]
        compare(load_coco(root / "coco.json"), Fake(), sr=["bicubic"], scale=2, n_resamples=0, progress=False,
                out_dir=root / "out", cache_dir=root / "cache")
    elif what == "materialize":
        from sr4det.data.materialize import materialize
        materialize(root / "data.yaml", root / "out", degrade=2, sr="bicubic", progress=False)
    else:
        from sr4det.training import TrainConfig, train
        train(TrainConfig(model="espcn", scale=2, data=[str(root / "images")], out=str(root / "out"), steps=2, batch=2,
                          patch=16, ckpt_every=1, log_every=1, progress=False, resume=(root / "out" / "last.pt").is_file()))
except DiskFullError as exc:
    print(exc, file=sys.stderr)
    sys.exit(2)
"""


def _api_run(limit: int, what: str, root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", _API_CHILD, str(limit), what, str(root)], capture_output=True, text=True, env=env, timeout=300
    )


def _tiny_datasets(root: Path) -> None:
    import json

    rng = np.random.default_rng(0)
    images = []
    for i in range(3):  # random pixels: each PNG ~48 KB
        write_image(root / "images" / f"{i}.png", rng.integers(0, 256, (128, 128, 3), dtype=np.uint8))
        (root / "labels").mkdir(exist_ok=True)
        (root / "labels" / f"{i}.txt").write_text("0 0.5 0.5 0.4 0.4\n")
        images.append({"id": i + 1, "file_name": f"{i}.png", "height": 128, "width": 128})
    anns = [
        {"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [2, 2, 36, 36], "area": 1296, "iscrowd": 0} for i in range(3)
    ]
    (root / "coco.json").write_text(
        json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "apple"}]})
    )
    (root / "data.yaml").write_text(f"path: {root}\ntrain: images\nnames: ['apple']\n")


@pytest.mark.parametrize("what", ["compare", "materialize", "training"])
def test_compare_materialize_and_training_on_a_full_disk_fail_typed_and_the_rerun_completes(tmp_path, what):
    _tiny_datasets(tmp_path)
    out = tmp_path / "out"
    full = _api_run(20_000, what, tmp_path)  # larger than a label or the manifest, smaller than an image or checkpoint
    assert full.returncode == 2, full.stderr
    assert "Traceback" not in full.stderr
    assert "no room to write" in full.stderr and "run the same command again" in full.stderr
    assert not [p for p in out.rglob("*") if ".sr4det-tmp" in p.name]  # nothing half-written left behind
    done = _api_run(0, what, tmp_path)  # space freed: the same call completes (resumes)
    assert done.returncode == 0, done.stderr
    expected = {"compare": "results.json", "materialize": "data.yaml", "training": "last.pt"}[what]
    assert (out / expected).is_file()

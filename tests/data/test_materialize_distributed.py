"""Sharded materialize under torchrun (gloo on CPU): the same files as one process, a failing rank fails the run
with its message (no hang), and a partial run resumes without recomputing what it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from sr4det.cli import main
from sr4det.data.io import write_image

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TORCHRUN = BIN / "torchrun"
SR4DET = BIN / "sr4det"

pytestmark = [
    pytest.mark.torchrun,
    pytest.mark.skipif(not (TORCHRUN.exists() and SR4DET.exists()), reason="torchrun or the sr4det script is missing"),
]

# degradation with seeded noise and JPEG: every rank must make exactly the LR image one process makes
ARGS = [
    "--degrade",
    "4",
    "--noise-std",
    "3",
    "--jpeg-quality",
    "70",
    "--seed",
    "5",
    "--sr",
    "bicubic",
    "--tile",
    "none",
    "--quiet",
]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def _torchrun(nproc: int, *cmd: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(TORCHRUN), "--standalone", "--nproc_per_node", str(nproc), "--no-python", str(SR4DET), *cmd],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _image(seed: int, h: int, w: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by relative path; the folder's own path (data.yaml, list files) made relative."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file():
            out[str(p.relative_to(root))] = p.read_bytes().replace(str(root.resolve()).encode(), b"<OUT>")
    return out


@pytest.fixture
def yolo_data(tmp_path):
    """5 train images (a folder) and 2 val images (a .txt list, one shared with train), of different sizes."""
    root = tmp_path / "src"
    names = []
    for i in range(5):
        name = f"images/train/im{i}.png"
        write_image(root / name, _image(i, 30 + 2 * i, 41 - i))
        (root / "labels" / "train").mkdir(parents=True, exist_ok=True)
        (root / "labels" / "train" / f"im{i}.txt").write_text(f"{i % 2} 0.5 0.5 0.4 0.3\n1 0.9 0.9 0.2 0.2\n")
        names.append(name)
    write_image(root / "images" / "val" / "v.png", _image(9, 33, 37))
    (root / "val.txt").write_text(f"./{names[1]}\n./images/val/v.png\n")
    data = root / "data.yaml"
    data.write_text(yaml.safe_dump({"train": "images/train", "val": "val.txt", "names": ["a", "b"]}))
    return data


def test_two_processes_write_the_files_of_one(yolo_data, tmp_path):
    two, one = tmp_path / "two", tmp_path / "one"
    done = _torchrun(2, "materialize", "--data", str(yolo_data), "-o", str(two), *ARGS)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == str(two / "data.yaml")  # rank 0 alone prints
    assert main(["materialize", "--data", str(yolo_data), "-o", str(one), *ARGS]) == 0
    files_two, files_one = _files(two), _files(one)
    assert len([f for f in files_one if f.endswith(".png")]) == 6
    assert len([f for f in files_one if f.endswith(".txt")]) == 6  # 5 labels, val.txt
    assert files_two.keys() == files_one.keys()
    for name in files_one:
        assert files_two[name] == files_one[name], name  # images byte-identical; labels, lists, data.yaml, manifest the same
    assert json.loads((two / "materialize.json").read_text())["config"]["sr"]["model"] == "bicubic"


@pytest.fixture
def coco_data(tmp_path):
    """6 images; the last (rank 1's shard under 2 processes) is not an image."""
    images = tmp_path / "imgs"
    coco = {"images": [], "annotations": [], "categories": [{"id": 1, "name": "a"}]}
    for i in range(6):
        h, w = 28 + i, 40 - i
        if i < 5:
            write_image(images / f"{i}.jpg", _image(i, h, w))
        else:
            images.mkdir(exist_ok=True)
            (images / f"{i}.jpg").write_bytes(b"not an image")
        coco["images"].append({"id": i + 1, "file_name": f"{i}.jpg", "height": h, "width": w})
        coco["annotations"].append(
            {
                "id": i + 1,
                "image_id": i + 1,
                "category_id": 1,
                "bbox": [3, 4, 16, 12],
                "area": 192.0,
                "iscrowd": 0,
                "segmentation": [[3, 4, 19, 4, 19, 16, 3, 16]],
            }
        )
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(coco))
    return path, images


def test_an_error_on_rank_1_fails_the_run_and_the_rerun_resumes(coco_data, tmp_path):
    path, images = coco_data
    out = tmp_path / "out"
    cmd = ["materialize", "--data", str(path), "--images", str(images), "-o", str(out), *ARGS]
    t0 = time.monotonic()
    failed = _torchrun(2, *cmd)
    assert failed.returncode != 0
    assert "5.jpg" in failed.stderr  # rank 1's own error names the image
    assert "rank 1 failed during SR of the images" in failed.stderr  # rank 0 names the rank that failed
    assert time.monotonic() - t0 < 200  # no hang until a collective's timeout
    assert not (out / "annotations.json").exists()
    written = sorted(p.name for p in (out / "images").glob("*.png"))
    assert written == ["0.png", "1.png", "2.png", "3.png", "4.png"]  # rank 0's shard and rank 1's before the bad image
    for p in (out / "images").glob("*.png"):
        os.utime(p, (1, 1))

    write_image(images / "5.jpg", _image(5, 33, 35))
    resumed = _torchrun(2, *cmd)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert all((out / "images" / name).stat().st_mtime == 1 for name in written)  # skipped, not recomputed
    assert main(["materialize", "--data", str(path), "--images", str(images), "-o", str(tmp_path / "one"), *ARGS]) == 0
    assert _files(out) == _files(tmp_path / "one")
    new = json.loads((out / "annotations.json").read_text())
    assert [(im["height"], im["width"]) for im in new["images"]][-1] == (32, 32)

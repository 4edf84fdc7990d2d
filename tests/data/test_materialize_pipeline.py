"""materialize decodes ahead and writes behind (sr4det/_overlap.py): the files are byte for byte those of the serial
loop (targets found written skipped, two sources of one target included), the too-small image's DataError and a
failed write's DiskFullError are the serial loop's, with the same files left, and the rerun completes the folder."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

from sr4det import _overlap
from sr4det.data import materialize as materialize_mod
from sr4det.data.io import write_image
from sr4det.data.materialize import materialize
from sr4det.errors import DataError, DiskFullError
from sr4det.transforms import Degrade, SRTransform


def _image(seed: int, h: int, w: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _dataset(root: Path, tiny: bool = False) -> Path:
    """6 train images of different sizes (im2.jpg and im2.png share the target im2.png), labels for some, and with
    ``tiny`` a 3x5 image (smaller than the scale) fourth in order."""
    for i in range(5):
        write_image(root / "images" / "train" / f"im{i}.png", _image(i, 20 + 2 * i, 27 - i))
        (root / "labels" / "train").mkdir(parents=True, exist_ok=True)
        (root / "labels" / "train" / f"im{i}.txt").write_text(f"{i % 2} 0.5 0.5 0.4 0.3\n")
    write_image(root / "images" / "train" / "im2.jpg", _image(7, 24, 24))
    if tiny:
        write_image(root / "images" / "train" / "im3.png", _image(3, 3, 5))
    data = root / "data.yaml"
    data.write_text(yaml.safe_dump({"train": "images/train", "names": ["a", "b"]}))
    return data


def _run(data: Path, out: Path, **kw):
    degrade = Degrade(4, noise_std=3, jpeg_quality=70, seed=5)
    return materialize(data, out, degrade=degrade, sr=SRTransform("bicubic", scale=4, tile=None), progress=False, **kw)


def _serial(monkeypatch) -> None:
    monkeypatch.setattr(_overlap, "PREFETCH", 0)
    monkeypatch.setattr(_overlap, "WRITE_QUEUE", 0)


def _files(root: Path) -> dict[str, bytes]:
    """Every output file by relative path (the folder's own path made relative), bookkeeping left out."""
    return {
        str(p.relative_to(root)): p.read_bytes().replace(str(root.resolve()).encode(), b"<OUT>")
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".sr4det_run" not in p.name
    }


def _threads(monkeypatch, name: str) -> list[str]:
    seen: list[str] = []
    fn = getattr(materialize_mod, name)

    def spy(*a, **k):
        seen.append(threading.current_thread().name)
        return fn(*a, **k)

    monkeypatch.setattr(materialize_mod, name, spy)
    return seen


def _no_threads() -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith("sr4det-")]


def test_pipelined_materialize_writes_the_serial_loops_bytes(tmp_path, monkeypatch):
    data = _dataset(tmp_path / "src")
    reads, writes = _threads(monkeypatch, "read_image"), _threads(monkeypatch, "write_image")
    _run(data, tmp_path / "piped")
    assert set(reads) == {"sr4det-prefetch"} and set(writes) == {"sr4det-writer"}
    assert len(writes) == 5  # im2.png's target was written by im2.jpg's job (first in order): skipped, as serially
    with monkeypatch.context() as m:
        _serial(m)
        reads.clear()
        _run(data, tmp_path / "serial")
        assert set(reads) == {threading.current_thread().name}
    piped = _files(tmp_path / "piped")
    assert piped == _files(tmp_path / "serial")
    assert sum(k.startswith("images/train/") for k in piped) == 5 and "data.yaml" in piped
    assert _no_threads()


@pytest.mark.parametrize("pipelined", [True, False])
def test_a_too_small_image_raises_at_its_turn_with_the_earlier_images_written(tmp_path, monkeypatch, pipelined):
    if not pipelined:
        _serial(monkeypatch)
    data = _dataset(tmp_path / "src", tiny=True)
    with pytest.raises(DataError, match=r"im3.png \(5x3\) is smaller than the scale 4"):
        _run(data, tmp_path / "out")
    written = sorted(p.name for p in (tmp_path / "out" / "images" / "train").glob("*.png"))
    assert written == ["im0.png", "im1.png", "im2.png"]  # sorted: im0, im1, im2.jpg, im2.png, im3, im4
    assert _no_threads()


@pytest.mark.parametrize("pipelined", [True, False])
def test_a_failed_write_is_the_serial_loops_typed_error_and_the_rerun_completes(tmp_path, monkeypatch, pipelined):
    if not pipelined:
        _serial(monkeypatch)
    data = _dataset(tmp_path / "src")
    real = materialize_mod.write_image
    calls = []

    def full_at_the_third(path, image, *a, **k):
        calls.append(path)
        if len(calls) == 3:
            raise DiskFullError(28, f"no room to write {path}: the disk (or quota) is full; run the same command again")
        return real(path, image, *a, **k)

    monkeypatch.setattr(materialize_mod, "write_image", full_at_the_third)
    out = tmp_path / "out"
    with pytest.raises(DiskFullError, match="run the same command again"):
        _run(data, out)
    assert _no_threads()
    assert sorted(p.name for p in (out / "images" / "train").glob("*.png")) == ["im0.png", "im1.png"]
    assert not (out / "data.yaml").exists()
    monkeypatch.setattr(materialize_mod, "write_image", real)  # space freed: the rerun resumes
    _run(data, out)
    _run(data, tmp_path / "clean")
    assert _files(out) == _files(tmp_path / "clean")

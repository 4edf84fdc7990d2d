"""`sr4det detect` decodes ahead and writes behind (sr4det/_overlap.py): the outputs are byte for byte those of the
serial loop, a bad file is still reported while the others are done, and a failed write is the serial loop's typed
error with nothing lost (the rerun completes the folder)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from sr4det import _overlap
from sr4det.cli import build_parser, main
from sr4det.commands import detect as detect_cmd
from sr4det.data import io
from sr4det.detectors.base import Detections
from sr4det.errors import DiskFullError

STEMS = ("a", "b", "c", "d", "e")


class _Fake:
    """Boxes that depend on the pixels: a box around the brightest row band, its score the image's mean."""

    names = {0: "thing", 1: "other"}
    config = {"type": "fake"}

    def __call__(self, images):
        out = []
        for im in images:
            h, w = im.shape[:2]
            y = int(np.argmax(im.mean(axis=(1, 2))))
            box = [1.0, max(0.0, y - 3.0), w - 2.0, min(h - 1.0, y + 3.0)]
            out.append(Detections([box], [float(im.mean()) / 255], [y % 2], self.names, (h, w)))
        return out


@pytest.fixture
def inputs(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "in"
    for i, stem in enumerate(STEMS):
        io.write_image(folder / f"{stem}.png", rng.integers(0, 256, (20 + 2 * i, 28, 3), dtype=np.uint8))
    (folder / "c2.png").write_bytes(b"not an image")  # unreadable: reported, the others done
    return folder


def _serial(monkeypatch) -> None:
    monkeypatch.setattr(_overlap, "PREFETCH", 0)
    monkeypatch.setattr(_overlap, "WRITE_QUEUE", 0)


def _argv(src: Path, out: Path) -> list[str]:
    return ["detect", str(src), "--detector", "fake.pt", "-o", str(out), "--quiet", "--line-width", "1"]


def _outputs(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and ".sr4det_run" not in p.name
    }


def _threads(monkeypatch, name: str) -> list[str]:
    seen: list[str] = []
    fn = getattr(io, name)

    def spy(*a, **k):
        seen.append(threading.current_thread().name)
        return fn(*a, **k)

    monkeypatch.setattr(io, name, spy)
    return seen


def test_detect_pipelined_writes_the_serial_loops_bytes_and_reports_the_bad_file(inputs, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(detect_cmd, "build", lambda args: (_Fake(), None, None))
    reads, writes = _threads(monkeypatch, "read_image"), _threads(monkeypatch, "write_image")
    assert main(_argv(inputs, tmp_path / "piped")) == 2  # the bad file fails the run, after the others
    assert "c2.png" in capsys.readouterr().err
    assert set(reads) == {"sr4det-prefetch"} and len(reads) == 6
    assert set(writes) == {"sr4det-writer"} and len(writes) == 5
    with monkeypatch.context() as m:
        _serial(m)
        reads.clear()
        assert main(_argv(inputs, tmp_path / "serial")) == 2
        assert set(reads) == {threading.current_thread().name}
    piped, serial = _outputs(tmp_path / "piped"), _outputs(tmp_path / "serial")
    assert sorted(piped) == sorted(["detections.json", *(f"{s}.png" for s in STEMS), *(f"labels/{s}.txt" for s in STEMS)])
    assert piped == serial
    journal = (tmp_path / "piped" / ".sr4det_run.files").read_text().splitlines()
    assert sorted(journal) == sorted(piped)  # every output journaled (before it was written)


@pytest.mark.parametrize("pipelined", [True, False])
def test_a_failed_write_is_the_serial_loops_typed_error_and_the_rerun_completes(inputs, tmp_path, monkeypatch, pipelined):
    monkeypatch.setattr(detect_cmd, "build", lambda args: (_Fake(), None, None))
    if not pipelined:
        _serial(monkeypatch)
    write_image = io.write_image
    calls = []

    def full_at_the_second(path, image, *a, **k):
        calls.append(path)
        if len(calls) == 2:
            raise DiskFullError(28, f"no room to write {path}: the disk (or quota) is full; run the same command again")
        return write_image(path, image, *a, **k)

    monkeypatch.setattr(io, "write_image", full_at_the_second)
    out = tmp_path / "out"
    args = build_parser().parse_args(_argv(inputs, out))
    with pytest.raises(DiskFullError, match="run the same command again"):
        args.func(args)
    assert _overlap_threads_stopped()
    assert sorted(_outputs(out)) == ["a.png", "labels/a.txt", "labels/b.txt"]  # in order, up to the failed b.png
    monkeypatch.setattr(io, "write_image", write_image)  # space freed: the same command completes the folder
    assert main(_argv(inputs, out)) == 2
    assert main(_argv(inputs, tmp_path / "clean")) == 2
    assert _outputs(out) == _outputs(tmp_path / "clean")


def _overlap_threads_stopped() -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith("sr4det-")]

"""Audit 4 (lost or mixed-up results) for `sr4det detect`: an output folder holding another run's detections is not
mixed with this run's; --overwrite replaces that run entirely."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sr4det.cli import main
from sr4det.commands import detect as detect_cmd
from sr4det.data.io import write_image
from sr4det.detectors.base import Detections


class _Fake:
    names = {0: "thing"}

    def __init__(self, conf: float):
        self.config = {"type": "fake", "conf": conf}
        self.calls = 0

    def __call__(self, images):
        self.calls += 1
        return [Detections([[1.0, 1.0, 5.0, 5.0]], [0.9], [0], self.names, im.shape[:2]) for im in images]


@pytest.fixture
def folders(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        write_image(tmp_path / "first" / f"{name}.png", rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    write_image(tmp_path / "second" / "c.png", rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    return tmp_path


def _detect(monkeypatch, src, out, conf=0.25, *extra):
    fake = _Fake(conf)
    monkeypatch.setattr(detect_cmd, "build", lambda args: (fake, None, None))
    rc = main(["detect", str(src), "--detector", "fake.pt", "-o", str(out), "--quiet", "--conf", str(conf), *extra])
    return rc, fake


def test_another_run_into_the_same_folder_is_refused_and_the_first_is_kept(folders, monkeypatch, capsys):
    out = folders / "out"
    assert _detect(monkeypatch, folders / "first", out)[0] == 0
    before = (out / "detections.json").read_text()
    for src, conf in ((folders / "second", 0.25), (folders / "first", 0.5)):  # other inputs; other settings
        rc, fake = _detect(monkeypatch, src, out, conf)
        assert rc == 2
        err = capsys.readouterr().err
        assert "holds the detections of another run" in err
        assert "--overwrite" in err
        assert fake.calls == 0  # refused before any image
        assert (out / "detections.json").read_text() == before
    assert _detect(monkeypatch, folders / "first", out)[0] == 0  # the same command again reuses the folder


def test_overwrite_replaces_the_other_run_without_leaving_its_files(folders, monkeypatch):
    out = folders / "out"
    _detect(monkeypatch, folders / "first", out)
    rc, _ = _detect(monkeypatch, folders / "second", out, 0.25, "--overwrite")
    assert rc == 0
    data = json.loads((out / "detections.json").read_text())
    assert [r["file"] for r in data["images"]] == [str(folders / "second" / "c.png")]
    assert sorted(p.name for p in out.glob("*.png")) == ["c.png"]  # a.png and b.png were left beside it
    assert sorted(p.name for p in (out / "labels").glob("*.txt")) == ["c.txt"]

"""No code runs from a file: a YOLO .pt (a full pickle ultralytics unpickles) is scanned first (sr4det/_pickle_scan.py);
anything importing more than ultralytics/torch checkpoints do is refused before it is unpickled."""

from __future__ import annotations

import collections
import os

import pytest
import torch

from sr4det._pickle_scan import check_pickle, unsafe_globals
from sr4det.errors import UnsafePickleError, WeightsError

pytest.importorskip("ultralytics")


class _Payload:
    """Unpickling this runs ``os.system`` (what a hostile checkpoint does)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def yolo_pt(tmp_path_factory):
    """An ultralytics checkpoint as YOLO.save writes it (network built from the yaml: offline, random weights)."""
    from ultralytics import YOLO

    import sr4det.integrations.ultralytics.offline  # noqa: F401  (YOLO_OFFLINE)

    path = tmp_path_factory.mktemp("yolo") / "yolov8n.pt"
    YOLO("yolov8n.yaml").save(str(path))
    return path


def test_an_ultralytics_checkpoint_passes_and_loads(yolo_pt):
    from sr4det.integrations.ultralytics.detector import UltralyticsDetector

    assert unsafe_globals(yolo_pt) == []
    assert len(UltralyticsDetector(yolo_pt, imgsz=64).names) == 80


@pytest.mark.parametrize("protocol", [2, 4])  # GLOBAL opcodes (torch's default) and STACK_GLOBAL with memoised names
@pytest.mark.parametrize("loader", ["UltralyticsDetector", "load_trainable_pt", "detect CLI"])
def test_a_checkpoint_that_would_run_code_is_refused_before_unpickling(yolo_pt, tmp_path, capsys, protocol, loader):
    ckpt = torch.load(yolo_pt, map_location="cpu", weights_only=False)  # our own file: trusted
    marker = tmp_path / "ran"
    ckpt["payload"] = _Payload(marker)
    bad = tmp_path / "yolo_tampered.pt"
    torch.save(ckpt, bad, pickle_protocol=protocol)
    assert f"{os.name}.system" in unsafe_globals(bad)  # posix.system
    if loader == "detect CLI":
        import numpy as np

        from sr4det.cli import main
        from sr4det.data.io import write_image

        write_image(tmp_path / "in" / "a.png", np.zeros((8, 8, 3), np.uint8))
        assert main(["detect", str(tmp_path / "in"), "--detector", str(bad), "-o", str(tmp_path / "o"), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "system" in err
        assert "--trust-pickle" in err
    else:
        from sr4det.integrations.ultralytics.detector import UltralyticsDetector
        from sr4det.integrations.ultralytics.trainable import load_trainable_pt

        with pytest.raises(UnsafePickleError, match="system") as err:
            (UltralyticsDetector if loader == "UltralyticsDetector" else load_trainable_pt)(bad)
        assert isinstance(err.value, WeightsError)
        assert "trust_pickle=True" in str(err.value)
    assert not marker.exists()


def test_trust_loads_a_file_with_unknown_but_harmless_globals(yolo_pt, tmp_path, monkeypatch):
    from sr4det.integrations.ultralytics.detector import UltralyticsDetector

    ckpt = torch.load(yolo_pt, map_location="cpu", weights_only=False)
    ckpt["extra"] = collections.Counter("ab")
    odd = tmp_path / "odd.pt"
    torch.save(ckpt, odd)
    with pytest.raises(UnsafePickleError, match="collections.Counter"):
        UltralyticsDetector(odd, imgsz=64)
    assert len(UltralyticsDetector(odd, imgsz=64, trust_pickle=True).names) == 80
    monkeypatch.setenv("SR4DET_TRUST_PICKLE", "1")
    check_pickle(odd)


def test_a_file_that_is_no_torch_zip_is_not_unpickled(tmp_path):
    import pickle

    marker = tmp_path / "ran"
    legacy = tmp_path / "legacy.pt"
    legacy.write_bytes(pickle.dumps(_Payload(marker)))  # a bare pickle (torch.load would run it)
    with pytest.raises(UnsafePickleError, match="not a torch zip archive"):
        check_pickle(legacy)
    assert not marker.exists()

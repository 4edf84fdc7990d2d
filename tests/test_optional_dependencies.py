"""The core runs without the optional integrations (ultralytics, spandrel, OpenVINO/ONNX, Flask), and a feature used
without its extra raises MissingDependencyError naming the extra.

Each case runs in a fresh interpreter whose import system refuses the optional packages (``sys.modules[name] =
None`` makes ``import name`` raise ImportError), as on a machine where they were never installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_BLOCK = """
import sys
for name in ("ultralytics", "spandrel", "openvino", "onnxruntime", "flask", "waitress", "sahi"):
    sys.modules[name] = None
"""


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-c", _BLOCK + textwrap.dedent(code)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )


def test_core_imports_and_runs_without_optional_packages(tmp_path):
    proc = _run(
        """
        import importlib
        for m in ("sr4det", "sr4det.models", "sr4det.tiling", "sr4det.transforms", "sr4det.evaluation", "sr4det.metrics",
                  "sr4det.data", "sr4det.detectors", "sr4det.training", "sr4det.hooks", "sr4det.degradation", "sr4det.cli",
                  "sr4det.mos", "sr4det.integrations", "sr4det.integrations.ultralytics", "sr4det.integrations.torchvision"):
            importlib.import_module(m)
        # the integration modules themselves import their framework only when used
        for m in ("detector", "recover", "trainable", "hooks", "yolo_data", "adapt", "detector_losses", "datasets",
                  "offline"):
            importlib.import_module("sr4det.integrations.ultralytics." + m)
        importlib.import_module("sr4det.integrations.torchvision.detector")
        assert "ultralytics" not in {k for k, v in sys.modules.items() if v is not None}
        import torch
        import sr4det
        model = sr4det.create_model("espcn", scale=2, pretrained=True)
        out = sr4det.upscale(model, torch.rand(3, 20, 24))
        assert out.shape == (3, 40, 48), out.shape
        print("CORE-OK")
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "CORE-OK" in proc.stdout


@pytest.mark.parametrize(
    "code,extra",
    [
        (
            "from sr4det.integrations.ultralytics.detector import UltralyticsDetector\nUltralyticsDetector('yolo11n.pt')",
            "ultralytics",
        ),
        ("from sr4det.detectors import UltralyticsDetector\nUltralyticsDetector('yolo11n.pt')", "ultralytics"),
        (
            "import torch, sr4det\ntorch.save({'params': {'x.weight': torch.zeros(1)}}, 'w.pth')\nsr4det.load_model('w.pth')",
            "spandrel",
        ),
        (
            "import pathlib\nd = pathlib.Path('m_openvino_model'); d.mkdir(); (d / 'm.xml').write_text('<net/>')\n"
            "from sr4det.integrations.ultralytics.recover import yolo_from_openvino\nyolo_from_openvino(d, arch='yolov8n')",
            "export",
        ),
        ("from sr4det.mos import create_app\ncreate_app('study.db')", "mos"),
        (
            "import numpy as np\nfrom sr4det.detectors import Detections, SlicedDetector\n"
            "det = lambda ims: [Detections(np.zeros((0, 4)), [], [], {0: 'a'}, im.shape[:2]) for im in ims]\n"
            "class D:\n    names = {0: 'a'}\n    __call__ = staticmethod(det)\n"
            "SlicedDetector(D())([np.zeros((900, 900, 3), np.uint8)])",
            "sahi",
        ),
    ],
    ids=["ultralytics", "ultralytics-factory", "spandrel", "openvino", "flask", "sahi"],
)
def test_a_feature_without_its_extra_names_the_extra(code, extra, tmp_path):
    proc = _run(
        f"""
        from sr4det.errors import MissingDependencyError
        try:
{textwrap.indent(code, " " * 12)}
        except MissingDependencyError as exc:
            assert isinstance(exc, ImportError)
            print("MISSING:", exc)
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "MISSING:" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    assert f"sr4det[{extra}]" in proc.stdout

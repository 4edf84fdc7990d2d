"""The module paths earlier releases documented keep working as aliases of sr4det.integrations, import nothing and
warn nothing until a name is used, and give the very objects of their new home."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
U = "sr4det.integrations.ultralytics"
ALIASES = [
    ("sr4det.detectors.offline", f"{U}.offline", ["configure_ultralytics", "default_config_dir", "import_ultralytics"]),
    ("sr4det.detectors.recover", f"{U}.recover", ["yolo_from_openvino", "trainable_yolo", "calibrate_batchnorm"]),
    ("sr4det.detectors.trainable", f"{U}.trainable", ["trainable_class_names", "load_trainable_pt", "trainable_yolo"]),
    ("sr4det.hooks", f"{U}.hooks", ["attach", "SRHook"]),
    ("sr4det.hooks", f"{U}.yolo_data", ["yolo_dataset"]),
    ("sr4det.hooks.ultralytics", f"{U}.hooks", ["attach", "SRHook"]),
    ("sr4det.training.detector_losses", f"{U}.detector_losses", ["load_training_detector", "DetectionLoss"]),
    ("sr4det.detectors", f"{U}.detector", ["UltralyticsDetector"]),
    ("sr4det.detectors", "sr4det.integrations.torchvision.detector", ["TorchvisionDetector"]),
    ("sr4det.detectors", f"{U}.offline", ["configure_ultralytics"]),
]


@pytest.mark.parametrize("old,new,names", ALIASES, ids=[f"{a[0]}:{a[2][0]}" for a in ALIASES])
def test_an_old_path_gives_the_object_of_its_new_home(old, new, names):
    for name in names:
        assert getattr(importlib.import_module(old), name) is getattr(importlib.import_module(new), name)
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = importlib.import_module(old).no_such_name


def test_sr4det_offline_is_the_base_modules_switch():
    from sr4det._files import sr4det_offline
    from sr4det.detectors.offline import sr4det_offline as old

    assert old is sr4det_offline


def test_the_lazy_aliases_import_nothing_and_warn_nothing_until_used():
    code = (
        "import sys\n"
        "import sr4det.detectors, sr4det.detectors.offline, sr4det.detectors.recover, sr4det.detectors.trainable, sr4det.hooks\n"
        "print(sorted(m for m in sys.modules if m.startswith('sr4det.integrations')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-W", "error", "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"

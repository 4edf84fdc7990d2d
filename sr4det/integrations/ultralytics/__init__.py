"""Everything sr4det does with ultralytics YOLO (extra ``sr4det[ultralytics]``, AGPL-3.0), one module per job:

* :mod:`.detector` - :class:`UltralyticsDetector`, the :class:`~sr4det.detectors.Detector` for a YOLO ``.pt``, an
  OpenVINO export folder, an ``.onnx`` file or an official name;
* :mod:`.recover` - :func:`yolo_from_openvino`, a differentiable (fused) PyTorch YOLO rebuilt from an OpenVINO
  export; :mod:`.trainable` - :func:`trainable_yolo`, an unfused ``YOLO`` whose ``.train()`` works offline, and
  its ``.pt``; :mod:`.batchnorm_calibration` re-estimates the BatchNorms it re-inserts; :mod:`._openvino` reads
  an export's weights and architecture for both;
* :mod:`.hooks` - :func:`attach` / :class:`SRHook`, ultralytics training callbacks that feed Degrade + SR images;
  :mod:`.yolo_data` - :func:`yolo_dataset`, a writable YOLO dataset for read-only COCO / YOLO data;
* :mod:`.adapt` - :func:`adapt_detector` (``sr4det adapt-detector``): fine-tune a YOLO on degraded input;
* :mod:`.detector_losses` - the frozen training detector and the losses through it for SR training
  (:func:`load_training_detector`, feature / output distillation, ultralytics' detection loss);
* :mod:`.datasets` - dataset YAML names that ultralytics resolves (``load_dataset("coco128.yaml")``);
* :mod:`.offline` - :func:`configure_ultralytics`: ultralytics offline and side-effect free; every module here
  imports ultralytics through :func:`import_ultralytics`.

The names below load lazily, so importing this package does not import ultralytics::

    from sr4det.integrations.ultralytics import UltralyticsDetector, attach, trainable_yolo
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_LAZY = {
    "UltralyticsDetector": "detector",
    "yolo_from_openvino": "recover",
    "trainable_yolo": "trainable",
    "trainable_class_names": "trainable",
    "load_trainable_pt": "trainable",
    "attach": "hooks",
    "SRHook": "hooks",
    "yolo_dataset": "yolo_data",
    "adapt_detector": "adapt",
    "load_training_detector": "detector_losses",
    "configure_ultralytics": "offline",
    "import_ultralytics": "offline",
}

if TYPE_CHECKING:
    from .adapt import adapt_detector
    from .detector import UltralyticsDetector
    from .detector_losses import load_training_detector
    from .hooks import SRHook, attach
    from .offline import configure_ultralytics, import_ultralytics
    from .recover import yolo_from_openvino
    from .trainable import load_trainable_pt, trainable_class_names, trainable_yolo
    from .yolo_data import yolo_dataset


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "SRHook",
    "UltralyticsDetector",
    "adapt_detector",
    "attach",
    "configure_ultralytics",
    "import_ultralytics",
    "load_trainable_pt",
    "load_training_detector",
    "trainable_class_names",
    "trainable_yolo",
    "yolo_dataset",
    "yolo_from_openvino",
]

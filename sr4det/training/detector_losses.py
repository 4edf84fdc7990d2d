"""Deprecated alias of :mod:`sr4det.integrations.ultralytics.detector_losses` (losses through a frozen YOLO), kept
because earlier releases documented ``sr4det.training.detector_losses``; import from
:mod:`sr4det.integrations.ultralytics.detector_losses`."""

from __future__ import annotations

from ..integrations.ultralytics.detector_losses import (
    DetectionLoss,
    FeatureDistillation,
    OutputDistillation,
    TrainingDetector,
    load_training_detector,
)

__all__ = ["DetectionLoss", "FeatureDistillation", "OutputDistillation", "TrainingDetector", "load_training_detector"]

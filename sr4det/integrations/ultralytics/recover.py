"""Recover a differentiable PyTorch YOLO from an ultralytics OpenVINO export.

Exported detectors (OpenVINO, ONNX) run fast but give no gradients, so they cannot serve as the frozen
network of a perceptual loss. An ultralytics OpenVINO export, however, keeps every convolution's weights
(INT8 with a per-channel scale after NNCF quantisation, or float) and names each one after the PyTorch
module it came from (``__module.model.2.cv1.conv/aten::_convolution/Convolution``). Rebuilding the
architecture from ultralytics' own YAML and copying the dequantised weights into its *fused*
convolutions (export folds BatchNorm into conv + bias) gives the PyTorch network back, up to the INT8
rounding of its weights; the export's activation quantisation is not reproduced (float activations).

Measured against the OpenVINO output on coco128 image 36 resized to 640x640 (tests/integrations/ultralytics/test_recover.py
checks the same): class-score correlation 0.9991 (YOLOv8n) / 0.9988 (YOLO11n), median box-coordinate
difference 0.62 / 0.75 px.

:func:`yolo_from_openvino` gives that fused network (frozen, for losses). :func:`trainable_yolo` /
:func:`trainable_yolo_from_openvino` give the *unfused* network ultralytics trains: BatchNorm re-inserted after every
convolution with statistics re-estimated on training images and parameters that keep the eval output equal to the
fused one (see :func:`trainable_yolo_from_openvino`), saved as an ultralytics ``.pt`` (:func:`save_yolo_checkpoint`)
that ``YOLO(path).train()`` / ``.val()`` use offline. On coco128 (ultralytics ``val()``, 640x640 letterboxed inputs
for both) the rebuilt YOLO11n scores mAP50-95 0.5038 vs the export's 0.4953, YOLOv8n 0.4511 vs 0.4573.

Where the parts live: :mod:`._openvino` reads the export's weights and architecture; this module holds the fused
rebuild; :mod:`.trainable` the unfused, trainable one (and its ``.pt``); :mod:`.batchnorm_calibration` the BatchNorm
re-estimation. The trainable names are re-exported here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import WeightsError
from ._openvino import _build, _copy_conv, _load_export
from .batchnorm_calibration import calibrate_batchnorm
from .offline import import_ultralytics
from .trainable import load_trainable_pt, save_yolo_checkpoint, trainable_yolo, trainable_yolo_from_openvino

__all__ = [
    "calibrate_batchnorm",
    "load_trainable_pt",
    "save_yolo_checkpoint",
    "trainable_yolo",
    "pytorch_yolo",
    "trainable_yolo_from_openvino",
    "yolo_from_openvino",
]


def yolo_from_openvino(path: str | Path, *, arch: str | None = None) -> Any:
    """A fused, float32, eval-mode ultralytics ``DetectionModel`` with the weights of an OpenVINO export.

    Args:
        path: an ultralytics OpenVINO export folder (``*_openvino_model/`` with ``metadata.yaml``) or its ``.xml``.
        arch: ultralytics model name (``"yolov8n"``, ``"yolo11n"``); default: read from ``metadata.yaml``.

    Returns:
        ``ultralytics.nn.tasks.DetectionModel``; input float32 RGB [0, 1], shape (B, 3, H, W) with H, W
        multiples of 32; its layers (``model.model[i]``) are what a perceptual loss taps; ``model.names``
        holds the export's ``{index: class name}``.

    Raises:
        WeightsNotAvailableError: the path does not exist.
        WeightsError: not an ultralytics detection export, or its convolutions do not match ``arch``
            (the message names the first layer that differs).
        MissingDependencyError: ``openvino`` is not installed.
    """
    import torch

    xml, yaml_name, names, convs = _load_export(path, arch)
    model = _build(yaml_name, names)
    model.fuse(verbose=False)
    model.float().eval()
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Conv2d):
                _copy_conv(module, name, convs, xml, yaml_name)
    if convs:
        raise WeightsError(f"{xml} has convolutions that {yaml_name} lacks: {sorted(convs)[:5]}; wrong arch?")
    if names:
        model.names = names
    return model.requires_grad_(False)


def pytorch_yolo(path: Path, *, fuse: bool = False) -> Any:
    """The PyTorch ultralytics ``DetectionModel`` of an existing ``path``: an OpenVINO export folder / ``.xml``
    (:func:`yolo_from_openvino`: exports give no gradients, so the network is rebuilt from their weights; fused) or a
    YOLO ``.pt`` (``YOLO(path).model``, fused when ``fuse``). The caller checks that ``path`` exists.

    Raises:
        WeightsError: ultralytics cannot load the ``.pt`` (or :func:`yolo_from_openvino`'s errors for an export).
    """
    if path.is_dir() or path.suffix == ".xml":
        return yolo_from_openvino(path)
    import_ultralytics()
    from ultralytics import YOLO

    try:
        model = YOLO(str(path)).model
        # ultralytics infers Model.model as str | None; once a .pt is loaded it is the DetectionModel
        return model.fuse(verbose=False) if fuse else model  # type: ignore[union-attr]
    except Exception as exc:  # ultralytics raises many types for a bad file
        raise WeightsError(f"ultralytics cannot load {path}: {exc}") from exc

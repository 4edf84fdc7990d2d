"""The *unfused* ultralytics YOLO that ultralytics trains, rebuilt from an OpenVINO export (or loaded from a ``.pt``).

:func:`trainable_yolo_from_openvino` re-inserts a BatchNorm after every convolution, with statistics re-estimated on
training images (:func:`~sr4det.integrations.ultralytics.batchnorm_calibration.calibrate_batchnorm`) and parameters that keep the
eval output equal to the fused one; :func:`save_yolo_checkpoint` writes it as an ultralytics ``.pt`` that
``YOLO(path).train()`` / ``.val()`` use offline; :func:`trainable_yolo` does both (cached by the export's digest) and
:func:`load_trainable_pt` loads such a ``.pt``. The measured agreement with the export is in
:mod:`sr4det.integrations.ultralytics.recover`, which re-exports these names.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..._pickle_scan import check_pickle
from ...errors import WeightsError, WeightsNotAvailableError
from ._openvino import _architecture, _build, _copy_conv, _load_export, _openvino_files
from .batchnorm_calibration import _calibration_files, calibrate_batchnorm
from .offline import import_ultralytics


def trainable_yolo_from_openvino(
    path: str | Path,
    *,
    arch: str | None = None,
    calibration: Any = None,
    imgsz: int = 640,
    max_images: int = 64,
    batch: int = 8,
) -> Any:
    """An *unfused* ultralytics ``DetectionModel`` with the export's weights, in the form ultralytics trains.

    The export folded every BatchNorm into its convolution (weight ``W' = W * g / sqrt(v + eps)``, bias ``b'``);
    ``W`` and the original statistics are gone. Each ``Conv`` (conv without bias + BatchNorm2d + activation) gets
    ``W'`` (dequantised INT8) as its conv weight and a **re-inserted BatchNorm whose eval-mode output is exactly
    ``W'x + b'``**: ``running_mean = m``, ``running_var = v``, ``weight = sqrt(v + eps)``, ``bias = b' + m``,
    where ``m, v`` are per-channel statistics of ``W'x`` measured on ``calibration`` images (BatchNorm
    re-estimation). Fusing this BatchNorm back gives ``W'`` and ``b'`` again (up to float rounding), so
    ``val()`` scores the export's weights; and in train mode the batch statistics are close to ``m, v``,
    so the first training steps start from the detector instead of from a re-normalised network. All
    BatchNorms train normally (weights, biases and running statistics update; ultralytics' eps 1e-3,
    momentum 0.03). Without ``calibration`` the statistics are ``m = 0, v = 1`` (eval output still exact,
    but train-mode BatchNorm would re-normalise every channel: always pass images before training).

    Args:
        path: an ultralytics OpenVINO export folder (``*_openvino_model/``) or its ``.xml``.
        arch: ultralytics model name; default: read from ``metadata.yaml``.
        calibration: a folder of images, a list of image paths, or None (see above). Use training images,
            never the evaluation set.
        imgsz: calibration images are letterboxed to ``imgsz`` x ``imgsz`` (grey 114 padding, as ultralytics).
        max_images: at most this many calibration images (the first ones in sorted order).
        batch: calibration batch size.

    Returns:
        ``ultralytics.nn.tasks.DetectionModel`` in eval mode, float32, parameters trainable (DFL excepted),
        ``names`` from the export. Save it with :func:`save_yolo_checkpoint` for ``YOLO(path).train()``.

    Raises:
        WeightsNotAvailableError, WeightsError, MissingDependencyError: as :func:`yolo_from_openvino`.
    """
    import torch

    xml, yaml_name, names, convs = _load_export(path, arch)
    model = _build(yaml_name, names)
    model.float().eval()
    bns: dict[str, Any] = {}  # BatchNorm name -> module, for calibration
    with torch.no_grad():
        done: set[str] = set()
        for name, module in model.named_modules():
            conv, bn = getattr(module, "conv", None), getattr(module, "bn", None)
            if not (isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d)):
                continue
            bias = convs.get(f"{name}.conv", (None, None))[1]
            _copy_conv(conv, f"{name}.conv", convs, xml, yaml_name)
            conv.bias = None  # the fused bias lives in the BatchNorm
            bn.reset_running_stats()  # mean 0, var 1
            bn.weight.fill_(float(np.sqrt(1.0 + bn.eps)))
            bn.bias.copy_(torch.from_numpy(bias) if bias is not None else torch.zeros_like(bn.bias))
            bns[f"{name}.bn"] = bn
            done.add(f"{name}.conv")
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Conv2d) and name not in done:
                _copy_conv(module, name, convs, xml, yaml_name)
            elif isinstance(module, torch.nn.BatchNorm2d) and name not in bns:
                raise WeightsError(f"{yaml_name}: BatchNorm {name} does not follow a convolution; cannot rebuild it")
    if convs:
        raise WeightsError(f"{xml} has convolutions that {yaml_name} lacks: {sorted(convs)[:5]}; wrong arch?")
    if names:
        model.names = names
    if calibration is not None:
        calibrate_batchnorm(model, calibration, imgsz=imgsz, max_images=max_images, batch=batch)
    model.requires_grad_(True)
    for name, p in model.named_parameters():
        if ".dfl" in name:
            p.requires_grad_(False)
    return model


def save_yolo_checkpoint(model: Any, path: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (a ``DetectionModel``) as an ultralytics ``.pt`` that ``YOLO(path)`` loads, trains and validates.

    Stored in float32 (ultralytics' own checkpoints are FP16) so the re-inserted BatchNorms keep the export's
    outputs exactly; ``extra`` is kept under the ``"sr4det"`` key (provenance).
    """
    import copy
    from datetime import datetime, timezone

    from ...models.weights import atomic_torch_save

    ultralytics = import_ultralytics()
    path = Path(path).expanduser()
    m = copy.deepcopy(model).float().eval()
    for p in m.parameters():
        p.requires_grad_(False)
    ckpt = {
        "date": datetime.now(timezone.utc).isoformat(),
        "version": ultralytics.__version__,
        "epoch": -1,
        "best_fitness": None,
        "model": m,
        "ema": None,
        "updates": None,
        "optimizer": None,
        "train_args": {"task": "detect", "imgsz": 640},
        "sr4det": dict(extra or {}),
    }
    atomic_torch_save(ckpt, path)  # a full disk: DiskFullError naming path, nothing half-written
    return path


def _export_digest(xml: Path, calibration_files: list[Path], imgsz: int) -> str:
    import hashlib

    h = hashlib.sha256(b"sr4det-trainable-yolo-v1")
    for f in (xml, xml.with_suffix(".bin")):
        if f.is_file():
            h.update(f.read_bytes())
    for f in calibration_files:
        h.update(f.name.encode())
        h.update(str(f.stat().st_size).encode())
    h.update(str(int(imgsz)).encode())
    return h.hexdigest()


def trainable_yolo(
    detector: str | Path,
    *,
    calibration: Any = None,
    out: str | Path | None = None,
    arch: str | None = None,
    imgsz: int = 640,
    max_images: int = 64,
) -> Any:
    """An ``ultralytics.YOLO`` whose ``.train()`` and ``.val()`` work offline, from an export folder or a ``.pt``.

    Args:
        detector: an ultralytics OpenVINO export folder / ``.xml`` (rebuilt with
            :func:`trainable_yolo_from_openvino`, BatchNorm re-estimated on ``calibration``, saved as ``.pt``), or an
            ultralytics detection ``.pt`` (loaded as it is).
        calibration: images for the BatchNorm statistics (export only; see :func:`trainable_yolo_from_openvino`).
        out: where to save the rebuilt ``.pt`` (rebuilt and overwritten); default
            ``$SR4DET_CACHE/detectors/<export>-<digest>.pt``, reused when the export, the calibration file list and
            ``imgsz`` are unchanged.
        arch, imgsz, max_images: as :func:`trainable_yolo_from_openvino`.

    Raises:
        WeightsNotAvailableError: ``detector`` does not exist.
        WeightsError: neither an ultralytics OpenVINO export nor a loadable ultralytics detection ``.pt``
            (the message says what to pass instead).
    """
    from ..._files import cache_root

    src = Path(detector).expanduser()
    if not src.exists():
        raise WeightsNotAvailableError(
            f"detector not found: {src}; pass an ultralytics OpenVINO export folder (*_openvino_model) or a YOLO .pt"
        )
    if src.is_file() and src.suffix == ".pt":
        return load_trainable_pt(src)
    if src.is_file() and src.suffix != ".xml":
        raise WeightsError(
            f"{src}: a {src.suffix or 'suffix-less'} file cannot be rebuilt for training; pass an ultralytics OpenVINO "
            "export folder (*_openvino_model, e.g. from `yolo export format=openvino`) or a YOLO detection .pt"
        )
    xml, _meta = _openvino_files(src)
    files = _calibration_files(calibration, max_images) if calibration is not None else []
    reuse = out is None
    if out is None:
        out = cache_root() / "detectors" / f"{xml.parent.name}-{_export_digest(xml, files, imgsz)[:16]}.pt"
    out = Path(out).expanduser()
    if not (reuse and out.is_file()):
        model = trainable_yolo_from_openvino(src, arch=arch, calibration=files or None, imgsz=imgsz, max_images=max_images)
        save_yolo_checkpoint(
            model,
            out,
            extra={
                "source": str(src),
                "source_sha256": _export_digest(xml, [], 0),
                "calibration": {"images": len(files), "imgsz": int(imgsz), "files": [f.name for f in files]},
                "how": "sr4det.detectors.recover.trainable_yolo_from_openvino",  # recorded provenance: kept as written before the move
            },
        )
    return load_trainable_pt(out)


def load_trainable_pt(path: str | Path, *, trust_pickle: bool = False) -> Any:
    """``ultralytics.YOLO(path)`` for a detection ``.pt``; a :class:`WeightsError` naming the fix when it is not one
    (:class:`~sr4det.errors.UnsafePickleError` when its pickle imports globals off the allow-list, unless
    ``trust_pickle``)."""
    import_ultralytics()
    from ultralytics import YOLO

    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsNotAvailableError(f"detector weights not found: {path}")
    check_pickle(path, trust=trust_pickle)  # a full pickle: scanned before ultralytics unpickles it
    try:
        model = YOLO(str(path), task="detect")
    except Exception as exc:  # ultralytics raises TypeError / RuntimeError / pickle errors for foreign files
        raise WeightsError(
            f"{path} is not an ultralytics detection checkpoint ({type(exc).__name__}: {exc}); pass a YOLO .pt written by "
            "ultralytics or sr4det (save_yolo_checkpoint), or an ultralytics OpenVINO export folder"
        ) from exc
    if getattr(model, "task", "detect") != "detect" or not hasattr(model.model, "yaml"):
        raise WeightsError(f"{path} is not a trainable ultralytics detection model (task {getattr(model, 'task', None)!r})")
    return model


def trainable_class_names(source: str | Path) -> dict[int, str] | None:
    """``{index: class name}`` of a detector that can be fine-tuned: a YOLO ``.pt`` or an ultralytics OpenVINO export
    (folder or ``.xml``; None when it has no ``metadata.yaml``). Anything else is a typed error naming what to pass."""
    source = Path(source)
    if not source.exists():
        raise WeightsNotAvailableError(
            f"detector not found: {source}; pass an ultralytics OpenVINO export folder (*_openvino_model) or a YOLO .pt"
        )
    if source.is_file() and source.suffix == ".pt":
        return {int(k): str(v) for k, v in load_trainable_pt(source).names.items()}
    if source.is_file() and source.suffix != ".xml":
        raise WeightsError(
            f"{source}: a {source.suffix or 'suffix-less'} file cannot be fine-tuned; pass an ultralytics OpenVINO "
            "export folder (*_openvino_model) or a YOLO detection .pt"
        )
    _xml, meta = _openvino_files(source)
    return _architecture(meta, "unused")[1]

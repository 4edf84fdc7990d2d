"""Recover a differentiable PyTorch YOLO from an ultralytics OpenVINO export.

Exported detectors (OpenVINO, ONNX) run fast but give no gradients, so they cannot serve as the frozen
network of a perceptual loss. An ultralytics OpenVINO export, however, keeps every convolution's weights
(INT8 with a per-channel scale after NNCF quantisation, or float) and names each one after the PyTorch
module it came from (``__module.model.2.cv1.conv/aten::_convolution/Convolution``). Rebuilding the
architecture from ultralytics' own YAML and copying the dequantised weights into its *fused*
convolutions (export folds BatchNorm into conv + bias) gives the PyTorch network back, up to the INT8
rounding of its weights; the export's activation quantisation is not reproduced (float activations).

Measured against the OpenVINO output on coco128 image 36 resized to 640x640 (tests/detectors/test_recover.py
checks the same): class-score correlation 0.9991 (YOLOv8n) / 0.9988 (YOLO11n), median box-coordinate
difference 0.62 / 0.75 px.

:func:`yolo_from_openvino` gives that fused network (frozen, for losses). :func:`trainable_yolo` /
:func:`trainable_yolo_from_openvino` give the *unfused* network ultralytics trains: BatchNorm re-inserted after every
convolution with statistics re-estimated on training images and parameters that keep the eval output equal to the
fused one (see :func:`trainable_yolo_from_openvino`), saved as an ultralytics ``.pt`` (:func:`save_yolo_checkpoint`)
that ``YOLO(path).train()`` / ``.val()`` use offline. On coco128 (ultralytics ``val()``, 640x640 letterboxed inputs
for both) the rebuilt YOLO11n scores mAP50-95 0.5038 vs the export's 0.4953, YOLOv8n 0.4511 vs 0.4573.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from .._offline import import_ultralytics
from ..errors import MissingDependencyError, WeightsError, WeightsNotAvailableError

_CONV_NAME = re.compile(r"^__module\.(?P<module>.+)/aten::_convolution/(Group)?Convolution$")
_ARCH_IN_DESCRIPTION = re.compile(r"Ultralytics (?P<arch>\S+) model")
_ELEMENTWISE = {"Multiply": np.multiply, "Subtract": np.subtract, "Add": np.add}  # weight dequantisation ops


def _openvino_files(path: Path) -> tuple[Path, Path | None]:
    """(xml, metadata.yaml or None) of an export folder or an ``.xml`` file."""
    if not path.exists():
        raise WeightsNotAvailableError(f"OpenVINO export not found: {path}")
    if path.is_dir():
        xmls = sorted(path.glob("*.xml"))
        if len(xmls) != 1:
            raise WeightsError(f"{path} should hold exactly one OpenVINO .xml, found {len(xmls)}")
        xml = xmls[0]
    elif path.suffix == ".xml":
        xml = path
    else:
        raise WeightsError(f"{path} is neither an OpenVINO export folder nor an .xml file")
    meta = xml.parent / "metadata.yaml"
    return xml, meta if meta.is_file() else None


def _constant_value(node: Any) -> np.ndarray:
    """Evaluate the small constant sub-graph that produces a weight (Constant -> Convert -> Subtract/Multiply)."""
    kind = node.get_type_name()
    if kind == "Constant":
        return np.array(node.get_data(), copy=True)
    if kind == "Convert":
        return _constant_value(node.input_value(0).get_node()).astype(np.float32)
    if kind not in _ELEMENTWISE:
        raise WeightsError(f"unexpected {kind} node in a weight sub-graph; not an ultralytics OpenVINO export?")
    a, b = (_constant_value(i.get_source_output().get_node()) for i in node.inputs())
    return _ELEMENTWISE[kind](a, b)


def _conv_weights(xml: Path) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    """``{pytorch module name: (float32 weight (O, I, kh, kw), bias (O,) or None)}`` of every named convolution."""
    try:
        import openvino as ov
    except ImportError as exc:
        raise MissingDependencyError("reading an OpenVINO export needs OpenVINO: pip install 'sr4det[export]'") from exc
    try:
        model = ov.Core().read_model(str(xml))
    except Exception as exc:  # openvino raises RuntimeError subclasses for bad files
        raise WeightsError(f"OpenVINO cannot read {xml}: {exc}") from exc
    convs: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for op in model.get_ordered_ops():
        if op.get_type_name() not in ("Convolution", "GroupConvolution"):
            continue
        match = _CONV_NAME.match(op.get_friendly_name())
        if match is None:
            continue
        weight = _constant_value(op.input_value(1).get_node()).astype(np.float32)
        if op.get_type_name() == "GroupConvolution":  # (groups, O/g, I/g, kh, kw) -> PyTorch's (O, I/g, kh, kw)
            weight = weight.reshape(-1, *weight.shape[2:])
        bias = None
        for target in op.output(0).get_target_inputs():
            consumer = target.get_node()
            if consumer.get_type_name() == "Add":
                other = consumer.input_value(1 - target.get_index()).get_node()
                if other.get_type_name() == "Constant":
                    bias = np.array(other.get_data(), dtype=np.float32).reshape(-1)
        convs[match.group("module")] = (weight, bias)
    if not convs:
        raise WeightsError(f"{xml} has no convolutions named after PyTorch modules; not an ultralytics export")
    return convs


def _architecture(meta: Path | None, arch: str | None) -> tuple[str, dict[int, str] | None]:
    """(ultralytics model YAML name, ``{index: class name}`` or None) from ``arch`` or the export's metadata."""
    names = None
    description = ""
    if meta is not None:
        import yaml

        data = yaml.safe_load(meta.read_text()) or {}
        if data.get("task", "detect") != "detect":
            raise WeightsError(f"{meta}: task {data.get('task')!r}; only detection exports are supported")
        names = {int(k): str(v) for k, v in data["names"].items()} if isinstance(data.get("names"), dict) else None
        description = str(data.get("description", ""))
    if arch is None:
        match = _ARCH_IN_DESCRIPTION.search(description)
        if match is None:
            raise WeightsError("cannot tell the architecture of this export (no metadata.yaml description); pass arch='yolov8n'")
        arch = match.group("arch")
    arch = arch.lower()
    return arch if arch.endswith(".yaml") else f"{arch}.yaml", names


def _load_export(path: str | Path, arch: str | None) -> tuple[Path, str, dict[int, str] | None, dict]:
    xml, meta = _openvino_files(Path(path).expanduser())
    yaml_name, names = _architecture(meta, arch)
    return xml, yaml_name, names, _conv_weights(xml)


def _build(yaml_name: str, names: dict[int, str] | None) -> Any:
    import_ultralytics()
    from ultralytics.nn.tasks import DetectionModel

    try:
        return DetectionModel(yaml_name, nc=len(names) if names else None, verbose=False)
    except FileNotFoundError as exc:
        raise WeightsError(f"ultralytics has no architecture {yaml_name!r}: {exc}") from exc


def _copy_conv(module: Any, name: str, convs: dict, xml: Path, yaml_name: str) -> None:
    """Copy the export's weight (and bias, if the export has one) into ``module`` (a ``torch.nn.Conv2d``)."""
    import torch

    if name not in convs:
        raise WeightsError(f"{xml} has no convolution for {name} of {yaml_name}; wrong arch?")
    weight, bias = convs.pop(name)
    if tuple(module.weight.shape) != weight.shape:
        raise WeightsError(
            f"{name}: {yaml_name} expects a weight of shape {tuple(module.weight.shape)}, "
            f"{xml.name} has {weight.shape}; wrong arch?"
        )
    module.weight.copy_(torch.from_numpy(weight))
    if bias is not None:
        if module.bias is None:
            module.bias = torch.nn.Parameter(torch.from_numpy(bias))
        else:
            module.bias.copy_(torch.from_numpy(bias))


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


# --------------------------------------------------------------------------------------- trainable (ultralytics)


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


def _letterbox(path: Path, imgsz: int) -> np.ndarray:
    """uint8 RGB (imgsz, imgsz, 3): long side resized to ``imgsz``, centred on grey 114 (ultralytics' padding)."""
    from PIL import Image

    from ..data.io import read_image, to_rgb8

    rgb = to_rgb8(read_image(path)[0])
    h, w = rgb.shape[:2]
    r = imgsz / max(h, w)
    nh, nw = max(1, round(h * r)), max(1, round(w * r))
    resized = np.asarray(Image.fromarray(rgb).resize((nw, nh), Image.Resampling.BILINEAR))
    out = np.full((imgsz, imgsz, 3), 114, np.uint8)
    top, left = (imgsz - nh) // 2, (imgsz - nw) // 2
    out[top : top + nh, left : left + nw] = resized
    return out


def _calibration_files(images: Any, max_images: int) -> list[Path]:
    from ..data.io import list_images
    from ..errors import DataError

    if isinstance(images, (str, Path)):
        files = list_images(images)
    else:
        files = sorted(Path(p) for p in images)
    if not files:
        raise DataError(f"no calibration images in {images}")
    return files[: int(max_images)]


def calibrate_batchnorm(model: Any, images: Any, *, imgsz: int = 640, max_images: int = 64, batch: int = 8) -> dict[str, Any]:
    """Re-estimate the BatchNorm statistics of a :func:`trainable_yolo_from_openvino` model without changing its output.

    Runs the model in eval mode on the letterboxed ``images``, measures each BatchNorm input's per-channel mean
    ``m`` and (biased) variance ``v``, and rewrites the BatchNorm as ``running_mean = m, running_var = v,
    weight = sqrt(v + eps), bias = bias_eval`` where ``bias_eval`` keeps the eval-mode output unchanged.
    Valid for BatchNorms whose eval-mode map is ``y -> y + b`` (as built by ``trainable_yolo_from_openvino``);
    in general it preserves the eval-mode affine map of each BatchNorm.

    Returns:
        ``{"images": n, "imgsz": imgsz, "files": [names]}`` (recorded in checkpoints).
    """
    import torch

    files = _calibration_files(images, max_images)
    bns = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    sums: dict[str, list] = {n: [0.0, None, None] for n in bns}  # count, sum, sum of squares (float64)

    def hook(name):
        def pre(_module, inputs):
            y = inputs[0].detach().double()
            acc = sums[name]
            acc[0] += y.shape[0] * y.shape[2] * y.shape[3]
            s, q = y.sum((0, 2, 3)), (y * y).sum((0, 2, 3))
            acc[1] = s if acc[1] is None else acc[1] + s
            acc[2] = q if acc[2] is None else acc[2] + q

        return pre

    handles = [m.register_forward_pre_hook(hook(n)) for n, m in bns.items()]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(files), batch):
                chunk = [_letterbox(f, imgsz) for f in files[start : start + batch]]
                x = torch.from_numpy(np.stack(chunk)).permute(0, 3, 1, 2).float() / 255
                model(x.to(next(model.parameters()).device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    with torch.no_grad():
        for name, bn in bns.items():
            n, s, q = sums[name]
            if not n:
                continue
            m = s / n
            v = (q / n - m * m).clamp_min(0)
            # the detectors' BatchNorms keep running statistics (the default track_running_stats=True)
            assert bn.running_mean is not None and bn.running_var is not None
            # eval map before: y -> a * y + c with a = w / sqrt(rv + eps), c = b - a * rm
            a = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
            c = bn.bias.double() - a * bn.running_mean.double()
            new_w = a * torch.sqrt(v + bn.eps)
            bn.running_mean.copy_(m)
            bn.running_var.copy_(v)
            bn.weight.copy_(new_w)
            bn.bias.copy_(c + a * m)  # a * (y - m) + (c + a * m) = a * y + c
    return {"images": len(files), "imgsz": int(imgsz), "files": [f.name for f in files]}


def save_yolo_checkpoint(model: Any, path: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (a ``DetectionModel``) as an ultralytics ``.pt`` that ``YOLO(path)`` loads, trains and validates.

    Stored in float32 (ultralytics' own checkpoints are FP16) so the re-inserted BatchNorms keep the export's
    outputs exactly; ``extra`` is kept under the ``"sr4det"`` key (provenance).
    """
    import copy
    from datetime import datetime, timezone

    import torch

    from .._files import atomic_path

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
    with atomic_path(path, suffix=".part") as tmp:
        torch.save(ckpt, tmp)
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
    from .._files import cache_root

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
                "how": "sr4det.detectors.recover.trainable_yolo_from_openvino",
            },
        )
    return load_trainable_pt(out)


def load_trainable_pt(path: str | Path) -> Any:
    """``ultralytics.YOLO(path)`` for a detection ``.pt``; a :class:`WeightsError` naming the fix when it is not one."""
    import_ultralytics()
    from ultralytics import YOLO

    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsNotAvailableError(f"detector weights not found: {path}")
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

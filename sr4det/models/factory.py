"""Models from names and files: the three ways in, one role each.

* :func:`create_model` -- a zoo name (:func:`~sr4det.models.registry.list_models`) -> model, random or with
  pretrained / given weights. Like ``timm.create_model``.
* :func:`load_model` -- any weight file (sr4det's, a published state dict, spandrel, OpenCV ``.pb``) -> model,
  architecture read from the file.
* :func:`resolve_model` -- "a name or a path" as a user typed it (CLI, configs, SRTransform) -> one of the above.

Builds on :mod:`.registry` (names -> builders), :mod:`.weights` (file I/O) and :mod:`.thirdparty`.
"""

from __future__ import annotations

import numbers
from pathlib import Path
from typing import Any

import torch

from .._suggest import did_you_mean
from .._validators import check_device, check_dtype
from ..errors import ArchitectureMismatchError, ScaleError, ScaleMismatchError, UnknownModelError, WeightsError
from ._detect import Detected
from .exported import find_export, load_export
from .registry import build_network, detect_architecture, get_card, list_models
from .runtime import check_runtime
from .thirdparty import load_opencv, load_spandrel
from .weights import WeightFile, load_state_into, objective_from_meta, read_weights, resolve_pretrained
from .wrapper import SRModel


def _scale_arg(scale: Any) -> int:
    """An integer scale (Python or numpy int) as ``int``; floats (even 4.0), strings and bools are a ScaleError: a float
    scale would name weight files ``x4.0`` and reach layer constructors that need ints."""
    if isinstance(scale, bool) or not isinstance(scale, numbers.Integral):
        raise ScaleError(f"scale must be an integer such as 2 or 4, got {scale!r} ({type(scale).__name__}); pass int(scale)")
    return int(scale)


def create_model(
    name: str,
    scale: int = 4,
    pretrained: bool = False,
    *,
    weights: str | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    backend: str = "torch",
    precision: str = "fp32",
    **kwargs: Any,
) -> SRModel:
    """Build a zoo model by name, in eval mode: the entry point when you know the architecture.

    Use it for anything in :func:`list_models`: a fresh (random) network for training, the weights the card
    declares (``pretrained=True``: shipped in the package, or published and fetched once, sha256-checked), or
    your own weight file for that architecture (``weights=PATH``). The model is wrapped in the common
    :class:`~sr4det.models.wrapper.SRModel` contract. For a file whose architecture you do not know (or a
    third-party one) use :func:`load_model`.

    Args:
        name: a name from :func:`list_models` (``"espcn"``, ``"bicubic"`` ...).
        scale: upscaling factor; must be one of the card's ``scales``.
        pretrained: load weights shipped with sr4det, or download published ones (sha256-checked).
        weights: path of a weight file for this architecture (overrides ``pretrained``).
        device, dtype: where and in what precision to run.
        backend, precision: what runs the network (``"torch"``/``"fp32"``; ``"openvino"`` or ``"onnxruntime"`` compile
            it for the CPU): see :meth:`SRModel.set_runtime`.
        **kwargs: architecture options (e.g. ``d=32, s=5, m=1`` for FSRCNN).
    """
    scale = _scale_arg(scale)
    check_device(device, flag="device")
    check_dtype(dtype)
    check_runtime(backend, precision)
    path: str | Path | None = None
    source: str | None = None
    if weights is not None:
        path, source = weights, str(weights)
    elif pretrained and get_card(name).upsampling != "none":  # interpolation baselines have nothing to load
        path, source = resolve_pretrained(get_card(name), scale)
    wf = read_weights_for(path, name, scale) if path is not None else None
    # a weight file records the width/depth options it was trained with; explicit kwargs still win
    net, card = build_network(name, scale, **{**(wf.kwargs if wf else {}), **kwargs})
    if wf is not None:
        load_state_into(net, wf.state_dict, name=name, source=str(path))
        card = card.replace(weights_source=source, **objective_from_meta(wf.meta))
    model = SRModel(net, card, scale)
    return model.to(device=device, dtype=dtype).eval().set_runtime(backend, precision)


def resolve_model(
    spec: Any,
    scale: int | None = 4,
    *,
    pretrained: bool = True,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    backend: str | None = None,
    precision: str | None = None,
) -> SRModel:
    """Turn what a user typed into an SRModel: an SRModel (returned as is), a zoo name, or a weight-file path.

    The convenience behind the CLI, configs and :class:`~sr4det.SRTransform`, where one string may be either:
    zoo names go to :func:`create_model` and load pretrained weights by default (interpolation baselines need
    none); paths go to :func:`load_model` (sr4det files, spandrel, OpenCV ``.pb``) and must match ``scale`` when
    it is given. In code that knows which it has, call :func:`create_model` or :func:`load_model` directly.
    ``backend``/``precision`` (see :meth:`SRModel.set_runtime`): None keeps a given SRModel's runtime (torch/fp32
    for names and paths).
    """
    check_device(device, flag="device")
    check_dtype(dtype)
    runtime = (backend or "torch", precision or "fp32")
    check_runtime(*runtime)
    if isinstance(spec, SRModel):
        if scale is not None and spec.scale != scale:
            raise ScaleError(f"model {spec.card.name} is x{spec.scale}, not x{scale}")
        spec = spec.to(device=device, dtype=dtype) if (device or dtype) else spec
        if backend is None and precision is None:
            return spec
        return spec.set_runtime(*runtime)
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, numbers.Integral) or scale < 1):
        raise ScaleError(f"scale must be a positive integer such as 2 or 4 (or None for a file's own), got {scale!r}")
    text = str(spec)
    if text in list_models():
        scale = 4 if scale is None else scale
        return create_model(text, scale=scale, pretrained=pretrained, device=device, dtype=dtype).set_runtime(*runtime)
    if Path(text).exists():
        return load_model(text, scale=scale, device=device, dtype=dtype).set_runtime(*runtime)
    raise UnknownModelError(
        f"{text!r} is neither a model name nor an existing weight file{did_you_mean(text, list_models())}; "
        f"models: {', '.join(list_models())}"
    )


def load_model(
    path: str | Path,
    *,
    scale: int | None = None,
    arch: str | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    backend: str = "torch",
    precision: str = "fp32",
) -> SRModel:
    """Load any supported weight file as an :class:`~sr4det.models.wrapper.SRModel` (eval mode).

    Use it when you have a file and the file should say what it is: the architecture, scale and options come
    from the file (or its keys), so no zoo name is needed, and third-party formats work. For a zoo architecture
    by name (random, pretrained or with ``weights=PATH``) use :func:`create_model`.

    * sr4det files (saved by :func:`save_weights`, e.g. shipped or trained weights): architecture from the file.
    * ``arch=`` one of :func:`~sr4det.list_models`: a plain state dict for that zoo architecture
      (the scale is tried from the card when not given).
    * published state dicts of zoo architectures, recognised by their keys (IMDN, RFDN, PAN, CARN-M; a
      DataParallel ``module.`` prefix is stripped); a multi-scale file (CARN-M) loads at its largest scale
      unless ``scale`` is given.
    * anything spandrel recognises (ESRGAN, SwinIR, HAT, CRAFT, Real-ESRGAN compact, ...; .pth/.pt/.ckpt/.safetensors).
    * OpenCV ``dnn_superres`` graphs (``ESPCN_x4.pb`` ...), when opencv-contrib is installed.
    * folders written by ``sr4det export`` (or their ``model.onnx`` / ``model.xml``): run by ONNX Runtime / OpenVINO.

    ``backend``/``precision``: what runs the network, see :meth:`SRModel.set_runtime`.

    Raises:
        ScaleError: the file's scale differs from ``scale``.
        WeightsError / ArchitectureMismatchError: unreadable, NaN, unknown or mismatched weights.
    """
    scale = None if scale is None else _scale_arg(scale)
    check_device(device, flag="device")
    check_dtype(dtype)
    check_runtime(backend, precision)
    path = Path(path)
    if (exported := find_export(path)) is not None:
        prefer = {".onnx": "onnx", ".xml": "openvino"}.get(path.suffix.lower())
        return load_export(exported, scale=scale, prefer=prefer, backend=backend, precision=precision)
    if path.suffix.lower() == ".pb":
        model = load_opencv(path, scale)
    else:
        wf = read_weights(path)
        if wf.arch is not None:
            model = _load_zoo(wf, wf.arch, wf.scale, scale, path)
        elif arch is not None:
            model = _load_zoo(wf, arch, None, scale, path)
        elif (found := detect_architecture(wf.state_dict)) is not None:
            wf.kwargs = {**found.kwargs, **wf.kwargs}
            model = _load_zoo(wf, found.arch, check_detected_scale(found, scale, path), scale, path)
        else:
            model = load_spandrel(wf, scale, path)
    return model.to(device=device, dtype=dtype).eval().set_runtime(backend, precision)


def read_weights_for(path: str | Path, name: str, scale: int) -> WeightFile:
    """:func:`read_weights`, checked to be ``name`` weights for ``scale``; ``kwargs`` filled in from the file.

    Third-party state dicts of zoo architectures are recognised by their keys, which also give the
    width/depth options to build the network with.

    Raises:
        ArchitectureMismatchError: the file holds another architecture.
        ScaleError (:class:`ScaleMismatchError` for recognised state dicts): the file is for another scale.
    """
    if Path(path).suffix.lower() == ".pb":
        raise WeightsError(
            f"{path} is an OpenCV dnn_superres graph, not a state dict for {name}; load it with sr4det.load_model(path) "
            "(or pass the path as the model, e.g. SRTransform(path) / sr4det upscale -m path)"
        )
    wf = read_weights(path)
    if wf.arch is None and (found := detect_architecture(wf.state_dict)) is not None:
        if found.arch != name:
            raise ArchitectureMismatchError(
                f"{path} holds {found.arch} weights, not {name}; sr4det.load_model(path) loads it as {found.arch}"
            )
        check_detected_scale(found, scale, path)
        wf.kwargs = {**found.kwargs, **wf.kwargs}
    if wf.arch not in (None, name):
        raise ArchitectureMismatchError(f"{path} holds {wf.arch} weights, not {name}")
    if wf.scale not in (None, scale):
        raise ScaleError(f"{path} holds x{wf.scale} weights, not x{scale}")
    return wf


def check_detected_scale(found: Detected, scale: int | None, path: str | Path) -> int:
    """The scale to build a detected file at: ``scale`` if the file holds it, else the largest it holds.

    Raises:
        ScaleMismatchError: ``scale`` is given and the file's upsampler is for other scales.
    """
    if scale is None:
        return max(found.scales)
    if scale not in found.scales:
        held = "/".join(f"x{s}" for s in found.scales)
        raise ScaleMismatchError(
            f"{path} holds {found.arch} weights for {held} (read from its upsampling layers), not x{scale}; "
            f"pass scale={found.scales[-1]} or use the {found.arch} file trained for x{scale}"
        )
    return scale


def _load_zoo(wf: WeightFile, arch: str, file_scale: int | None, scale: int | None, path: Path) -> SRModel:
    if file_scale is not None and scale is not None and file_scale != scale:
        raise ScaleError(f"{path} holds a x{file_scale} {arch} model, not x{scale}")
    first = file_scale or scale
    candidates = [first] if first else list(get_card(arch).scales)
    error: Exception | None = None
    for s in candidates:
        net, card = build_network(arch, s, **wf.kwargs)
        try:
            load_state_into(net, wf.state_dict, name=f"{arch} x{s}", source=str(path))
        except ArchitectureMismatchError as exc:
            error = exc
            continue
        return SRModel(net, card.replace(weights_source=str(path), **objective_from_meta(wf.meta)), s)
    assert error is not None
    raise error

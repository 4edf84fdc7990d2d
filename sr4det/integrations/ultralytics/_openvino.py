"""Reading an ultralytics OpenVINO export back into PyTorch modules, shared by the fused rebuild
(:func:`sr4det.integrations.ultralytics.recover.yolo_from_openvino`) and the trainable one (:mod:`sr4det.integrations.ultralytics.trainable`).

An ultralytics OpenVINO export keeps every convolution's weights (INT8 with a per-channel scale after NNCF
quantisation, or float) and names each one after the PyTorch module it came from
(``__module.model.2.cv1.conv/aten::_convolution/Convolution``): :func:`_conv_weights` evaluates each weight's small
dequantisation sub-graph into ``{module name: (weight, bias)}``, :func:`_architecture` reads the ultralytics model
YAML and class names from ``metadata.yaml``, :func:`_build` makes that architecture and :func:`_copy_conv` copies one
weight into it (with a message naming the layer when the shapes differ)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..._yaml_file import read_yaml
from ...errors import MissingDependencyError, WeightsError, WeightsNotAvailableError
from .offline import import_ultralytics

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
    """(ultralytics model YAML name, ``{index: class name}`` or None) from ``arch`` or the export's metadata.

    Raises:
        ConfigError: ``metadata.yaml`` is unreadable, not YAML or not a mapping (names the file, line and column).
        WeightsError: not a detection export, or no architecture to be found.
    """
    names = None
    description = ""
    if meta is not None:
        data = read_yaml(meta, "OpenVINO export metadata", "a mapping (task: ..., names: ..., description: ...)")
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

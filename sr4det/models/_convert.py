"""Writing an SR network as an ONNX graph or an OpenVINO IR, with dynamic batch, height and width.

The graph holds the *network* only (``SRModel.net``): what goes in is the network input of the model card
(``channels`` = 1 for Y-channel networks, 3 for RGB; already bicubic-enlarged for pre-upsampling networks), float32
NCHW in [0, 1]; what comes out is the same channels at ``scale`` times the size, not clamped. Colour conversion,
padding to ``size_multiple``, gray/alpha handling and clamping stay in :class:`~sr4det.models.wrapper.SRModel`,
which wraps a runtime built from these files the same way it wraps the torch network.

Used by :mod:`.runtime` (files cached under the sr4det cache folder) and by ``sr4det export`` (files for deployment).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path

import torch
from torch import nn

from ..errors import MissingDependencyError

#: the names of the graph's input and output in every file sr4det writes
INPUT_NAME, OUTPUT_NAME = "lr", "sr"


def require(module: str, feature: str):
    """Import ``module`` (``"openvino"``, ``"onnxruntime"``, ``"onnxscript"``) or raise MissingDependencyError naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{feature} needs the {module} package: pip install 'sr4det[export]' (OpenVINO, ONNX Runtime and the ONNX "
            "exporter), or use backend='torch'"
        ) from exc


def example_input(channels: int, min_size: int, size_multiple: int = 1) -> torch.Tensor:
    """A small fixed (1, channels, h, w) float32 input in [0, 1] (seeded) to trace the network with; h != w so that a
    converter cannot mix the two dimensions up."""
    side = max(min_size, 24)
    h = -(-side // size_multiple) * size_multiple
    w = -(-(side + 8) // size_multiple) * size_multiple
    return torch.rand(1, channels, h, w, generator=torch.Generator().manual_seed(0))


@contextlib.contextmanager
def _quiet():
    """Silence the exporters' progress prints and deprecation warnings (they are not about the user's code)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def write_onnx(net: nn.Module, path: str | Path, example: torch.Tensor) -> Path:
    """Export ``net`` with ``torch.onnx.export`` (the dynamo exporter) to one self-contained ``.onnx`` file.

    Batch, height and width are dynamic; ``example`` (1, C, h, w) fixes the channel count.
    """
    require("onnxscript", "exporting to ONNX")
    from torch.export import Dim

    path = Path(path)
    net = net.eval()
    dynamic = ({0: Dim.DYNAMIC, 2: Dim.DYNAMIC, 3: Dim.DYNAMIC},)
    with _quiet(), torch.no_grad():
        program = torch.onnx.export(
            net, (example,), None, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], dynamic_shapes=dynamic, dynamo=True
        )
        assert program is not None
        program.save(str(path), external_data=False)
    return path


def openvino_model(net: nn.Module, example: torch.Tensor):
    """``openvino.convert_model`` of ``net`` (an ``openvino.Model``) with input shape (-1, C, -1, -1)."""
    ov = require("openvino", "the OpenVINO backend")
    with _quiet(), torch.no_grad():
        model = ov.convert_model(net.eval(), example_input=example, input=[ov.PartialShape([-1, example.shape[1], -1, -1])])
    model.inputs[0].get_tensor().set_names({INPUT_NAME})
    model.outputs[0].get_tensor().set_names({OUTPUT_NAME})
    return model


def write_openvino(model, path: str | Path) -> Path:
    """Save an ``openvino.Model`` as IR (``path`` = ``.xml``, weights beside it in ``.bin``) with float32 weights
    (``compress_to_fp16=False``: OpenVINO's default would store fp16 weights and lose fp32 exactness)."""
    ov = require("openvino", "the OpenVINO backend")
    path = Path(path)
    ov.save_model(model, str(path), compress_to_fp16=False)
    return path

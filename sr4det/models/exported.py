"""SR models as deployment files: ``sr4det export`` writes them, :func:`sr4det.load_model` reads them back.

A folder written by :func:`export_model` holds::

    model.onnx                  ONNX graph (torch.onnx.export, dynamo exporter), one file, fp32 weights
    model.xml + model.bin       OpenVINO IR (openvino.convert_model), fp32 weights
    sr4det_export.json          the input contract below, the model card, file sha256s and versions

Input contract of both graphs (the *network*, not the whole :class:`~sr4det.models.wrapper.SRModel`):

* input ``lr``: float32, NCHW, values in [0, 1]; batch, height and width dynamic; channels ``input.channels``:
  3 (RGB) or 1 (Y = BT.601 luma of RGB in [0, 1], "y" input space; chroma is then upsampled with bicubic by the
  caller). For ``upsampling == "pre"`` networks (SRCNN, VDSR) the input is first enlarged ``scale`` times by
  MATLAB-compatible bicubic (``sr4det.resize.imresize``). Height and width must be multiples of
  ``input.size_multiple`` and at least ``input.min_size`` (pad with reflection, crop the output).
* output ``sr``: float32 (N, C, scale*H, scale*W) for post-upsampling networks (same size as the input for
  ``"pre"``), not clamped: clamp to [0, 1].

:func:`sr4det.load_model` on the folder (or on either file in it) rebuilds an SRModel that does all of the above
around the graph, so ``model(x)`` equals the exported model's output (within fp32 rounding).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._digest import state_digest
from .._files import atomic_write, sha256_file
from ..errors import InputError, ScaleError, WeightsError
from ._convert import INPUT_NAME, OUTPUT_NAME, example_input, openvino_model, write_onnx, write_openvino
from .card import ModelCard
from .runtime import CompiledNet, open_compiled, runtime_version
from .wrapper import SRModel

CONTRACT = "sr4det_export.json"
FORMAT = "sr4det-export/1"
FILES = {"onnx": "model.onnx", "openvino": "model.xml"}
_CARD_FIELDS = {f.name for f in dataclasses.fields(ModelCard)} - {"shipped", "published"}


def export_model(model: SRModel, folder: str | Path, formats: tuple[str, ...] = ("onnx", "openvino")) -> Path:
    """Write ``model``'s network as ONNX and/or OpenVINO IR into ``folder`` with the contract file; returns the contract.

    Raises:
        InputError: an interpolation baseline (no network), a model already loaded from an export, an unknown format.
    """
    bad = [f for f in formats if f not in FILES]
    if bad or not formats:
        raise InputError(f"formats must be some of {', '.join(FILES)}, got {list(formats)}")
    if model.card.upsampling == "none":
        raise InputError(f"{model.card.name} is an interpolation baseline, not a network: there is nothing to export")
    if isinstance(model.net, ExportedNet):
        raise InputError("this model was loaded from an export; copy its folder instead of exporting it again")
    net = model.net.to("cpu", torch.float32).eval()
    card = model.card
    channels = 1 if card.input_space == "y" else 3
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    example = example_input(channels, card.min_size, card.size_multiple)
    written: dict[str, str] = {}
    versions: dict[str, str | None] = {"torch": str(torch.__version__)}
    if "onnx" in formats:
        write_onnx(net, folder / FILES["onnx"], example)
        written["onnx"] = FILES["onnx"]
        versions["onnxruntime"] = _version_or_none("onnxruntime")
    if "openvino" in formats:
        write_openvino(openvino_model(net, example), folder / FILES["openvino"])
        written["openvino"] = FILES["openvino"]
        versions["openvino"] = runtime_version("openvino")
    contract: dict[str, Any] = {
        "format": FORMAT,
        "scale": model.scale,
        "input": {
            "name": INPUT_NAME,
            "layout": "NCHW",
            "dtype": "float32",
            "range": [0.0, 1.0],
            "channels": channels,
            "space": card.input_space,
            "upsampling": card.upsampling,
            "size_multiple": card.size_multiple,
            "min_size": card.min_size,
        },
        "output": {"name": OUTPUT_NAME, "layout": "NCHW", "dtype": "float32", "clamp": [0.0, 1.0]},
        "files": written,
        "sha256": {name: sha256_file(folder / name) for name in _with_weights(written.values())},
        "weights_digest": state_digest(net),
        "card": {k: v for k, v in dataclasses.asdict(card).items() if k in _CARD_FIELDS},
        "versions": versions,
    }
    return atomic_write(folder / CONTRACT, json.dumps(contract, indent=2))


def _with_weights(names) -> list[str]:
    """The files of an export: an IR's ``.bin`` beside its ``.xml``."""
    return [m for n in names for m in ((n, n.removesuffix(".xml") + ".bin") if n.endswith(".xml") else (n,))]


def _version_or_none(backend: str) -> str | None:
    try:
        return runtime_version(backend)
    except ImportError:
        return None


def find_export(path: Path) -> Path | None:
    """The contract file when ``path`` is an export folder or a ``.onnx`` / ``.xml`` file beside one, else None."""
    folder = path if path.is_dir() else path.parent
    if path.is_dir() or path.suffix.lower() in (".onnx", ".xml"):
        if (folder / CONTRACT).is_file():
            return folder / CONTRACT
        if path.suffix.lower() in (".onnx", ".xml"):
            raise WeightsError(
                f"{path} has no {CONTRACT} beside it; sr4det loads ONNX / OpenVINO files written by `sr4det export` "
                "(the contract says how the network sees the image)"
            )
    return None


class ExportedNet(nn.Module):
    """The network of an exported model: compiled from its file by a runtime (no torch weights).

    ``forward`` runs the network compiled last (by :meth:`compile_runtime`). The persistent buffer ``digest`` holds the
    exported weights' digest, so :func:`sr4det._digest.state_digest` (cache keys) tells exports of other weights apart.
    """

    def __init__(self, folder: Path, files: dict[str, str], weights_digest: str, prefer: str | None = None):
        super().__init__()
        self.folder, self.files, self.prefer = folder, files, prefer
        self.register_buffer("digest", torch.frombuffer(bytearray(bytes.fromhex(weights_digest)), dtype=torch.uint8))
        self.compiled: CompiledNet | None = None

    def compile_runtime(self, backend: str, precision: str, threads: int | None) -> CompiledNet:
        """Compile the file for ``backend`` (``"torch"``: the file loaded first, OpenVINO IR when present)."""
        key = {"openvino": "openvino", "onnxruntime": "onnx", "onnxruntime-cuda": "onnx", "tensorrt": "onnx"}.get(backend)
        if key is None:  # torch: the export's own choice
            key = self.prefer or ("openvino" if "openvino" in self.files else "onnx")
        if key not in self.files:
            raise InputError(
                f"{self.folder} holds {', '.join(self.files)} only; backend={backend!r} needs its {key} file "
                "(sr4det export --format ...)"
            )
        if backend == "onnxruntime-cuda" and precision != "fp32":
            raise InputError(
                "an export's ONNX file is fp32: backend='onnxruntime-cuda' runs it at fp32; for fp16 use "
                "backend='tensorrt', or load the original weights (sr4det converts them to fp16)"
            )
        self.compiled = open_compiled(self.folder / self.files[key], precision, threads, backend=backend)
        return self.compiled

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["compiled"] = None  # does not pickle; compiled again on first use
        return state

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.compiled is None:
            self.compile_runtime("torch", "fp32", None)
        assert self.compiled is not None
        return self.compiled(x)


def load_export(contract_path: Path, *, scale: int | None = None, prefer: str | None = None, **runtime: Any) -> SRModel:
    """An SRModel around the exported graph of ``contract_path``'s folder (``runtime``: backend, precision for
    :meth:`SRModel.set_runtime`; backend ``"torch"`` means the folder's OpenVINO IR, or its ONNX file)."""
    try:
        contract = json.loads(contract_path.read_text())
    except (OSError, ValueError) as exc:
        raise WeightsError(f"{contract_path}: unreadable export contract ({exc}); export the model again") from exc
    if not isinstance(contract, dict) or contract.get("format") != FORMAT:
        raise WeightsError(f"{contract_path}: not an {FORMAT} contract; export the model again with this sr4det")
    if scale is not None and scale != contract["scale"]:
        raise ScaleError(f"{contract_path.parent} holds a x{contract['scale']} model, not x{scale}")
    folder = contract_path.parent
    for name, digest in contract["sha256"].items():
        if not (folder / name).is_file() or sha256_file(folder / name) != digest:
            raise WeightsError(f"{folder / name} is missing or changed since export (sha256); export the model again")
    fields = {k: v for k, v in contract["card"].items() if k in _CARD_FIELDS}
    card = ModelCard(**{**fields, "scales": tuple(fields["scales"]), "weights_source": str(folder)})
    net = ExportedNet(folder, contract["files"], contract["weights_digest"], prefer)
    return SRModel(net, card, int(contract["scale"])).set_runtime(
        runtime.get("backend", "torch"), runtime.get("precision", "fp32")
    )

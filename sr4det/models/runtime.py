"""Compiled runtimes for SR networks: OpenVINO and ONNX Runtime on the CPU (and on CUDA GPUs), beside eager PyTorch.

The runtime is a property of the model object (:meth:`sr4det.models.wrapper.SRModel.set_runtime`); this module
builds what runs the *network* inside it::

    model = sr4det.create_model("rfdn_det", 4, pretrained=True).set_runtime("openvino", "fp32")
    sr = model(x)   # same contract; the network runs compiled

* ``backend``: ``"torch"`` (eager, the reference), ``"openvino"`` (``openvino.convert_model`` -> IR -> CPU plugin),
  ``"onnxruntime"`` (``torch.onnx.export``, dynamo exporter -> ONNX -> CPU execution provider).
* ``precision``: ``"fp32"`` (equal to torch within about 1e-5: tests/models/test_runtime.py gates every shipped model),
  ``"bf16"`` / ``"fp16"`` (OpenVINO's inference-precision hint, only where the CPU reports the capability; outputs
  differ from fp32 by up to grey levels: measure with eval/bench_sr_runtime.py before using them), ``"int8"`` (not
  offered: it needs post-training quantisation with calibration images, which sr4det does not do yet).
* GPU backends (**unverified until a GPU is lent**; :mod:`._cuda`): ``"onnxruntime-cuda"`` (ONNX Runtime's CUDA
  execution provider; fp32, or fp16 from an fp16 copy of the ONNX file) and ``"tensorrt"`` (ONNX Runtime's TensorRT
  execution provider; fp32 or fp16, engines cached beside the ONNX file per GPU model). They need a CUDA device
  (else :class:`InputError`) and the ``onnxruntime-gpu`` package (else ``MissingDependencyError``). Eager torch on a
  GPU needs no backend: ``create_model(..., device="cuda", dtype=torch.float16)``.

Conversion is done once per network (weights digest), backend, precision and runtime version, and the file is cached
under ``$SR4DET_CACHE/runtime`` (``~/.cache/sr4det/runtime``); OpenVINO also caches its compiled blobs there.
Shapes are dynamic (batch, height, width), so whole images and every tile size use one compiled model. Compiled
networks are inference only (no gradients) and run on the CPU with torch's intra-op thread count at compile time.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._digest import state_digest
from .._files import cache_root, mkstemp
from .._runtime_choices import BACKENDS, PRECISIONS
from ..errors import InputError
from ._compiled import CompiledNet
from ._convert import example_input, openvino_model, require, write_onnx, write_openvino

#: CUDA backends (unverified until a GPU is lent); not among BACKENDS, the CPU choices the command line offers
GPU_BACKENDS = ("onnxruntime-cuda", "tensorrt")
#: bumped when the files written for a key change meaning
_FORMAT = 1
_OV_HINT = {"fp32": "f32", "bf16": "bf16", "fp16": "f16"}
_OV_CAPABILITY = {"bf16": "BF16", "fp16": "FP16"}


def check_runtime(backend: str, precision: str) -> None:
    """Raise :class:`InputError` for an unknown backend or precision, or a pair sr4det does not offer (before any work)."""
    if backend not in BACKENDS + GPU_BACKENDS:
        raise InputError(f"backend must be one of {', '.join(BACKENDS + GPU_BACKENDS)}, got {backend!r}")
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "int8":
        raise InputError(
            "precision='int8' is not offered: it needs post-training quantisation (NNCF) with calibration images and a "
            "measured accuracy loss, which sr4det does not do yet; use fp32, or bf16 with backend='openvino'"
        )
    if backend == "torch" and precision != "fp32":
        raise InputError(
            f"backend='torch' runs the model's own dtype; for {precision} on torch pass dtype=torch."
            f"{'bfloat16' if precision == 'bf16' else 'float16'} (CLI: --half), or use backend='openvino'"
        )
    if backend == "onnxruntime" and precision != "fp32":
        raise InputError(
            f"backend='onnxruntime' runs fp32 on the CPU; for {precision} use backend='openvino' (or on a CUDA GPU "
            "backend='onnxruntime-cuda' / 'tensorrt' with fp16)"
        )
    if backend in GPU_BACKENDS:
        if precision != "fp32" and precision != "fp16":
            raise InputError(f"backend={backend!r} runs fp32 or fp16, got precision={precision!r}")
        from ._cuda import require_cuda

        require_cuda(backend)  # InputError without a CUDA device, MissingDependencyError without onnxruntime-gpu


def runtime_cache_dir() -> Path:
    """Where converted networks are cached: ``$SR4DET_CACHE/runtime`` or ``~/.cache/sr4det/runtime``."""
    return cache_root() / "runtime"


def runtime_version(backend: str) -> str:
    """The installed version of ``backend``'s runtime (part of every cache key)."""
    if backend == "openvino":
        return str(require("openvino", "the OpenVINO backend").get_version())
    if backend == "onnxruntime" or backend in GPU_BACKENDS:
        return str(require("onnxruntime", "the ONNX Runtime backend").__version__)
    return torch.__version__


_CORE: Any = None


def _ov_core():
    global _CORE
    if _CORE is None:
        _CORE = require("openvino", "the OpenVINO backend").Core()
    return _CORE


class OpenVINONet(CompiledNet):
    """An OpenVINO IR (``.xml`` + ``.bin``) compiled for the CPU plugin with an explicit inference precision (OpenVINO's
    default on bf16-capable CPUs is bf16, not fp32) and thread count; compiled blobs are cached on disk."""

    backend = "openvino"

    def __init__(self, path: Path, precision: str, threads: int):
        super().__init__(path, precision, threads)
        core = _ov_core()
        if precision in _OV_CAPABILITY:
            capabilities = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
            if _OV_CAPABILITY[precision] not in capabilities:
                raise InputError(
                    f"precision={precision!r}: this CPU does not support it in OpenVINO (capabilities: "
                    f"{', '.join(capabilities)}); use fp32"
                )
        config = {
            "INFERENCE_PRECISION_HINT": _OV_HINT[precision],
            "INFERENCE_NUM_THREADS": self.threads,
            "PERFORMANCE_HINT": "LATENCY",
            "CACHE_DIR": str(runtime_cache_dir() / "blobs-openvino"),
        }
        self._compiled = core.compile_model(str(path), "CPU", config)
        self._request = self._compiled.create_infer_request()

    def _run(self, x: np.ndarray) -> np.ndarray:
        self._request.infer({0: x})
        return self._request.get_output_tensor(0).data


class OrtNet(CompiledNet):
    """An ONNX file in an ONNX Runtime session on the CPU execution provider (all graph optimisations, torch's thread
    count)."""

    backend = "onnxruntime"

    def __init__(self, path: Path, precision: str, threads: int):
        super().__init__(path, precision, threads)
        ort = require("onnxruntime", "the ONNX Runtime backend")
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def _run(self, x: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: x})[0]


def open_compiled(
    path: str | Path,
    precision: str = "fp32",
    threads: int | None = None,
    *,
    backend: str | None = None,
    device_id: int | None = None,
    out_scale: int | None = None,
) -> CompiledNet:
    """Compile a network file for the CPU: ``.xml`` (OpenVINO IR) with OpenVINO, ``.onnx`` with ONNX Runtime; with
    ``backend`` one of :data:`GPU_BACKENDS`, a ``.onnx`` file for CUDA device ``device_id`` (default: the current
    one; ``out_scale``: output size / input size, lets the output stay on the GPU)."""
    path = Path(path)
    threads = torch.get_num_threads() if threads is None else int(threads)
    if backend in GPU_BACKENDS:
        from ._cuda import OrtCudaNet

        if path.suffix.lower() != ".onnx":
            raise InputError(f"backend={backend!r} runs ONNX files, not {path.name}")
        device_id = torch.cuda.current_device() if device_id is None else int(device_id)
        return OrtCudaNet(path, precision, threads, backend=backend, device_id=device_id, out_scale=out_scale)
    if path.suffix.lower() == ".xml":
        return OpenVINONet(path, precision, threads)
    if path.suffix.lower() == ".onnx":
        return OrtNet(path, precision, threads)
    raise InputError(f"{path}: not an OpenVINO IR (.xml) or ONNX (.onnx) file")


_MEMORY: dict[tuple[str, str, str, int, int | None], CompiledNet] = {}
_MEMORY_LOCK = threading.Lock()


def compile_net(
    net: nn.Module,
    *,
    backend: str,
    precision: str = "fp32",
    channels: int,
    min_size: int = 1,
    size_multiple: int = 1,
    threads: int | None = None,
    device_id: int | None = None,
    out_scale: int | None = None,
) -> CompiledNet:
    """``net`` converted (or read from the disk cache) and compiled by ``backend`` at ``precision``.

    Args:
        net: the network of an SRModel (its input: ``channels`` (1 or 3) float32 NCHW in [0, 1]).
        backend: ``"openvino"``, ``"onnxruntime"`` or one of :data:`GPU_BACKENDS`; precision: see :func:`check_runtime`.
        min_size, size_multiple: from the model card, to make a valid example input for tracing.
        threads: intra-op threads (default: ``torch.get_num_threads()``).
        device_id, out_scale: for :data:`GPU_BACKENDS` only (see :func:`open_compiled`).

    Raises:
        InputError: an unknown or unsupported backend/precision. MissingDependencyError: the runtime is not installed.
    """
    check_runtime(backend, precision)
    if backend == "torch":
        raise InputError("backend='torch' runs the network as it is; there is nothing to compile")
    threads = torch.get_num_threads() if threads is None else int(threads)
    if any(p.device.type != "cpu" for p in net.parameters()):  # a model on a GPU: convert a CPU copy
        net = copy.deepcopy(net).cpu()
    path = _converted(net, backend, precision, channels, min_size, size_multiple)
    gpu = backend in GPU_BACKENDS
    if gpu and device_id is None:
        device_id = torch.cuda.current_device()
    key = (str(path), backend, precision, threads, device_id if gpu else None)
    with _MEMORY_LOCK:
        if key not in _MEMORY:
            _MEMORY[key] = open_compiled(
                path, precision, threads, backend=backend, device_id=device_id if gpu else None, out_scale=out_scale
            )
        return _MEMORY[key]


def cache_folder(net: nn.Module, backend: str, precision: str, channels: int) -> tuple[list[Any], Path]:
    """The key of ``net``'s converted file and the cache folder named by it: format, backend, precision, channels,
    weights digest, runtime, torch and sr4det versions, and for :data:`GPU_BACKENDS` the execution provider."""
    from .._version import __version__

    parts: list[Any] = [
        _FORMAT,
        backend,
        precision,
        channels,
        state_digest(net),
        runtime_version(backend),
        torch.__version__,
        __version__,
    ]
    if backend in GPU_BACKENDS:
        from ._cuda import PROVIDERS

        parts.append(PROVIDERS[backend])
    digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:24]
    return parts, runtime_cache_dir() / f"{backend}-{type(net).__name__.lower()}-{digest}"


def _converted(net: nn.Module, backend: str, precision: str, channels: int, min_size: int, size_multiple: int) -> Path:
    """The cached network file for this key, written (atomically: a temporary folder renamed) when missing."""
    parts, folder = cache_folder(net, backend, precision, channels)
    name = "model.xml" if backend == "openvino" else "model.onnx"
    if (folder / name).is_file():
        return folder / name
    folder.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = mkstemp(folder.parent, prefix=folder.name + ".", suffix=".tmp")
    os.close(fd)
    os.unlink(tmp_name)  # a unique name for the temporary folder
    tmp = Path(tmp_name)
    tmp.mkdir()
    try:
        example = example_input(channels, min_size, size_multiple)
        if backend == "openvino":
            write_openvino(openvino_model(net, example), tmp / name)
        elif backend == "onnxruntime-cuda" and precision == "fp16":
            from ._cuda import write_fp16

            write_fp16(write_onnx(net, tmp / "fp32.onnx", example), tmp / name)
            (tmp / "fp32.onnx").unlink()
        else:
            write_onnx(net, tmp / name, example)
        (tmp / "key.json").write_text(json.dumps({"key": parts}))
        try:
            os.replace(tmp, folder)
        except OSError:  # another process wrote the same key first: use theirs
            if not (folder / name).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder / name

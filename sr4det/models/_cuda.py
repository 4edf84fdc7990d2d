"""CUDA runtimes for SR networks: ONNX Runtime with the CUDA or the TensorRT execution provider.

**Unverified until a GPU is lent**: written against the ONNX Runtime documentation, tested on the CPU only (the typed
errors, the cache keys and the fp16 conversion; tests/models/test_runtime_cuda.py). ``eval/bench_sr_gpu.py`` is the
prepared measurement for when a CUDA device exists.

* ``"onnxruntime-cuda"``: the cached ONNX file (fp32), or for ``precision="fp16"`` a copy with fp16 weights and
  arithmetic and float32 input/output (``onnxruntime.transformers.float16``, ``keep_io_types=True``), in a session on
  the CUDA execution provider; fp32 runs without TF32 (``use_tf32=0``).
* ``"tensorrt"``: the fp32 ONNX file in a session on the TensorRT execution provider (``trt_fp16_enable`` for fp16;
  its fp32 may use TF32 where TensorRT chooses to, which ONNX Runtime's options do not switch off);
  TensorRT's engines and timing cache are kept beside the ONNX file in a folder named by the GPU (engines are specific
  to the GPU model and the TensorRT version).

Inputs and outputs stay on the GPU (I/O binding on torch's buffers) when the input is a CUDA tensor.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InputError, MissingDependencyError
from ._compiled import CompiledNet
from ._convert import require

#: backend -> the ONNX Runtime execution provider that must run it (no silent fallback to another provider)
PROVIDERS = {"onnxruntime-cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}
GPU_PRECISIONS = ("fp32", "fp16")
_GPU_EXTRA = (
    "pip uninstall onnxruntime && pip install onnxruntime-gpu (the onnxruntime-gpu package: ONNX Runtime built with "
    "the CUDA and TensorRT execution providers; it replaces onnxruntime)"
)


def require_cuda(backend: str) -> Any:
    """The ``onnxruntime`` module when ``backend``'s execution provider can run here, else a typed error.

    Raises:
        InputError: no CUDA device (``torch.cuda.is_available()`` is False).
        MissingDependencyError: ONNX Runtime is missing or was built without the provider (names ``onnxruntime-gpu``).
    """
    provider = PROVIDERS[backend]
    if not torch.cuda.is_available():
        raise InputError(
            f"backend={backend!r} runs on a CUDA GPU, but no CUDA device is available (torch.cuda.is_available() is "
            "False); on the CPU use backend='openvino' or 'onnxruntime'"
        )
    try:
        ort = require("onnxruntime", f"backend={backend!r}")
    except MissingDependencyError as exc:
        raise MissingDependencyError(f"backend={backend!r} needs ONNX Runtime with CUDA: {_GPU_EXTRA}") from exc
    available = list(ort.get_available_providers())
    if provider not in available:
        raise MissingDependencyError(
            f"backend={backend!r} needs ONNX Runtime's {provider}, which this onnxruntime {ort.__version__} lacks "
            f"(it has {', '.join(available)}): {_GPU_EXTRA}"
            + ("; TensorRT itself: pip install tensorrt" if backend == "tensorrt" else "")
        )
    return ort


def device_tag(device_id: int) -> str:
    """``<gpu name>-sm<major><minor>`` of CUDA device ``device_id``: what TensorRT engines are specific to."""
    name = re.sub(r"[^a-z0-9]+", "-", torch.cuda.get_device_name(device_id).lower()).strip("-")
    major, minor = torch.cuda.get_device_capability(device_id)
    return f"{name}-sm{major}{minor}"


def write_fp16(src: Path, dst: Path) -> Path:
    """``src`` (an fp32 ONNX file) with fp16 weights and arithmetic, float32 input and output, written to ``dst``."""
    onnx = require("onnx", "fp16 ONNX for backend='onnxruntime-cuda'")
    from onnxruntime.transformers.float16 import convert_float_to_float16

    onnx.save(convert_float_to_float16(onnx.load(str(src)), keep_io_types=True), str(dst))
    return dst


class OrtCudaNet(CompiledNet):
    """An ONNX file in an ONNX Runtime session on CUDA device ``device_id`` through ``backend``'s execution provider
    (unverified until a GPU is lent). ``net(x)``: x float (B, C, H, W) -> float32 (B, C, H*out_scale, W*out_scale) on
    x's device; with ``out_scale`` None the output passes through host memory."""

    def __init__(
        self, path: Path, precision: str, threads: int, *, backend: str, device_id: int = 0, out_scale: int | None = None
    ):
        super().__init__(path, precision, threads)
        ort = require_cuda(backend)
        self.backend, self.device_id, self.out_scale = backend, int(device_id), out_scale
        cuda: dict[str, Any] = {"device_id": self.device_id}
        if precision == "fp32":
            cuda["use_tf32"] = 0  # fp32 means fp32: no TF32 tensor-core rounding on Ampere and later
        providers: list[Any] = [("CUDAExecutionProvider", cuda), "CPUExecutionProvider"]
        if backend == "tensorrt":
            engines = self.path.parent / f"trt-{device_tag(self.device_id)}-{_tensorrt_version()}"
            engines.mkdir(parents=True, exist_ok=True)
            trt = {
                "device_id": self.device_id,
                "trt_fp16_enable": precision == "fp16",
                "trt_engine_cache_enable": True,
                "trt_engine_cache_path": str(engines),
                "trt_timing_cache_enable": True,
                "trt_timing_cache_path": str(engines),
            }
            providers.insert(0, ("TensorrtExecutionProvider", trt))
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        self._session = ort.InferenceSession(str(path), options, providers=providers)
        if self._session.get_providers()[0] != PROVIDERS[backend]:  # ORT falls back quietly when a provider fails
            raise MissingDependencyError(
                f"backend={backend!r}: ONNX Runtime could not start {PROVIDERS[backend]} (session providers: "
                f"{', '.join(self._session.get_providers())}); check the CUDA/cuDNN"
                + ("/TensorRT (pip install tensorrt)" if backend == "tensorrt" else "")
                + f" libraries that onnxruntime-gpu {ort.__version__} needs"
            )
        self._input = self._session.get_inputs()[0].name
        self._output = self._session.get_outputs()[0].name

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        device = torch.device("cuda", self.device_id)
        xin = x.detach().to(device=device, dtype=torch.float32).contiguous()
        with self._lock:
            binding = self._session.io_binding()
            binding.bind_input(self._input, "cuda", self.device_id, np.float32, tuple(xin.shape), xin.data_ptr())
            out = None
            if self.out_scale is not None:
                b, c, h, w = xin.shape
                out = torch.empty((b, c, h * self.out_scale, w * self.out_scale), device=device, dtype=torch.float32)
                binding.bind_output(self._output, "cuda", self.device_id, np.float32, tuple(out.shape), out.data_ptr())
            else:
                binding.bind_output(self._output, "cpu")
            torch.cuda.current_stream(device).synchronize()  # xin is written on torch's stream; ORT reads on its own
            self._session.run_with_iobinding(binding)
            if out is None:
                out = torch.from_numpy(np.array(binding.copy_outputs_to_cpu()[0], dtype=np.float32, copy=True))
        return out.to(x.device)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path.name}, {self.backend}, precision={self.precision}, cuda:{self.device_id})"


def _tensorrt_version() -> str:
    try:
        import tensorrt  # type: ignore[import-not-found]

        return f"trt{tensorrt.__version__}"
    except ImportError:  # TensorRT libraries without the Python package: the engine folder is keyed by ORT's version
        return "ort" + str(require("onnxruntime", "backend='tensorrt'").__version__)

"""CUDA runtimes (ONNX Runtime CUDA / TensorRT providers) on a machine without a GPU: the typed errors, the cache keys,
the fp16 conversion, the provider options and the no-GPU path of eval/bench_sr_gpu.py. Nothing here needs a GPU (CUDA
and the providers are mocked); what runs on a GPU is unverified until one is lent."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import sr4det
from sr4det import InputError, MissingDependencyError
from sr4det._digest import state_digest
from sr4det.models import _cuda
from sr4det.models.runtime import GPU_BACKENDS, cache_folder, check_runtime

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxscript")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_cuda(monkeypatch):
    """torch sees a CUDA device (nothing may touch it) and ONNX Runtime reports ``providers`` (set by the test)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)

    def set_providers(*names):
        monkeypatch.setattr(ort, "get_available_providers", lambda: [*names, "CPUExecutionProvider"])

    set_providers("CUDAExecutionProvider", "TensorrtExecutionProvider")
    return set_providers


@pytest.mark.parametrize("backend", GPU_BACKENDS)
def test_a_gpu_backend_without_a_cuda_device_is_an_input_error(monkeypatch, backend):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match="no CUDA device is available"):
        sr4det.create_model("espcn", 2, backend=backend, precision="fp16")


@pytest.mark.parametrize("backend", GPU_BACKENDS)
def test_onnxruntime_without_the_cuda_providers_names_onnxruntime_gpu(fake_cuda, backend):
    fake_cuda()  # the CPU onnxruntime package: no GPU provider
    with pytest.raises(MissingDependencyError, match="pip install onnxruntime-gpu") as info:
        sr4det.create_model("espcn", 2, backend=backend)
    assert _cuda.PROVIDERS[backend] in str(info.value)


def test_tensorrt_without_its_provider_names_it(fake_cuda):
    fake_cuda("CUDAExecutionProvider")
    check_runtime("onnxruntime-cuda", "fp16")  # the CUDA provider alone is enough for onnxruntime-cuda
    with pytest.raises(MissingDependencyError, match="TensorrtExecutionProvider.*pip install tensorrt"):
        check_runtime("tensorrt", "fp16")


def test_a_missing_onnxruntime_names_onnxruntime_gpu(fake_cuda, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with pytest.raises(MissingDependencyError, match="onnxruntime-gpu"):
        check_runtime("onnxruntime-cuda", "fp32")


@pytest.mark.parametrize(("backend", "precision"), [("tensorrt", "bf16"), ("onnxruntime-cuda", "int8")])
def test_precisions_the_gpu_backends_do_not_run_are_refused(backend, precision):
    with pytest.raises(InputError):
        check_runtime(backend, precision)


def test_the_gpu_backends_are_not_offered_on_the_command_line():
    from sr4det.models.runtime import BACKENDS

    assert not set(GPU_BACKENDS) & set(BACKENDS)  # BACKENDS are the CLI's --backend choices: CPU only


def test_the_cache_key_holds_backend_provider_and_precision_and_cpu_keys_are_unchanged():
    net = sr4det.create_model("espcn", 2, pretrained=True).net
    folders = {}
    for backend, precision in [("onnxruntime", "fp32"), *((b, p) for b in GPU_BACKENDS for p in ("fp32", "fp16"))]:
        parts, folder = cache_folder(net, backend, precision, 3)
        folders[(backend, precision)] = folder
        assert folder.name.startswith(backend + "-")
        assert backend in parts and precision in parts
        if backend in GPU_BACKENDS:
            assert parts[-1] == _cuda.PROVIDERS[backend]
    assert len(set(folders.values())) == 5
    # the CPU key is the one sr4det has always written (caches on disk stay valid)
    old = [1, "onnxruntime", "fp32", 3, state_digest(net), ort.__version__, torch.__version__, sr4det.__version__]
    digest = hashlib.sha256(json.dumps(old).encode()).hexdigest()[:24]
    assert folders[("onnxruntime", "fp32")].name == f"onnxruntime-{type(net).__name__.lower()}-{digest}"


def _initializer_types(path: Path) -> set[int]:
    return {i.data_type for i in onnx.load(str(path)).graph.initializer}


def test_onnxruntime_cuda_fp16_converts_the_weights_and_keeps_float32_io(tmp_path, monkeypatch):
    from sr4det.models.runtime import _converted

    monkeypatch.setenv("SR4DET_CACHE", str(tmp_path))
    model = sr4det.create_model("espcn", 2, pretrained=True)
    fp16 = _converted(model.net, "onnxruntime-cuda", "fp16", 1, 1, 1)
    fp32 = _converted(model.net, "onnxruntime-cuda", "fp32", 1, 1, 1)
    assert fp16.parent != fp32.parent and sorted(p.name for p in fp16.parent.iterdir()) == ["key.json", "model.onnx"]
    assert onnx.TensorProto.FLOAT16 in _initializer_types(fp16) and onnx.TensorProto.FLOAT not in _initializer_types(fp16)
    assert onnx.TensorProto.FLOAT16 not in _initializer_types(fp32)
    graph = onnx.load(str(fp16)).graph
    assert graph.input[0].type.tensor_type.elem_type == graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    # the fp16 file still computes the network (ONNX Runtime's CPU provider runs it through casts)
    x = torch.rand(1, 1, 18, 22, generator=torch.Generator().manual_seed(0))
    out = ort.InferenceSession(str(fp16), providers=["CPUExecutionProvider"]).run(None, {"lr": x.numpy()})[0]
    with torch.inference_mode():
        reference = model.net(x).numpy()
    assert out.dtype == np.float32 and out.shape == reference.shape
    assert 0 < np.abs(out - reference).max() < 1e-2  # fp16 rounding: not the fp32 graph, not another network


class _Session:
    """An InferenceSession stand-in that records its providers and starts only the CUDA one (as ORT does when the
    TensorRT libraries are missing)."""

    made: list = []

    def __init__(self, path, options, providers):
        self.providers = providers
        _Session.made.append(self)

    def get_providers(self):
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]

    def get_inputs(self):
        return [type("Arg", (), {"name": "lr"})]

    get_outputs = get_inputs


def test_tensorrt_provider_options_and_a_silent_fallback_is_refused(fake_cuda, tmp_path, monkeypatch):
    monkeypatch.setattr(ort, "InferenceSession", _Session)
    monkeypatch.setattr(_cuda, "device_tag", lambda device_id: f"fake-gpu{device_id}-sm90")
    path = tmp_path / "runtime" / "key" / "model.onnx"
    path.parent.mkdir(parents=True)
    path.touch()
    with pytest.raises(MissingDependencyError, match="could not start TensorrtExecutionProvider"):
        _cuda.OrtCudaNet(path, "fp16", 1, backend="tensorrt", device_id=1)
    (name, options), cuda, cpu = _Session.made[-1].providers
    assert name == "TensorrtExecutionProvider" and cuda == ("CUDAExecutionProvider", {"device_id": 1})
    assert options["trt_fp16_enable"] is True and options["device_id"] == 1 and options["trt_engine_cache_enable"]
    engines = Path(options["trt_engine_cache_path"])
    assert engines.parent == path.parent and engines.name.startswith("trt-fake-gpu1-sm90-") and engines.is_dir()
    # the CUDA provider did start: onnxruntime-cuda accepts this session
    net = _cuda.OrtCudaNet(path, "fp32", 1, backend="onnxruntime-cuda", device_id=0)
    assert _Session.made[-1].providers[0] == ("CUDAExecutionProvider", {"device_id": 0, "use_tf32": 0})  # fp32: no TF32
    assert net.backend == "onnxruntime-cuda" and net.device_id == 0


def _bench(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}  # no GPU seen
    script = ROOT / "eval" / "bench_sr_gpu.py"
    return subprocess.run([sys.executable, str(script), *args], env=env, capture_output=True, text=True, timeout=300)


def test_the_gpu_benchmark_without_a_cuda_device_says_so_and_exits_2():
    proc = _bench("--models", "espcn")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "no CUDA device" in proc.stdout and "|" not in proc.stdout  # nothing measured, no table


def test_the_gpu_benchmark_dry_run_prints_its_plan_and_exits_0():
    proc = _bench("--dry-run")
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ("rfdn_det", "rfdn_real", "espcn", "torch fp16", "tensorrt fp16", "120x160", "270x480"):
        assert name in proc.stdout, name
    assert "no CUDA device" in proc.stdout

"""Compiled runtimes (OpenVINO, ONNX Runtime) behind SRModel: the exactness gate, the disk cache, tiling, bad choices."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

import sr4det
from sr4det import InputError, MissingDependencyError
from sr4det.models import load_model
from sr4det.models.runtime import runtime_cache_dir
from sr4det.models.weights import SHIPPED_DIR

pytest.importorskip("openvino")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

SHIPPED = sorted(p.name for p in SHIPPED_DIR.glob("*.pt"))
#: fp32 compiled output vs eager torch: the exactness gate of issue 25
TOLERANCE = 1e-5


def _image(h=21, w=30, channels=3, seed=0):
    return torch.rand(1, channels, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.slow
@pytest.mark.parametrize("file", SHIPPED)
def test_fp32_runtimes_equal_torch_on_every_shipped_model(file):
    model = load_model(SHIPPED_DIR / file)
    x = _image()
    with torch.inference_mode():
        reference = model(x)
        for backend in ("openvino", "onnxruntime"):
            model.set_runtime(backend, "fp32")
            assert model.backend == backend
            out = model(x)
            assert out.shape == reference.shape and out.dtype == torch.float32
            diff = float((out - reference).abs().max())
            assert diff <= TOLERANCE, f"{file} {backend}: max abs diff {diff:.3g} > {TOLERANCE}"
        model.set_runtime("torch")
        assert torch.equal(model(x), reference)


def _converted() -> set:
    folder = runtime_cache_dir()
    return {p / "model.xml" for p in folder.iterdir() if (p / "model.xml").is_file()} if folder.is_dir() else set()


def test_the_converted_network_is_cached_on_disk_by_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("SR4DET_CACHE", str(tmp_path))  # not the session's cache, where other tests converted espcn
    before = _converted()
    assert before == set()
    a = sr4det.create_model("espcn", 2, pretrained=True, backend="openvino")
    new = _converted() - before
    assert len(new) == 1
    (xml,) = new
    mtime = xml.stat().st_mtime_ns
    b = sr4det.create_model("espcn", 2, pretrained=True).set_runtime("openvino")  # same weights: the file is reused
    assert _converted() - before == new and xml.stat().st_mtime_ns == mtime
    x = _image(channels=3)
    with torch.inference_mode():
        assert torch.equal(a(x), b(x))
    torch.manual_seed(1)
    sr4det.create_model("espcn", 2, backend="openvino")  # random weights: another key
    assert len(_converted() - before) == 2


def test_load_state_dict_recompiles_the_snapshot():
    torch.manual_seed(0)
    model = sr4det.create_model("fsrcnn", 2, backend="onnxruntime")
    other = sr4det.create_model("fsrcnn", 2, pretrained=True)
    x = _image()
    with torch.inference_mode():
        before = model(x)
        model.load_state_dict(other.state_dict())
        after = model(x)
        assert model.backend == "onnxruntime"
        assert float((after - other(x)).abs().max()) <= TOLERANCE
        assert float((after - before).abs().max()) > 1e-2


def test_tiling_composes_with_a_compiled_model():
    model = sr4det.create_model("rfdn_det", 4, pretrained=True)
    image = (np.random.default_rng(0).random((40, 52, 3)) * 255).astype(np.uint8)
    reference = sr4det.upscale(model, image, tile=24, overlap=6, progress=False)
    model.set_runtime("openvino")
    tiled = sr4det.upscale(model, image, tile=24, overlap=6, progress=False)
    assert tiled.shape == reference.shape
    assert np.abs(tiled.astype(int) - reference.astype(int)).max() <= 1  # uint8 rounding of values equal within 1e-5


def test_gray_and_rgba_inputs_run_through_the_compiled_network():
    model = sr4det.create_model("espcn", 2, pretrained=True)
    for channels in (1, 4):
        x = _image(channels=channels)
        with torch.inference_mode():
            reference = model.set_runtime("torch")(x)
            out = model.set_runtime("onnxruntime")(x)
        assert float((out - reference).abs().max()) <= TOLERANCE


def test_interpolation_baselines_stay_on_torch():
    model = sr4det.create_model("bicubic", 4, backend="openvino")
    assert model.backend == "torch" and model.precision == "fp32"


@pytest.mark.parametrize(
    ("backend", "precision", "match"),
    [
        ("coreml", "fp32", "backend must be one of"),
        ("tensorrt", "bf16", "runs fp32 or fp16"),
        ("openvino", "fp8", "precision must be one of"),
        ("torch", "bf16", "dtype=torch.bfloat16"),
        ("onnxruntime", "bf16", "use backend='openvino'"),
        ("openvino", "int8", "not offered"),
    ],
)
def test_unknown_or_unsupported_choices_are_refused_before_any_work(backend, precision, match):
    with pytest.raises(InputError, match=match):
        sr4det.create_model("espcn", 2, backend=backend, precision=precision)


def test_a_model_off_the_cpu_or_not_fp32_is_refused():
    model = sr4det.create_model("espcn", 2).to(torch.bfloat16)
    with pytest.raises(InputError, match="float32 model on the CPU"):
        model.set_runtime("openvino")


@pytest.mark.parametrize(("backend", "module"), [("openvino", "openvino"), ("onnxruntime", "onnxscript")])
def test_a_missing_runtime_names_the_extra(monkeypatch, backend, module):
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(MissingDependencyError, match=r"sr4det\[export\]"):
        sr4det.create_model("espcn", 2, backend=backend)


def test_auto_tiling_probes_a_compiled_model_under_its_own_key():
    from sr4det.tiling.memory import _probe_key

    model = sr4det.create_model("espcn", 2, pretrained=True)
    image = (np.random.default_rng(1).random((30, 41, 3)) * 255).astype(np.uint8)
    reference = sr4det.upscale(model, image, tile="auto", progress=False)
    torch_key = _probe_key(model, torch.device("cpu"), None, 3, False)
    model.set_runtime("openvino")
    assert _probe_key(model, torch.device("cpu"), None, 3, False) == torch_key + "|openvino|fp32"
    out = sr4det.upscale(model, image, tile="auto", progress=False)
    assert np.abs(out.astype(int) - reference.astype(int)).max() <= 1

"""`sr4det export` folders: written with the input contract, loaded back by sr4det.load_model with equal output."""

from __future__ import annotations

import json

import pytest
import torch

import sr4det
from sr4det import InputError, WeightsError
from sr4det._digest import state_digest
from sr4det.cli import main
from sr4det.models import load_model
from sr4det.models.exported import CONTRACT, export_model

pytest.importorskip("openvino")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")


def _image(h=19, w=26, channels=3):
    return torch.rand(1, channels, h, w, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(("name", "scale"), [("fsrcnn", 2), ("rfdn_det", 4), ("srcnn", 2)])  # Y, RGB, pre-upsampling
def test_cli_export_loads_back_with_equal_output(tmp_path, capsys, name, scale):
    out = tmp_path / "export"
    assert main(["export", "-m", name, "-s", str(scale), "-o", str(out)]) == 0
    assert "model.onnx" in capsys.readouterr().out
    contract = json.loads((out / CONTRACT).read_text())
    reference = sr4det.create_model(name, scale, pretrained=True)
    assert contract["scale"] == scale
    assert contract["input"]["channels"] == (1 if reference.card.input_space == "y" else 3)
    assert contract["input"]["upsampling"] == reference.card.upsampling
    x = _image()
    with torch.inference_mode():
        expected = reference(x)
        for path, backend in [(out, "openvino"), (out / "model.onnx", "onnxruntime"), (out / "model.xml", "openvino")]:
            loaded = load_model(path)
            assert loaded.backend == backend and loaded.scale == scale and loaded.card.name == name
            assert float((loaded(x) - expected).abs().max()) <= 1e-5
        assert load_model(out, backend="onnxruntime").backend == "onnxruntime"


def test_exports_of_other_weights_have_other_digests(tmp_path):
    torch.manual_seed(0)
    a = export_model(sr4det.create_model("espcn", 2), tmp_path / "a", ("onnx",))
    b = export_model(sr4det.create_model("espcn", 2, pretrained=True), tmp_path / "b", ("onnx",))
    assert state_digest(load_model(a.parent)) != state_digest(load_model(b.parent))


def test_a_changed_or_partial_export_is_refused(tmp_path):
    folder = export_model(sr4det.create_model("espcn", 2, pretrained=True), tmp_path / "e", ("onnx",)).parent
    with pytest.raises(InputError, match="needs its openvino file"):
        load_model(folder, backend="openvino")
    with pytest.raises(sr4det.ScaleError, match="x2 model, not x4"):
        load_model(folder, scale=4)
    (folder / "model.onnx").write_bytes(b"broken")
    with pytest.raises(WeightsError, match="changed since export"):
        load_model(folder)
    lone = tmp_path / "lone.onnx"
    lone.write_bytes(b"x")
    with pytest.raises(WeightsError, match="no sr4det_export.json"):
        load_model(lone)


def test_interpolation_has_nothing_to_export(tmp_path):
    assert main(["export", "-m", "bicubic", "-o", str(tmp_path / "b")]) == 2

"""SRTransform(backend=...) and compiled SRModels across processes: pickling drops the compiled network, which is
compiled again (from the disk cache) where it is used."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch

import sr4det
from sr4det import InputError, SRTransform

pytest.importorskip("openvino")
pytest.importorskip("onnxruntime")


def _image():
    return (np.random.default_rng(0).random((15, 22, 3)) * 255).astype(np.uint8)


def test_sr_transform_with_a_compiled_backend_matches_torch_and_pickles():
    reference = SRTransform("espcn", scale=2, tile=None, device="cpu")(_image())
    t = SRTransform("espcn", scale=2, tile=None, backend="onnxruntime")
    assert t.model.backend == "onnxruntime" and t.model.device.type == "cpu"
    out = t(_image())
    assert np.abs(out.astype(int) - reference.astype(int)).max() <= 1
    clone = pickle.loads(pickle.dumps(t))
    assert np.array_equal(clone(_image()), out)


def test_a_compiled_model_survives_deepcopy_and_pickle():
    model = sr4det.create_model("fsrcnn", 2, pretrained=True, backend="openvino")
    x = torch.rand(1, 3, 12, 17, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        out = model(x)
        for other in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
            assert other.backend == "openvino"
            assert torch.equal(other(x), out)


def test_sr_transform_sets_the_runtime_of_a_given_model():
    model = sr4det.create_model("espcn", 2, pretrained=True)
    assert SRTransform(model, backend="openvino").model.backend == "openvino"
    with pytest.raises(InputError, match="precision must be one of"):
        SRTransform("espcn", scale=2, backend="openvino", precision="fp64")

"""Bad inputs to models, weight files and the registry fail with typed errors that name the fix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import sr4det
from sr4det.errors import InputError, SR4DetError, WeightsError
from sr4det.models import read_weights, validate_image_tensor, weights


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_pixels_are_rejected(bad):
    x = torch.rand(1, 3, 4, 4)
    x[0, 1, 2, 3] = bad
    with pytest.raises(InputError, match="NaN/Inf"):
        validate_image_tensor(x)


def test_nan_pixels_do_not_reach_the_network():
    model = sr4det.create_model("bicubic", scale=2)
    x = torch.full((1, 3, 4, 4), float("nan"))
    with pytest.raises(InputError, match="NaN/Inf"):
        model(x)


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 3), np.uint8), [[0.0, 1.0]], None])
def test_model_called_with_a_non_tensor_names_the_conversion(bad):
    model = sr4det.create_model("bicubic", scale=2)
    with pytest.raises(InputError, match="to_tensor") as info:
        model(bad)
    assert isinstance(info.value, SR4DetError)
    assert type(bad).__name__ in str(info.value)


# --------------------------------------------------------------------------------------------- weight files


def test_garbage_safetensors_is_a_weights_error(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"this is not a safetensors file" * 4)
    with pytest.raises(WeightsError, match="corrupt"):
        read_weights(path)


def _sr4det_dict(**fields):
    return {"format": weights.WEIGHTS_FORMAT, "arch": "espcn", "scale": 2, "kwargs": {}, "meta": {}, **fields}


@pytest.mark.parametrize(
    "payload",
    [
        _sr4det_dict(),  # no state_dict at all
        _sr4det_dict(state_dict=[1, 2, 3]),
        _sr4det_dict(state_dict={}),
        _sr4det_dict(state_dict={"w": "not a tensor"}),
    ],
)
def test_sr4det_format_without_a_usable_state_dict(tmp_path, payload):
    path = tmp_path / "w.pt"
    torch.save(payload, path)
    with pytest.raises(WeightsError, match="state_dict"):
        read_weights(path)


@pytest.mark.parametrize("field, value", [("scale", "4"), ("scale", 0), ("arch", 3), ("kwargs", [1]), ("meta", "x")])
def test_sr4det_format_with_bad_fields(tmp_path, field, value):
    path = tmp_path / "w.pt"
    torch.save(_sr4det_dict(state_dict={"w": torch.zeros(2)}, **{field: value}), path)
    with pytest.raises(WeightsError, match=field):
        read_weights(path)


# --------------------------------------------------------------------------------------------- registry options


def test_unknown_model_option_lists_the_accepted_ones():
    with pytest.raises(InputError, match="'foo'") as info:
        sr4det.create_model("espcn", 4, foo=1)
    assert "channels" in str(info.value)  # ESPCN's real options are listed


def test_option_of_a_factory_without_kwargs():
    with pytest.raises(InputError, match="kernel"):
        sr4det.create_model("bicubic", 2, depth=3)


def test_known_options_still_work():
    model = sr4det.create_model("vdsr", scale=4, depth=3, channels=8)
    assert model.card.params > 0


@pytest.mark.parametrize("name", ["srcnn", "espcn", "rfdn"])
def test_a_saved_srmodel_state_dict_loads_with_its_arch(tmp_path, name):
    """torch.save(model.state_dict()) of an SRModel has keys 'net.*'; create_model(weights=) and arch= take it."""
    scale = 4
    model = sr4det.create_model(name, scale)
    path = tmp_path / "m.pth"
    torch.save(model.state_dict(), path)
    again = sr4det.create_model(name, scale, weights=path)
    x = torch.rand(1, 3, 12, 12)
    assert torch.equal(model(x), again(x))
    assert torch.equal(model(x), sr4det.load_model(path, arch=name, scale=scale)(x))


def test_a_saved_srmodel_state_dict_without_arch_names_the_fix(tmp_path):
    path = tmp_path / "m.pth"
    torch.save(sr4det.create_model("srcnn", 4).state_dict(), path)
    with pytest.raises(WeightsError, match=r"SRModel\.state_dict\(\).*arch=NAME"):
        sr4det.load_model(path)


def test_a_folder_is_not_a_weight_file(tmp_path):
    with pytest.raises(WeightsError, match="is a folder, not a weight file"):
        sr4det.load_model(tmp_path)


@pytest.mark.parametrize("scale", [4.0, "4", True, 2.5])
def test_non_integer_scale_is_a_scale_error_naming_int(scale):
    from sr4det.errors import ScaleError

    with pytest.raises(ScaleError, match=r"scale must be an integer.*int\(scale\)"):
        sr4det.create_model("espcn", scale)


def test_numpy_integer_scale_is_accepted():
    assert sr4det.create_model("bicubic", np.int64(2)).scale == 2


# ------------------------------------------------------------------------------------- second audit


@pytest.mark.parametrize("name, near", [("ESPCN", "espcn"), ("espcm", "espcn"), ("rrdb", "rrdbnet")])
def test_unknown_model_name_is_a_typed_key_error_suggesting_the_near_name(name, near):
    from sr4det.errors import UnknownModelError

    with pytest.raises(UnknownModelError, match=f"did you mean '{near}'") as info:
        sr4det.create_model(name, scale=2)
    assert isinstance(info.value, KeyError)  # what unknown names always raised
    assert str(info.value).startswith("unknown model")  # not KeyError's quoted repr
    with pytest.raises(UnknownModelError, match=f"did you mean '{near}'"):
        sr4det.resolve_model(name, scale=2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"device": "gpu"}, "not a torch device"),
        ({"dtype": "float16"}, "torch.float16"),
        ({"dtype": torch.int8}, "floating-point torch.dtype"),
    ],
)
def test_bad_device_or_dtype_is_an_input_error_before_the_model_loads(kwargs, match):
    with pytest.raises(InputError, match=match):
        sr4det.create_model("espcn", scale=2, **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_device_without_cuda_names_cpu():
    with pytest.raises(InputError, match="device=cpu"):
        sr4det.create_model("espcn", scale=2, device="cuda")


def test_a_pickled_module_names_state_dict_not_weights_only(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(torch.nn.Conv2d(3, 3, 3), path)
    with pytest.raises(WeightsError, match=r"state_dict\(\)") as info:
        sr4det.load_model(path)
    assert "weights_only=False" not in str(info.value)


def test_opencv_graph_given_to_create_model_names_load_model(tmp_path):
    pb = tmp_path / "ESPCN_x2.pb"
    pb.write_bytes(b"\x0a\x00graph")
    with pytest.raises(WeightsError, match=r"load_model\(path\)"):
        sr4det.create_model("espcn", scale=2, weights=str(pb))


def test_weights_path_entry_that_is_not_a_folder_is_named(tmp_path, monkeypatch):
    from sr4det.errors import WeightsNotAvailableError

    monkeypatch.setenv("SR4DET_WEIGHTS_PATH", str(tmp_path / "typo"))
    monkeypatch.setenv("SR4DET_SHARED", str(tmp_path / "no_shared"))  # the shared folder would hold the file
    monkeypatch.setenv("SR4DET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SR4DET_OFFLINE", "1")
    with pytest.raises(WeightsNotAvailableError, match="SR4DET_WEIGHTS_PATH lists .*typo.*not a folder"):
        sr4det.create_model("imdn", scale=2, pretrained=True)


@pytest.mark.parametrize("name", ["espcn", "rfdn"])  # a Y-channel and an RGB post-upsampling network
def test_a_network_of_another_scale_is_a_scale_mismatch_not_a_shape_error(name):
    from sr4det.errors import ScaleMismatchError
    from sr4det.models import build_network
    from sr4det.models.wrapper import SRModel

    net, card = build_network(name, 2)
    model = SRModel(net, card, 4)  # an x2 network told it is x4
    with pytest.raises(ScaleMismatchError, match="load the x4 weights") as info:
        model(torch.rand(1, 3, 16, 16))
    assert isinstance(info.value, ValueError)
    from sr4det.tiling import upscale

    with pytest.raises(ScaleMismatchError):
        upscale(model, torch.rand(3, 40, 40), tile=16, overlap=4)


def test_an_integer_state_dict_is_refused_not_cast_to_float(tmp_path):
    # copy_ used to cast the integers silently: espcn's weights became 0/1 and its output black
    model = sr4det.create_model("espcn", 4)
    path = tmp_path / "int.pth"
    torch.save({k: (v * 1000).to(torch.int64) for k, v in model.net.state_dict().items()}, path)
    with pytest.raises(WeightsError, match=r"stored as integers.*torch.int64"):
        sr4det.create_model("espcn", 4, weights=path)

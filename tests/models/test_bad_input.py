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

"""Empty images given to the transforms fail with InputError before any model runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sr4det.errors import InputError
from sr4det.transforms import Degrade, SRTransform


@pytest.mark.parametrize(
    "image",
    [
        torch.zeros(3, 0, 5),
        torch.zeros(0, 3, 4, 4),
        torch.zeros(1, 3, 4, 0, dtype=torch.uint8),
        np.zeros((0, 4, 3), np.uint8),
        np.zeros((4, 0), np.uint16),
    ],
)
@pytest.mark.parametrize("tile", [None, "auto"])
def test_empty_image_in_sr_transform(image, tile):
    t = SRTransform("bicubic", scale=2, tile=tile)
    with pytest.raises(InputError, match="empty"):
        t(image)


def test_empty_image_in_degrade():
    with pytest.raises(InputError, match="empty"):
        Degrade(2)(torch.zeros(0, 3, 4, 4))


# ------------------------------------------------------------------------------------------------ deep PIL modes


def _gradient16(h: int = 12, w: int = 16) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return (xx * 4000 + yy * 300).astype(np.uint16)  # 0 .. 63300: mostly above 255


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I"])
def test_pil_16_bit_and_int_modes_keep_their_depth(mode):
    import PIL.Image

    arr = _gradient16()
    img = PIL.Image.fromarray(arr) if mode == "I;16" else PIL.Image.fromarray(arr).convert(mode) if mode == "I" else None
    if img is None:
        img = PIL.Image.frombytes("I;16B", (arr.shape[1], arr.shape[0]), arr.astype(">u2").tobytes())
    assert np.array_equal(np.asarray(img).astype(np.int64), arr)
    t = SRTransform("bicubic", scale=2, tile=None)
    out = t(img)
    assert out.mode == ("I" if mode == "I" else "I;16")
    assert out.size == (32, 24)
    expected = t(arr)  # the same pixels as a uint16 array
    np.testing.assert_array_equal(np.asarray(out).astype(np.int64), expected.astype(np.int64))
    assert np.asarray(out).max() > 60000  # not saturated to white/black
    assert len(np.unique(np.asarray(out))) > 100
    lr = Degrade(2)(img)
    assert lr.mode == out.mode
    assert np.asarray(lr).max() > 255


def test_pil_float_mode_in_unit_range_is_kept():
    import PIL.Image

    arr = (_gradient16() / 65535.0).astype(np.float32)
    out = SRTransform("bicubic", scale=2, tile=None)(PIL.Image.fromarray(arr))
    assert out.mode == "F"
    np.testing.assert_allclose(np.asarray(out), SRTransform("bicubic", scale=2, tile=None)(arr), atol=1e-6)
    assert 0.3 < np.asarray(out).mean() < 0.7


@pytest.mark.parametrize(
    "values, match",
    [
        (np.array([[0, 70000]], np.int32), "0..65535"),
        (np.array([[-5, 10]], np.int32), "0..65535"),
        (np.array([[0.0, 2.0]], np.float32), r"\[0, 1\]"),
        (np.array([[0.0, np.nan]], np.float32), "NaN"),
    ],
)
def test_pil_deep_modes_out_of_range_are_input_errors(values, match):
    import PIL.Image

    img = PIL.Image.fromarray(values)
    with pytest.raises(InputError, match=match):
        SRTransform("bicubic", scale=2, tile=None)(img)


# ------------------------------------------------------------------------------------- second audit


@pytest.mark.parametrize("mode, straight", [("La", "LA"), ("RGBa", "RGBA")])
def test_premultiplied_alpha_modes_keep_their_alpha(mode, straight):
    import PIL.Image

    rng = np.random.default_rng(0)
    img = PIL.Image.fromarray(rng.integers(0, 256, (6, 8, 4), dtype=np.uint8), "RGBA").convert(straight).convert(mode)
    out = SRTransform("bicubic", scale=2, tile=None)(img)
    assert out.mode == "RGBA"
    assert out.size == (16, 12)


def test_big_endian_numpy_image_equals_the_native_one():
    rng = np.random.default_rng(0)
    native = rng.integers(0, 65536, (6, 8, 3)).astype(np.uint16)
    t = SRTransform("bicubic", scale=2, tile=None)
    np.testing.assert_array_equal(t(native.astype(">u2")), t(native))


def test_tile_true_is_refused():
    with pytest.raises(InputError, match="positive int"):
        SRTransform("bicubic", scale=2, tile=True)


def test_device_typo_is_an_input_error_naming_the_form():
    with pytest.raises(InputError, match="device=cpu"):
        SRTransform("bicubic", scale=2, device="gpu")


def test_unknown_model_name_suggests_the_near_one():
    with pytest.raises(InputError, match="did you mean 'espcn'"):
        SRTransform("Espcm", scale=2)


@pytest.mark.parametrize("budget", ["abc", "-1GB", 0, "0.1"])
def test_a_bad_memory_budget_is_refused_when_the_transform_is_made(budget):
    with pytest.raises(InputError, match="memory size"):
        SRTransform("bicubic", scale=2, max_memory=budget)


def test_torch_uint16_tensors_keep_their_depth_like_numpy_uint16():
    arr = np.stack([_gradient16()] * 3, axis=-1)  # (H, W, 3) uint16
    t16 = torch.from_numpy(arr.astype(np.int32)).permute(2, 0, 1).to(torch.uint16)
    t = SRTransform("bicubic", scale=2, tile=None)
    out = t(t16)
    assert out.dtype == torch.uint16
    assert out.shape == (3, 24, 32)
    np.testing.assert_array_equal(out.to(torch.int32).permute(1, 2, 0).numpy(), t(arr).astype(np.int32))
    assert int(out.to(torch.int32).max()) > 60000  # not saturated at 255
    lr = Degrade(2)(t16)
    assert lr.dtype == torch.uint16
    np.testing.assert_array_equal(lr.to(torch.int32).permute(1, 2, 0).numpy(), Degrade(2)(arr).astype(np.int32))


def test_pil_lab_image_comes_back_rgb_not_rgba():
    # "LAB" has an "A" band (a colour axis): it was taken for alpha and the result had a constant alpha channel
    import PIL.Image

    rgb = PIL.Image.fromarray(np.random.default_rng(0).integers(0, 256, (8, 10, 3), dtype=np.uint8))
    lab = rgb.convert("LAB")
    t = SRTransform("bicubic", scale=2, tile=None)
    out = t(lab)
    assert out.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(out), np.asarray(t(lab.convert("RGB"))))


@pytest.mark.parametrize("kind", ["truncated", "animated"])
def test_srtransform_on_a_truncated_or_animated_pil_image_is_a_data_error(tmp_path, kind):
    # PIL opens lazily: a truncated file used to fail inside the transform as a raw OSError; an animated GIF lost
    # every frame but the first without a word
    import numpy as np
    import PIL.Image

    from sr4det.errors import DataError
    from sr4det.transforms import SRTransform

    frames = [PIL.Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)) for i in range(3)]
    path = tmp_path / ("a.png" if kind == "truncated" else "a.gif")
    if kind == "truncated":
        PIL.Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
        path.write_bytes(path.read_bytes()[:2000])
    else:
        frames[0].save(path, save_all=True, append_images=frames[1:])
    with (
        PIL.Image.open(path) as img,
        pytest.raises(DataError, match="truncated or corrupt" if kind == "truncated" else "3 frames"),
    ):
        SRTransform("bicubic", scale=2)(img)


def test_read_image_refuses_an_animated_gif_instead_of_keeping_its_first_frame(tmp_path):
    import numpy as np
    import PIL.Image

    from sr4det.data.io import read_image
    from sr4det.errors import DataError

    frames = [PIL.Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)) for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "still.gif")
    assert read_image(tmp_path / "still.gif")[0].shape == (16, 16, 3)
    with pytest.raises(DataError, match="animated image with 3 frames.*extract the frames"):
        read_image(tmp_path / "anim.gif")

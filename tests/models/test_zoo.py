"""Every zoo architecture at every scale honours the SRModel contract."""

from __future__ import annotations

import pytest
import torch

import sr4det
from sr4det import InputError, ScaleError
from sr4det.models import build_network, get_card, list_models

# small widths keep the suite fast; the full-size defaults are checked once below
_SMALL = {
    "rrdbnet": dict(nb=1, nf=8, gc=4),
    "edsr": dict(n_resblocks=1, n_feats=8),
    "srresnet": dict(n_blocks=1, channels=8),
    "srgan": dict(n_blocks=1, channels=8),
    "vdsr": dict(depth=4, channels=8),
}
CASES = [(name, scale) for name in list_models() for scale in get_card(name).scales]


@pytest.mark.parametrize("name,scale", CASES)
def test_output_shape_dtype_range(name, scale):
    model = sr4det.create_model(name, scale=scale, **_SMALL.get(name, {}))
    x = torch.rand(2, 3, 11, 14)
    with torch.inference_mode():
        y = model(x)
    assert y.shape == (2, 3, 11 * scale, 14 * scale)
    assert y.dtype == torch.float32
    assert float(y.min()) >= 0.0
    assert float(y.max()) <= 1.0
    assert model.scale == scale
    assert model.card.name == name


@pytest.mark.parametrize("name", list_models())
def test_default_configs_build_and_count_params(name):
    scale = 4 if 4 in get_card(name).scales else get_card(name).scales[0]
    net, card = build_network(name, scale)
    assert card.params == sum(p.numel() for p in net.parameters())
    assert card.receptive_field is not None
    assert card.receptive_field >= 1


def test_paper_sizes():
    # parameter counts of the published configurations (SRCNN 9-5-5 with 64/32 filters: 57,281; ESPCN Y: 24,752 at x4)
    assert build_network("srcnn", 4)[1].params == 9 * 9 * 64 + 64 + 5 * 5 * 64 * 32 + 32 + 5 * 5 * 32 + 1
    assert build_network("espcn", 4)[1].params == 24_752
    assert build_network("edsr", 4)[1].params == 1_517_595  # EDSR baseline x4 (paper: 1.5M)
    assert build_network("rrdbnet", 4)[1].params == 16_697_987  # ESRGAN RRDBNet (16.7M)


def test_unsupported_scale_is_a_scale_error():
    with pytest.raises(ScaleError, match="supports scales"):
        sr4det.create_model("espcn", scale=5)


def test_unknown_model_lists_the_zoo():
    with pytest.raises(KeyError, match="espcn"):
        sr4det.create_model("no-such-model")


@pytest.mark.parametrize("channels", [1, 4])
def test_gray_and_rgba_keep_their_channels(channels):
    model = sr4det.create_model("espcn", scale=2)
    x = torch.rand(1, channels, 8, 9)
    with torch.inference_mode():
        y = model(x)
    assert y.shape == (1, channels, 16, 18)
    if channels == 4:  # alpha is bicubic-upsampled, independent of the network
        expected = sr4det.create_model("bicubic", scale=2)(x[:, 3:].expand(-1, 3, -1, -1))[:, :1]
        torch.testing.assert_close(y[:, 3:], expected, atol=1e-5, rtol=0)


def test_gray_input_matches_rgb_with_equal_channels():
    model = sr4det.create_model("srresnet", scale=2, n_blocks=1, channels=8)
    g = torch.rand(1, 1, 7, 6)
    with torch.inference_mode():
        torch.testing.assert_close(model(g), model(g.expand(-1, 3, -1, -1)).mean(1, keepdim=True))


def test_y_channel_models_only_change_luma():
    """A Y-space model sees only luma: chroma of its output equals bicubic-upsampled chroma."""
    from sr4det.color import rgb_to_ycbcr

    model = sr4det.create_model("fsrcnn_s", scale=2)
    with torch.no_grad():  # a network that outputs constant mid-grey luma, so no RGB value is clamped
        for p in model.parameters():
            p.zero_()
        model.net.deconv.bias.fill_(0.5)
    bicubic = sr4det.create_model("bicubic", scale=2)
    x = 0.4 + 0.2 * torch.rand(1, 3, 10, 10)
    with torch.inference_mode():
        y_model, y_bic = rgb_to_ycbcr(model(x)), rgb_to_ycbcr(bicubic(x))
    torch.testing.assert_close(y_model[:, 1:], y_bic[:, 1:], atol=1e-5, rtol=0)
    torch.testing.assert_close(y_model[:, :1], torch.full_like(y_model[:, :1], 0.5), atol=1e-5, rtol=0)
    assert not torch.allclose(y_model[:, :1], y_bic[:, :1], atol=1e-3)


def test_pre_upsampling_model_sees_enlarged_input():
    seen = {}
    model = sr4det.create_model("srcnn", scale=3)

    def record(module, inputs, output):
        seen["shape"] = tuple(inputs[0].shape)

    model.net.register_forward_hook(record)
    with torch.inference_mode():
        model(torch.rand(1, 3, 5, 7))
    assert seen["shape"] == (1, 1, 15, 21)


def test_zero_network_pre_upsampling_equals_bicubic():
    """VDSR with a zeroed residual branch is exactly its bicubic pre-upsampler (on the Y path)."""
    model = sr4det.create_model("vdsr", scale=2, depth=3, channels=4)
    for p in model.parameters():
        torch.nn.init.zeros_(p)
    x = torch.rand(1, 3, 9, 9) * 0.5 + 0.25
    with torch.inference_mode():
        torch.testing.assert_close(model(x), sr4det.create_model("bicubic", scale=2)(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "bad,match",
    [
        (torch.randint(0, 255, (1, 3, 8, 8), dtype=torch.uint8), "float"),
        (torch.rand(3, 8), "shape"),
        (torch.rand(1, 2, 8, 8), "channels"),
        (torch.rand(1, 3, 8, 8) * 255, "0-255"),
        (torch.rand(1, 3, 0, 8), "empty"),
    ],
)
def test_bad_input_is_rejected_clearly(bad, match):
    model = sr4det.create_model("bicubic", scale=2)
    with pytest.raises(InputError, match=match):
        model(bad)


def test_half_precision_model_keeps_input_dtype():
    model = sr4det.create_model("espcn", scale=2, dtype=torch.bfloat16)
    y = model(torch.rand(1, 3, 6, 6))
    assert y.dtype == torch.float32
    assert y.shape == (1, 3, 12, 12)


def test_size_multiple_is_padded_and_cropped():
    model = sr4det.create_model("rrdbnet", scale=2, nb=1, nf=8, gc=4)
    assert model.card.size_multiple == 2
    with torch.inference_mode():
        assert model(torch.rand(1, 3, 7, 5)).shape == (1, 3, 14, 10)

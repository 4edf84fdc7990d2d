"""`sr4det upscale --half`: bfloat16 on the CPU where the model card allows it, a typed refusal where it does not."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import sr4det.commands.upscale as upscale_cmd
import sr4det.models.card
import sr4det.tiling
from sr4det.cli import main
from sr4det.data.io import read_image, write_image
from sr4det.errors import InputError


@pytest.fixture
def image(tmp_path):
    rng = np.random.default_rng(0)
    return write_image(tmp_path / "in.png", rng.integers(0, 65536, (12, 10, 3), dtype=np.uint16))


def _args(src, out, *extra):
    return [
        "upscale",
        str(src),
        "-o",
        str(out),
        "--model",
        "espcn",
        "--no-pretrained",
        "--device",
        "cpu",
        "--tile",
        "none",
        "--quiet",
        *extra,
    ]


def test_half_on_cpu_runs_bfloat16(tmp_path, image, monkeypatch):
    seen = []
    real = sr4det.tiling.upscale

    def spy(*a, **kw):
        seen.append(kw.get("dtype"))
        return real(*a, **kw)

    monkeypatch.setattr(sr4det.tiling, "upscale", spy)
    torch.manual_seed(0)
    assert main(_args(image, tmp_path / "fp32.png")) == 0
    torch.manual_seed(0)  # the same random weights
    assert main(_args(image, tmp_path / "half.png", "--half")) == 0
    assert seen == [None, torch.bfloat16]
    full, half = read_image(tmp_path / "fp32.png")[0].astype(np.int64), read_image(tmp_path / "half.png")[0].astype(np.int64)
    assert full.shape == half.shape == (48, 40, 3)
    diff = np.abs(full - half)
    assert diff.max() > 0  # bfloat16 really ran (16-bit output shows its rounding)
    assert diff.mean() < 0.02 * 65535  # ... and gives nearly the same image


def test_half_refused_when_card_does_not_allow_it(tmp_path, image, monkeypatch, capsys):
    real = upscale_cmd.load_model_from_args

    def load(args):
        model = real(args)
        model.card = dataclasses.replace(model.card, supports_bf16=False)
        return model

    monkeypatch.setattr(upscale_cmd, "load_model_from_args", load)
    assert main(_args(image, tmp_path / "out.png", "--half")) == 2
    assert "supports_bf16" in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()
    assert main(_args(image, tmp_path / "out.png")) == 0  # without --half the same card is fine


def test_half_dtype_per_device_and_card():
    class Fake:
        def __init__(self, device, **card):
            self.device = torch.device(device)
            self.card = dataclasses.replace(sr4det.models.card.ModelCard(name="fake", scales=(2,)), **card)

    assert upscale_cmd.half_dtype(Fake("cpu")) is torch.bfloat16
    assert upscale_cmd.half_dtype(Fake("cuda")) is torch.float16
    assert upscale_cmd.half_dtype(Fake("cpu", supports_half=False)) is torch.bfloat16
    with pytest.raises(InputError, match="supports_half"):
        upscale_cmd.half_dtype(Fake("cuda", supports_half=False))
    with pytest.raises(InputError, match="supports_bf16"):
        upscale_cmd.half_dtype(Fake("cpu", supports_bf16=False))

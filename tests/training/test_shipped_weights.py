"""The weights shipped in sr4det/models/weights: present, small, loadable via pretrained=True, better than bicubic."""

from __future__ import annotations

import pytest
import torch

from sr4det.models import create_model, read_weights
from sr4det.models.loading import SHIPPED_DIR

SHIPPED = [
    ("espcn", 2), ("espcn", 4), ("fsrcnn", 2), ("fsrcnn", 4), ("srcnn", 2), ("srcnn", 4),
    ("vdsr", 4), ("srresnet", 4), ("srgan", 4),
]


@pytest.mark.parametrize("name,scale", SHIPPED)
def test_shipped_file_is_small_and_loads_with_pretrained(name, scale):
    path = SHIPPED_DIR / f"{name}_x{scale}.pt"
    assert path.is_file(), f"{path} is missing: train it with pipelines/train_sr.py (eval/RESULTS.md)"
    assert path.stat().st_size < 5 * 1024 * 1024
    wf = read_weights(path)
    assert (wf.arch, wf.scale) == (name, scale)
    assert wf.meta.get("trained_by") == "sr4det.training" and wf.meta.get("steps", 0) > 0
    model = create_model(name, scale, pretrained=True)
    assert model.card.weights_source.startswith("sr4det")
    x = torch.rand(1, 3, 13, 17)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (1, 3, 13 * scale, 17 * scale)
    assert torch.isfinite(y).all() and 0 <= float(y.min()) and float(y.max()) <= 1


@pytest.mark.slow
@pytest.mark.parametrize("name", ["espcn", "srresnet"])
def test_shipped_x4_beats_bicubic_on_a_set5_image(shared, name):
    from sr4det.metrics import psnr_y
    from sr4det.training import load_benchmark, super_resolve_uint8

    _, hr, lr = load_benchmark(shared("data", "sr_benchmark", "Set5"), 4, limit=3)[2]  # the butterfly
    bicubic = psnr_y(super_resolve_uint8(create_model("bicubic", 4), lr), hr, shave=4)
    ours = psnr_y(super_resolve_uint8(create_model(name, 4, pretrained=True), lr), hr, shave=4)
    assert ours > bicubic + 0.5

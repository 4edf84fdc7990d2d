"""Fixtures shared by the evaluation tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def tiny_sr(tmp_path):
    """Weights of a small randomly initialised ESPCN x4 (seed 0), saved as an sr4det weights file."""
    import torch

    from sr4det.models import create_model, save_weights

    torch.manual_seed(0)
    return save_weights(tmp_path / "tiny.pt", create_model("espcn", scale=4).net, arch="espcn", scale=4)

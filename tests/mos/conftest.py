"""Tiny MOS studies made in code (LR sides >= 11 px so any tiler overlap fits): three HR scenes (RGB, gray, 16-bit RGBA) and a random-weight ESPCN file."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from sr4det.data.io import write_image
from sr4det.models import build_network, save_weights

METHODS = "bicubic,bilinear,tiny=TINY"


def _scene(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth colour pattern plus an edge: something every upscaler renders differently."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.stack([128 + 100 * np.sin(xx / (3 + c) + rng.uniform(0, 6)) * np.cos(yy / (4 + c)) for c in range(3)], axis=2)
    img[:, w // 2 :] *= 0.6
    return np.clip(img, 0, 255).astype(np.uint8)


def make_hr_dir(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_image(folder / "a_rgb.png", _scene(48, 60, 0))
    write_image(folder / "b_gray.png", _scene(50, 46, 1)[..., 0])  # 50x46 -> mod-crop to 48x44
    rgba = _scene(44, 52, 2).astype(np.uint16) * 257
    write_image(folder / "c_rgba16.png", np.concatenate([rgba, np.full((44, 52, 1), 65535, np.uint16)], axis=2))
    return folder


def make_tiny_weights(path: Path) -> Path:
    torch.manual_seed(0)
    net, _ = build_network("espcn", 4, channels=8, hidden=4)
    return save_weights(path, net, arch="espcn", scale=4, kwargs={"channels": 8, "hidden": 4})


@pytest.fixture(scope="session")
def mos_inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mos_inputs")
    return {"hr": make_hr_dir(root / "hr"), "tiny": make_tiny_weights(root / "tiny_espcn_x4.pt")}


@pytest.fixture(scope="session")
def study_template(tmp_path_factory, mos_inputs) -> Path:
    """A study of 3 scenes x 4 methods (hr, bicubic, bilinear, tiny) = 12 images. Copy before writing to it."""
    from sr4det.mos import create_study

    db = tmp_path_factory.mktemp("mos_study") / "study.sqlite"
    return create_study(
        mos_inputs["hr"], db, scale=4, methods=METHODS.replace("TINY", str(mos_inputs["tiny"])), seed=7, progress=False
    )


@pytest.fixture
def study(tmp_path, study_template) -> Path:
    """A fresh writable copy of the template study."""
    return Path(shutil.copy(study_template, tmp_path / "study.sqlite"))

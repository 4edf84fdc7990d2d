"""The SR training loop on a tiny in-code image folder: steps, CSV, checkpoints, resume, export, losses."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from sr4det.data.io import write_image
from sr4det.errors import DataError, InputError, WeightsNotAvailableError
from sr4det.models import create_model, get_card, read_weights
from sr4det.resize import imresize_uint8
from sr4det.training import PairedPatches, TrainConfig, network_io, train


def _textured(seed: int, h: int = 48, w: int = 56) -> np.ndarray:
    """A smooth-plus-edges RGB uint8 image (something an SR net can learn from)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = 128 + 60 * np.sin(xx / rng.uniform(2, 6)) * np.cos(yy / rng.uniform(2, 6))
    edges = 40.0 * ((xx + yy * rng.uniform(0.2, 2)) % 17 < 8)
    img = np.stack([base + edges, base - edges / 2, 255 - base], axis=-1) + rng.normal(0, 3, (h, w, 3))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)


@pytest.fixture()
def folder(tmp_path):
    d = tmp_path / "hr"
    for i in range(3):
        write_image(d / f"img{i}.png", _textured(i))
    write_image(d / "tiny.png", _textured(9, 6, 6))  # too small for any crop: skipped, not an error
    return d


def _cfg(folder, out, **kw) -> TrainConfig:
    base = dict(
        model="espcn",
        scale=2,
        data=[str(folder)],
        out=str(out),
        steps=2,
        batch=2,
        patch=8,
        progress=False,
        log_every=1,
        ckpt_every=1,
        seed=3,
        model_kwargs={"channels": 8, "hidden": 4},
    )
    base.update(kw)
    return TrainConfig(**base)


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_two_steps_write_csv_checkpoint_and_export(folder, tmp_path):
    export = tmp_path / "w" / "espcn_x2.pt"
    res = train(_cfg(folder, tmp_path / "run", export=str(export), export_half="yes"))
    assert res.step == 2
    assert np.isfinite(res.loss)
    rows = _rows(tmp_path / "run" / "log.csv")
    assert [r["step"] for r in rows] == ["1", "2"]
    assert all(float(r["pixel"]) > 0 for r in rows)
    ckpt = torch.load(res.checkpoint, weights_only=False)
    assert ckpt["step"] == 2
    wf = read_weights(export)
    assert wf.arch == "espcn"
    assert wf.scale == 2
    assert wf.kwargs == {"channels": 8, "hidden": 4}
    assert wf.meta["steps"] == 2
    assert wf.meta["trained_by"] == "sr4det.training"
    model = create_model("espcn", 2, weights=str(export))  # width options come from the file
    assert model(torch.rand(1, 3, 10, 12)).shape == (1, 3, 20, 24)


def test_resume_continues_step_count_and_matches_uninterrupted_run(folder, tmp_path):
    torch.set_num_threads(1)
    # constant lr: the cosine schedule depends on the planned step count, which differs here
    train(_cfg(folder, tmp_path / "a", steps=2, lr_min_ratio=1.0))
    res = train(_cfg(folder, tmp_path / "a", steps=3, resume=True, lr_min_ratio=1.0))
    assert res.step == 3
    assert [r["step"] for r in _rows(tmp_path / "a" / "log.csv")] == ["1", "2", "3"]
    straight = train(_cfg(folder, tmp_path / "b", steps=3, lr_min_ratio=1.0))
    a = torch.load(res.checkpoint, weights_only=False)["net"]
    b = torch.load(straight.checkpoint, weights_only=False)["net"]
    # same seed, RNG states restored: the interrupted run equals the uninterrupted one
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)


def test_pre_upsampling_rgb_and_gan_with_feature_loss(folder, tmp_path):
    import torchvision

    res = train(_cfg(folder, tmp_path / "srcnn", model="srcnn", model_kwargs={"n1": 8, "n2": 4, "f2": 1}))
    assert res.step == 2
    feat = tmp_path / "resnet18.pt"
    torch.save(torchvision.models.resnet18().state_dict(), feat)
    cfg = _cfg(
        folder,
        tmp_path / "gan",
        model="srgan",
        model_kwargs={"n_blocks": 1, "channels": 8},
        patch=6,
        feature="resnet18",
        feature_weights=str(feat),
        feature_layer="layer1",
        feature_weight=0.1,
        gan_weight=1e-2,
        disc_channels=4,
    )
    res = train(cfg)
    rows = _rows(tmp_path / "gan" / "log.csv")
    assert res.step == 2
    assert all(float(r["feature"]) > 0 and float(r["adv_d"]) > 0 and r["adv_g"] != "" for r in rows)
    assert "disc" in torch.load(res.checkpoint, weights_only=False)


def test_validation_logged_on_the_benchmark_protocol(folder, tmp_path):
    val = tmp_path / "val"
    write_image(val / "v.png", _textured(5, 40, 40))
    res = train(_cfg(folder, tmp_path / "run", val=str(val), val_every=1, steps=2))
    assert 5 < res.val_psnr < 60
    assert 0 < res.val_ssim <= 1
    vals = [r for r in _rows(tmp_path / "run" / "log.csv") if r["val_psnr"]]
    assert [r["step"] for r in vals] == ["1", "2"]


def test_crops_are_aligned_with_the_evaluator_degradation(folder):
    data = PairedPatches([folder], scale=2)
    assert len(data) == 3  # tiny.png skipped
    lr, hr = data.sample(4, 10, np.random.default_rng(0), augment=False)
    assert lr.shape == (4, 3, 10, 10)
    assert hr.shape == (4, 3, 20, 20)
    # shrinking the HR crop again matches the LR crop away from the crop border (where context differs)
    for i in range(4):
        hr_u8 = (hr[i].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        again = imresize_uint8(hr_u8, 0.5).astype(int)
        lr_u8 = (lr[i].permute(1, 2, 0).numpy() * 255).round().astype(int)
        assert np.abs(again[2:-2, 2:-2] - lr_u8[2:-2, 2:-2]).max() <= 1


def test_network_io_feeds_the_network_like_srmodel():
    card = get_card("srcnn")
    lr = torch.rand(2, 3, 8 + 4, 8 + 4)
    hr = torch.rand(2, 3, 16, 16)
    x, y = network_io(card, 2, lr, hr, margin=2)
    assert x.shape == (2, 1, 16, 16)
    assert y.shape == (2, 1, 16, 16)
    x, y = network_io(get_card("srresnet"), 2, lr[..., 2:-2, 2:-2], hr)
    assert x.shape == (2, 3, 8, 8)
    assert y.shape == (2, 3, 16, 16)


def test_bad_configurations_raise_typed_errors(folder, tmp_path):
    with pytest.raises(InputError):
        train(_cfg(folder, tmp_path / "r", feature_weight=1.0))  # no feature network given
    with pytest.raises(InputError):
        train(_cfg(folder, tmp_path / "r", pixel_weight=0.0))
    with pytest.raises(WeightsNotAvailableError):
        train(_cfg(folder, tmp_path / "r", feature="resnet18", feature_weights=str(tmp_path / "nope.pt"), feature_weight=1.0))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError):
        train(_cfg(empty, tmp_path / "r"))


def test_pipeline_script_trains_and_exports(folder, tmp_path, capsys, monkeypatch):
    import importlib.util
    import json
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "pipelines" / "train_sr.py"
    # `python pipelines/train_sr.py` puts its folder first on sys.path (the script imports pipelines/_shared.py);
    # without this the test passed only when an earlier test had left that folder on sys.path
    monkeypatch.syspath_prepend(str(script.parent))
    spec = importlib.util.spec_from_file_location("train_sr_script", script)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    export = tmp_path / "fsrcnn_s_x2.pt"
    rc = mod.main(
        [
            "--model",
            "fsrcnn_s",
            "--scale",
            "2",
            "--data",
            str(folder),
            "--out",
            str(tmp_path / "run"),
            "--steps",
            "2",
            "--batch",
            "2",
            "--patch",
            "8",
            "--export",
            str(export),
            "--no-progress",
        ]
    )
    assert rc == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["step"] == 2
    assert summary["export"] == str(export)
    assert read_weights(export).meta["command"].startswith("python pipelines/train_sr.py --model fsrcnn_s")
    rc = mod.main(["--model", "espcn", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "r2"), "--no-progress"])
    assert rc == 2  # typed error reported, not a traceback


@pytest.mark.parametrize("name", ["imdn", "carn_m"])
def test_published_style_state_dict_serves_as_init(folder, tmp_path, name):
    """--init takes a plain (DataParallel-prefixed) state dict of a published architecture: its widths come from
    its keys, and the run starts from exactly those weights."""
    kwargs = {"imdn": {"nf": 16, "num_modules": 1}, "carn_m": {"channels": 8, "groups": 2}}[name]
    torch.manual_seed(0)
    src = create_model(name, 2, **kwargs)
    init = tmp_path / "published.pth"
    torch.save({f"module.{k}": v for k, v in src.net.state_dict().items()}, init)
    export = tmp_path / "out.pt"
    res = train(
        _cfg(
            folder,
            tmp_path / "run",
            model=name,
            model_kwargs={},
            init=str(init),
            steps=1,
            lr=1e-12,
            export=str(export),
            export_half="no",
        )
    )
    assert res.step == 1
    wf = read_weights(export)
    assert {k: v for k, v in wf.kwargs.items() if k in kwargs} == kwargs
    got = create_model(name, 2, weights=export)
    x = torch.rand(1, 3, 12, 12)
    with torch.no_grad():
        assert torch.allclose(got(x), src(x), atol=1e-4)  # lr 1e-12: one step leaves the published weights in place

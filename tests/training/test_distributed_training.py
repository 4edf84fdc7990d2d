"""SR training on a device and data-parallel under torchrun (2 CPU processes, gloo): the weights and log of one
process, rank 0 alone writes, a failing rank fails every rank with its message, resume, the global batch split."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sr4det.errors import InputError
from sr4det.evaluation.distributed import DistContext
from sr4det.training import TrainConfig, train
from sr4det.training._parallel import local_rows, slice_detection_batch, train_device
from sr4det.training.detection_data import DetectionBatch

from .test_training_loop import _cfg, _rows, folder  # noqa: F401  (folder is a fixture)

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.torchrun
TORCHRUN = Path(sys.executable).parent / "torchrun"
needs_torchrun = pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed beside this python")

#: the configuration of the torchrun runs (pipelines/train_sr.py options) and of the in-process run that matches it
_ARGS = ["--model", "espcn", "--scale", "2", "--kw", "channels=8", "hidden=4", "--patch", "8", "--batch", "4"]
_ARGS += ["--seed", "3", "--log-every", "1", "--no-progress", "--threads", "1", "--device", "cpu"]


def _same_cfg(folder, out, **kw) -> TrainConfig:  # noqa: F811
    return _cfg(folder, out, batch=4, threads=1, device="cpu", **kw)


def _torchrun(*cmd: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "SR4DET_DIST_TIMEOUT": "60"}
    return subprocess.run(
        [str(TORCHRUN), "--standalone", "--nproc_per_node", "2", *cmd],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _train_sr(folder, out, *extra: str) -> subprocess.CompletedProcess:  # noqa: F811
    done = _torchrun(str(REPO / "pipelines" / "train_sr.py"), *_ARGS, "--data", str(folder), "--out", str(out), *extra)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _assert_same_weights(a: Path, b: Path) -> None:
    wa = torch.load(a, weights_only=False)["net"]
    wb = torch.load(b, weights_only=False)["net"]
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-5, atol=1e-7)


@needs_torchrun
def test_two_processes_train_the_weights_of_one_and_rank_0_alone_writes(folder, tmp_path):  # noqa: F811
    done = _train_sr(folder, tmp_path / "two", "--steps", "3", "--ckpt-every", "2")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1  # rank 0 alone prints the result
    assert json.loads(lines[0])["step"] == 3
    one = train(_same_cfg(folder, tmp_path / "one", steps=3, ckpt_every=2))
    _assert_same_weights(tmp_path / "two" / "last.pt", one.checkpoint)
    # one log row per logged step (rank 0 writes, the loss is the mean over the ranks' slices = the global mean)
    two_rows, one_rows = _rows(tmp_path / "two" / "log.csv"), _rows(tmp_path / "one" / "log.csv")
    assert [r["step"] for r in two_rows] == ["1", "2", "3"]
    for r2, r1 in zip(two_rows, one_rows, strict=True):
        assert float(r2["loss"]) == pytest.approx(float(r1["loss"]), rel=1e-5)
    # hidden files are the run folder's lock and manifest (sr4det/_run_folder.py)
    assert sorted(p.name for p in (tmp_path / "two").iterdir() if not p.name.startswith(".")) == [
        "config.json",
        "last.pt",
        "log.csv",
    ]
    ckpt = torch.load(tmp_path / "two" / "last.pt", weights_only=False)
    assert ckpt["step"] == 3
    assert ckpt["world_size"] == 2
    assert json.loads((tmp_path / "two" / "config.json").read_text())["device"] == "cpu"


@needs_torchrun
def test_resume_under_two_processes_continues_to_the_uninterrupted_weights(folder, tmp_path):  # noqa: F811
    # constant lr: the cosine schedule depends on the planned step count, which differs here
    _train_sr(folder, tmp_path / "two", "--steps", "2", "--lr-min-ratio", "1")
    _train_sr(folder, tmp_path / "two", "--steps", "4", "--lr-min-ratio", "1", "--resume")
    straight = train(_same_cfg(folder, tmp_path / "one", steps=4, lr_min_ratio=1.0))
    _assert_same_weights(tmp_path / "two" / "last.pt", straight.checkpoint)
    assert [r["step"] for r in _rows(tmp_path / "two" / "log.csv")] == ["1", "2", "3", "4"]


_SCRIPT = """
import os, sys, torch
import sr4det.training._run as run_module
from sr4det.errors import DataError
from sr4det.training import TrainConfig, train

mode, data, out = sys.argv[1:4]
rank = os.environ["RANK"]
if mode == "fail" and rank == "1":
    class Broken(run_module.PairedPatches):
        def __init__(self, *args, **kwargs):
            raise DataError("rank one cannot read its images (injected failure)")
    run_module.PairedPatches = Broken
runs = []
step = run_module._Run.train_step
def recording_step(self):
    runs.append(self)
    return step(self)
run_module._Run.train_step = recording_step
kw = dict(model="espcn", model_kwargs={"channels": 8, "hidden": 4})
if mode == "gan":  # BatchNorm in the generator and the discriminator, requires_grad toggled every step
    kw = dict(model="srgan", model_kwargs={"n_blocks": 1, "channels": 8}, gan_weight=1e-2, disc_channels=4)
# batch 4: the discriminator's BatchNorm needs 2 crops per rank
train(TrainConfig(scale=2, data=[data], out=out, steps=2, batch=4, patch=8, progress=False, threads=1, seed=1, **kw))
run = runs[-1]
state = {"net": run.net.state_dict(), "disc": run.adv.discriminator.state_dict() if run.adv else {}}
torch.save(state, os.path.join(out, f"rank{rank}.state"))
"""


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "run_train.py"
    path.write_text(_SCRIPT)
    return path


@needs_torchrun
def test_an_error_on_rank_1_before_training_fails_every_rank_with_its_message(folder, tmp_path, script):  # noqa: F811
    t0 = time.monotonic()
    done = _torchrun(str(script), "fail", str(folder), str(tmp_path / "run"), timeout=90)
    assert done.returncode != 0
    assert "rank one cannot read its images (injected failure)" in done.stderr
    assert "rank 1 failed during the run set-up" in done.stderr  # rank 0 names the rank that failed
    assert time.monotonic() - t0 < 60  # not a wait for a collective's timeout
    assert not (tmp_path / "run" / "config.json").exists()  # nothing written before every rank was ready
    assert not (tmp_path / "run" / "last.pt").exists()


@needs_torchrun
def test_gan_with_batchnorm_keeps_every_rank_on_rank_0_weights(folder, tmp_path, script):  # noqa: F811
    done = _torchrun(str(script), "gan", str(folder), str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr[-3000:]
    r0 = torch.load(tmp_path / "run" / "rank0.state", weights_only=False)
    r1 = torch.load(tmp_path / "run" / "rank1.state", weights_only=False)
    saved = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert any("running_mean" in k for k in r0["disc"])  # the buffers rank 0 broadcasts exist
    for part, ckpt_key in (("net", "net"), ("disc", "disc")):
        assert r0[part].keys() == r1[part].keys()
        for k in r0[part]:
            torch.testing.assert_close(r0[part][k], r1[part][k], rtol=0, atol=0)  # averaged gradients, rank 0's buffers
            torch.testing.assert_close(r0[part][k], saved[ckpt_key][k], rtol=0, atol=0)


def test_the_global_batch_is_split_into_contiguous_equal_slices():
    assert [local_rows(8, r, 4) for r in range(4)] == [(0, 2), (2, 4), (4, 6), (6, 8)]
    assert local_rows(5, 0, 1) == (0, 5)
    with pytest.raises(InputError, match=r"--batch 4 or 2 \(batch=\)") as err:
        local_rows(3, 0, 2)
    assert "--nproc_per_node" in str(err.value)
    boxes = {
        "batch_idx": torch.tensor([0.0, 1.0, 1.0, 3.0]),
        "cls": torch.tensor([[5.0], [6.0], [7.0], [8.0]]),
        "bboxes": torch.arange(16.0).view(4, 4),
    }
    whole = DetectionBatch(torch.arange(4.0).view(4, 1, 1, 1), torch.zeros(4, 1, 2, 2), boxes)
    part = slice_detection_batch(whole, 2, 4)
    assert part.lr.flatten().tolist() == [2.0, 3.0]
    assert part.targets["batch_idx"].tolist() == [1.0]  # crop 3 is the second of this slice
    assert part.targets["cls"].tolist() == [[8.0]]
    assert part.targets["bboxes"].tolist() == [[12.0, 13.0, 14.0, 15.0]]
    assert slice_detection_batch(whole, 0, 1).targets["cls"].tolist() == [[5.0]]


def test_a_batch_that_does_not_divide_by_the_processes_is_refused_before_any_work(folder, tmp_path):  # noqa: F811
    # the check is the same on every rank and needs no collective (a 2-rank context without a process group)
    with pytest.raises(InputError, match=r"batch 3 is the global batch of all 2 processes.*--batch 4 or 2"):
        train(_cfg(folder, tmp_path / "run", batch=3), dist=DistContext(rank=1, world_size=2))
    assert not (tmp_path / "run").exists()


def test_explicit_cpu_device_trains_and_a_missing_cuda_is_an_input_error(folder, tmp_path):  # noqa: F811
    res = train(_cfg(folder, tmp_path / "cpu", device="cpu", export=str(tmp_path / "w.pt")))
    assert res.step == 2
    weights = torch.load(tmp_path / "w.pt", weights_only=False)
    assert all(t.device.type == "cpu" for t in weights["state_dict"].values())
    assert train_device(None, DistContext()) == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert train_device("cpu", DistContext(world_size=2)) == torch.device("cpu")
    with pytest.raises(InputError, match="every process on one GPU"):
        train_device("cuda:1", DistContext(world_size=2))
    with pytest.raises(InputError, match="is not a torch device"):
        _cfg(folder, tmp_path / "x", device="gpu").validate()
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the missing-CUDA error cannot be shown")
    with pytest.raises(InputError, match="CUDA is not available on this machine; use device=cpu"):
        train(_cfg(folder, tmp_path / "cuda", device="cuda"))
    assert not (tmp_path / "cuda").exists()  # refused before the run folder is made


def test_validation_runs_the_network_on_its_device(folder, tmp_path):  # noqa: F811
    from sr4det.models import build_network
    from sr4det.training.evaluate import network_model

    net, card = build_network("espcn", 2, channels=8, hidden=4)
    model = network_model(net.to("meta"), card, 2)  # a device other than the CPU that exists everywhere
    assert model.device == torch.device("meta")
    from sr4det.data.io import write_image

    from .test_training_loop import _textured

    write_image(tmp_path / "v" / "v.png", _textured(5, 40, 40))
    res = train(_cfg(folder, tmp_path / "val", val=str(tmp_path / "v"), device="cpu"))
    assert 5 < res.val_psnr < 60

"""Audit 4 (lost or mixed-up results) for SR training's run folder: no run overwrites or silently continues
another, log.csv holds each step once after a resume, --export is checked before training."""

from __future__ import annotations

import pytest

from sr4det.errors import InputError, OutputExistsError
from sr4det.training import train

from .test_training_loop import _cfg, _rows, folder  # noqa: F401  (folder is a fixture)


def test_a_new_run_into_a_folder_holding_a_run_is_refused(folder, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    train(_cfg(folder, out))
    ckpt, log = (out / "last.pt").read_bytes(), (out / "log.csv").read_bytes()
    with pytest.raises(OutputExistsError, match="--resume") as err:
        train(_cfg(folder, out, lr=1e-2))
    assert isinstance(err.value, FileExistsError)
    assert "another --out" in str(err.value)
    assert (out / "last.pt").read_bytes() == ckpt  # was overwritten at the new run's first checkpoint
    assert (out / "log.csv").read_bytes() == log  # was appended to: steps 1, 2, 1, 2


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"lr": 0.5}, "lr: 0.001 -> 0.5"),  # used to continue silently with the new lr
        ({"pixel_loss": "mse"}, "pixel_loss"),
        ({"scale": 3}, "scale: 2 -> 3"),  # was torch's RuntimeError from load_state_dict
        ({"model": "fsrcnn", "model_kwargs": {}}, "model: 'espcn' -> 'fsrcnn'"),
    ],
)
def test_resuming_a_checkpoint_of_other_settings_is_refused(folder, tmp_path, change, named):  # noqa: F811
    out = tmp_path / "run"
    train(_cfg(folder, out))
    ckpt = (out / "last.pt").read_bytes()
    with pytest.raises(OutputExistsError, match="other settings") as err:
        train(_cfg(folder, out, steps=4, resume=True, **change))
    assert named in str(err.value)
    assert "another --out" in str(err.value)
    assert (out / "last.pt").read_bytes() == ckpt


def test_resume_may_change_steps_logging_and_export(folder, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    train(_cfg(folder, out))
    res = train(_cfg(folder, out, steps=3, resume=True, log_every=2, export=str(tmp_path / "w.pt"), progress=False))
    assert res.step == 3
    assert res.export == tmp_path / "w.pt"


def test_log_rows_after_the_last_checkpoint_of_a_killed_run_are_not_repeated(folder, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    train(_cfg(folder, out, steps=2))
    # what a run killed after logging step 3, before its next checkpoint, leaves: a row past the checkpoint and a
    # half-written line
    with open(out / "log.csv", "a") as f:
        f.write("3,0.5" + "," * 17 + "1.0\n4,0.4,0.")
    train(_cfg(folder, out, steps=4, resume=True))
    assert [r["step"] for r in _rows(out / "log.csv")] == ["1", "2", "3", "4"]


def test_a_run_killed_before_its_first_checkpoint_leaves_no_rows_in_the_next_log(folder, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    out.mkdir()
    (out / "log.csv").write_text("step,loss\n1,0.9\n2,0.8\n")
    train(_cfg(folder, out, steps=1))
    assert [r["step"] for r in _rows(out / "log.csv")] == ["1"]


def test_export_to_a_folder_fails_before_training(folder, tmp_path):  # noqa: F811
    (tmp_path / "weights").mkdir()
    with pytest.raises(InputError, match="is a folder; give a weight file name"):
        train(_cfg(folder, tmp_path / "run", export=str(tmp_path / "weights")))
    assert not (tmp_path / "run" / "last.pt").exists()
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    with pytest.raises(InputError, match="not a writable folder"):
        train(_cfg(folder, tmp_path / "run", export=str(blocker / "w.pt")))


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("resume", [False, True])
def test_a_planted_last_pt_runs_no_code(folder, tmp_path, resume):  # noqa: F811
    # last.pt in --out used to be read with weights_only=False even without --resume
    import torch

    from sr4det.errors import WeightsError

    out = tmp_path / "run"
    out.mkdir()
    marker = tmp_path / "ran"
    torch.save({"step": 1, "config": {}, "x": _Payload(marker)}, out / "last.pt")
    with pytest.raises(WeightsError, match="weights_only=True"):
        train(_cfg(folder, out, resume=resume))
    assert not marker.exists()

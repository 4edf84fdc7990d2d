"""One owner per output folder (sr4det/_run_folder.py), for every command that writes one: a second writer is
refused naming the first, a folder holding another run's outputs (finished or killed by kill -9) is refused naming
what differs, --overwrite removes that run's files first, output = input is refused, a killed run's temp files go."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sr4det._run_folder import JOURNAL, MANIFEST, open_run_folder
from sr4det.cli import main
from sr4det.commands import detect as detect_cmd
from sr4det.data.io import write_image
from sr4det.detectors.base import Detections
from sr4det.errors import InputError, OutputExistsError, RunFolderBusyError

ROOT = Path(__file__).resolve().parents[1]
STALE = ".a.png.sr4det-tmp.abcd1234.png.tmp"  # what atomic_path leaves when its writer is killed


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    for folder, names in (("A", ("a", "b")), ("B", ("c",))):
        for name in names:
            write_image(tmp_path / folder / f"{name}.png", rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    return tmp_path


def _outputs(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


class _Fake:
    names = {0: "thing"}
    config = {"type": "fake"}

    def __call__(self, images):
        return [Detections([[1.0, 1.0, 5.0, 5.0]], [0.9], [0], self.names, im.shape[:2]) for im in images]


def _upscale(src, out, model="bicubic", *extra):
    return main(["upscale", str(src), "-o", str(out), "--model", model, "--scale", "2", "--quiet", *extra])


def _detect(monkeypatch, src, out, *extra):
    monkeypatch.setattr(detect_cmd, "build", lambda args: (_Fake(), None, None))
    return main(["detect", str(src), "--detector", "fake.pt", "-o", str(out), "--quiet", *extra])


# a command run in a child process whose image writer, after the first image, leaves a half-written temp file and
# either kills its own process (kill -9) or waits (a concurrent writer); detect's detector is a fake
_CHILD = """
import os, signal, sys, time
import sr4det.data.io as io
from sr4det.commands import detect
from sr4det.detectors.base import Detections
class Fake:
    names = {0: "thing"}
    config = {"type": "fake"}
    def __call__(self, images):
        return [Detections([[1.0, 1.0, 5.0, 5.0]], [0.9], [0], self.names, im.shape[:2]) for im in images]
detect.build = lambda args: (Fake(), None, None)
real = io.write_image
def write(path, image, *a, **k):
    real(path, image, *a, **k)
    open(os.path.join(os.path.dirname(path), STALE), "wb").write(b"half")
    if sys.argv[1] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    print("ready", flush=True)
    time.sleep(120)
io.write_image = write
from sr4det.cli import main
main(sys.argv[2:])
""".replace("STALE", repr(STALE))


def _child(mode: str, *argv: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", _CHILD, mode, *argv], stdout=subprocess.PIPE, text=True, env=env)


def _killed_run(*argv: str) -> None:
    child = _child("kill", *argv)
    child.wait(timeout=120)
    assert child.returncode == -9


def _upscale_argv(src, out, model="bicubic"):
    return ["upscale", str(src), "-o", str(out), "--model", model, "--scale", "2", "--quiet"]


def _detect_argv(src, out):
    return ["detect", str(src), "--detector", "fake.pt", "-o", str(out), "--quiet"]


# --------------------------------------------------------------------------------------------- another run's outputs


@pytest.mark.parametrize("case", ["upscale finished, disjoint inputs", "upscale kill -9", "detect kill -9"])
def test_a_folder_holding_another_runs_outputs_is_refused_naming_the_difference(images, monkeypatch, capsys, case):
    out = images / "out"
    if case == "upscale finished, disjoint inputs":  # today: no target existed, so the other model's files mixed in
        assert _upscale(images / "A", out) == 0
    elif case == "upscale kill -9":
        _killed_run(*_upscale_argv(images / "A", out))
    else:
        _killed_run(*_detect_argv(images / "A", out))
    before = _outputs(out)
    assert before  # the first run wrote something
    capsys.readouterr()
    if case.startswith("upscale"):
        rc = _upscale(images / "B", out, "bilinear")
        named = "model: bicubic -> bilinear"
    else:
        rc = _detect(monkeypatch, images / "B", out)
        named = "inputs.sha256"
    assert rc == 2
    err = capsys.readouterr().err
    assert named in err
    assert "--overwrite" in err
    assert _outputs(out) == before  # nothing of the refused run was written
    # --overwrite removes the earlier run's files (the killed one's too) and its temp file
    assert (
        _upscale(images / "B", out, "bilinear", "--overwrite")
        if case.startswith("upscale")
        else _detect(monkeypatch, images / "B", out, "--overwrite")
    ) == 0
    assert _outputs(out) == (["c.png"] if case.startswith("upscale") else ["c.png", "detections.json", "labels/c.txt"])
    assert not (out / STALE).exists()


def test_the_same_run_resumes_and_may_add_inputs_with_the_same_model(images, capsys):
    out = images / "out"
    _killed_run(*_upscale_argv(images / "A", out))
    assert (out / STALE).exists()
    assert _upscale(images / "A", out) == 0  # the same run again resumes
    assert "skipped 1 existing" in capsys.readouterr().out
    assert not (out / STALE).exists()  # the killed run's temp file is removed at the start
    assert _upscale(images / "B", out) == 0  # one output per input, the same network: nothing mixes
    assert _outputs(out) == ["a.png", "b.png", "c.png"]


def test_adapt_detector_rerun_with_another_sr_is_refused(tmp_path, monkeypatch):
    import sr4det.integrations.ultralytics.trainable as trainable
    import sr4det.integrations.ultralytics.yolo_data as yolo_data
    from sr4det.integrations.ultralytics.adapt import adapt_detector

    monkeypatch.setattr(trainable, "trainable_class_names", lambda source: {0: "thing"})

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the first run stops while it builds its data (as a kill would)

    monkeypatch.setattr(yolo_data, "yolo_dataset", killed)
    data = tmp_path / "train.json"
    data.write_text("{}")
    out = tmp_path / "adapted"
    with pytest.raises(KeyboardInterrupt):
        adapt_detector(tmp_path / "det.pt", data, out, sr="bicubic")
    with pytest.raises(OutputExistsError, match="sr: bicubic -> lr") as err:
        adapt_detector(tmp_path / "det.pt", data, out, sr="lr")
    assert "another adaptation" in str(err.value)
    assert "--overwrite" in str(err.value)
    with pytest.raises(KeyboardInterrupt):  # --overwrite (overwrite=True) goes on to the training
        adapt_detector(tmp_path / "det.pt", data, out, sr="lr", overwrite=True)
    assert json.loads((out / MANIFEST).read_text())["sr"] == "lr"


# --------------------------------------------------------------------------------------------- concurrent writers


def test_two_upscales_with_other_models_concurrently_the_second_is_refused_naming_the_first(images, capsys):
    out = images / "out"
    child = _child("wait", *_upscale_argv(images / "A", out))
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        assert _upscale(images / "B", out, "bilinear") == 2
        err = capsys.readouterr().err
        assert f"pid {child.pid}" in err
        assert "being written by another sr4det run" in err
        assert not (out / "c.png").exists()
    finally:
        child.kill()
        child.wait()
    assert _upscale(images / "A", out) == 0  # the holder died: the lock went with it, the same run resumes


_HOLD = """
import sys, time
from sr4det._run_folder import open_run_folder
folder = sys.argv[1]
sys.argv = ["sr4det", "other", "run"]
run = open_run_folder(folder, "other", None)
print("ready", flush=True)
time.sleep(120)
"""


@pytest.fixture
def held(tmp_path):
    """An output folder another process holds (as a running command does)."""
    out = tmp_path / "held"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], stdout=subprocess.PIPE, text=True, env=env)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    yield out, child.pid
    child.kill()
    child.wait()


def _refused(command, images, out, monkeypatch, capsys, error) -> str:
    """Run ``command`` (upscale, detect: CLI exit 2; materialize: ``error`` raised) into ``out``; its message."""
    if command == "upscale":
        assert _upscale(images / "A", out) == 2
        return capsys.readouterr().err
    if command == "detect":
        assert _detect(monkeypatch, images / "A", out) == 2
        return capsys.readouterr().err
    from sr4det.data.materialize import materialize

    (images / "d.yaml").write_text(f"path: {images}\ntrain: A\nnames: ['thing']\n")
    with pytest.raises(error) as exc:
        materialize(images / "d.yaml", out, degrade=2, sr=None, progress=False)
    return str(exc.value)


@pytest.mark.parametrize("command", ["upscale", "detect", "materialize", "api"])
def test_every_folder_command_refuses_a_folder_another_process_writes(images, held, monkeypatch, capsys, command):
    out, pid = held
    if command != "api":
        err = _refused(command, images, out, monkeypatch, capsys, RunFolderBusyError)
    else:  # the mechanism itself
        with pytest.raises(RunFolderBusyError) as exc:
            open_run_folder(out, "upscale", {"model": "x"})
        assert isinstance(exc.value, FileExistsError)
        err = str(exc.value)
    assert f"pid {pid}" in err
    assert "sr4det other run" in err  # the other process's command line
    assert not any(p.suffix == ".png" for p in out.rglob("*"))


# --------------------------------------------------------------------------------------------- output = input


def test_detect_into_its_input_folder_is_refused_and_the_inputs_kept(images, monkeypatch, capsys):
    before = {p: p.read_bytes() for p in (images / "A").iterdir()}
    assert _detect(monkeypatch, images / "A", images / "A") == 2
    assert "is the folder of the input images" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in (images / "A").iterdir()} == before


def test_the_mechanism_refuses_an_input_folder_and_journals_outputs(images):
    with pytest.raises(InputError, match="folder of the input images"):
        open_run_folder(images / "A", "x", {}, inputs=[images / "A" / "a.png"])
    with open_run_folder(images / "o", "x", {"k": 1}) as run:
        run.record(images / "o" / "sub" / "f.txt", images / "o" / "sub" / "f.txt")
        (images / "o" / "sub").mkdir()
        (images / "o" / "sub" / "f.txt").write_text("1")
    assert (images / "o" / JOURNAL).read_text() == "sub/f.txt\n"
    with open_run_folder(images / "o", "x", {"k": 2}, overwrite=True):
        assert not (images / "o" / "sub" / "f.txt").exists()


# ------------------------------------------------------------------------------ a folder where a file belongs


@pytest.mark.parametrize(
    "command, blocked",
    [
        ("upscale", MANIFEST),  # the run manifest
        ("upscale", "a.png"),  # an output image
        ("detect", "detections.json"),
        ("materialize", "materialize.json"),  # materialize's settings manifest
        ("mos", "study.sqlite"),  # a file written under its own lock
    ],
)
def test_a_folder_where_a_file_belongs_is_a_typed_error_naming_it(images, monkeypatch, capsys, command, blocked):
    out = images / "out"
    (out / blocked).mkdir(parents=True)
    if command != "mos":
        err = _refused(command, images, out, monkeypatch, capsys, OutputExistsError)
    else:
        from sr4det._run_folder import locked_file

        with pytest.raises(OutputExistsError) as exc, locked_file(out / blocked):
            pass
        err = str(exc.value)
    assert "Traceback" not in err
    assert f"{out / blocked} is a folder" in err
    assert "move or remove the folder" in err
    assert (out / blocked).is_dir()  # nothing of the user's removed

"""Audit 4 (lost or mixed-up results) for `compare`'s outputs: the output folder and --save-images are checked
before any work, results of another comparison are not replaced silently, saved images are this run's."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sr4det.data.datasets import load_coco
from sr4det.data.io import read_image, write_image
from sr4det.errors import InputError, OutputExistsError
from sr4det.evaluation import compare
from sr4det.evaluation.config import CompareConfig

from .test_runner import SIZES, Oracle, make_dataset


def _compare(path, out, detector=None, **kw):
    options = {"sr": [], "scale": 4, "n_resamples": 0, "progress": False, "cache_dir": out.parent / "cache", **kw}
    return compare(load_coco(path), detector or Oracle(path, scale=options["scale"]), out_dir=out, **options)


@pytest.mark.parametrize(
    ("change", "named"),
    [({"scale": 2}, "scale: 4 -> 2"), ({"limit": 2}, "limit: null -> 2"), ({"seed": 1, "n_resamples": 0}, "bootstrap.seed")],
)
def test_results_of_another_comparison_are_kept_and_the_error_names_overwrite(tmp_path, change, named):
    path = make_dataset(tmp_path / "ds")
    out = tmp_path / "out"
    _compare(path, out)
    before = (out / "results.json").read_bytes()
    det = Oracle(path, scale=change.get("scale", 4))
    with pytest.raises(OutputExistsError, match="--overwrite") as err:
        _compare(path, out, det, **change)
    assert isinstance(err.value, FileExistsError)
    assert named in str(err.value)
    assert det.calls == 0  # refused before any work
    assert (out / "results.json").read_bytes() == before
    res = _compare(path, out, Oracle(path, scale=change.get("scale", 4)), overwrite=True, **change)
    assert json.loads((out / "results.json").read_text())["config"]["scale"] == res["config"]["scale"]


def test_rerunning_the_same_comparison_or_adding_a_condition_reuses_the_folder(tmp_path):
    path = make_dataset(tmp_path / "ds")
    out = tmp_path / "out"
    _compare(path, out)
    _compare(path, out)  # resume / rerun
    _compare(path, out, sr=["bilinear"])  # a wider table loses nothing
    assert "bilinear" in json.loads((out / "results.json").read_text())["conditions"]
    with pytest.raises(OutputExistsError, match=r"conditions \['bilinear'\] would be dropped"):
        _compare(path, out)
    with pytest.raises(OutputExistsError, match="SR condition 'bilinear'"):
        _compare(path, out, sr=["bilinear=bicubic"])  # the same name from another source


def test_a_detector_with_other_settings_is_another_comparison(tmp_path):
    path = make_dataset(tmp_path / "ds")
    out = tmp_path / "out"
    _compare(path, out)
    other = Oracle(path)
    other.config = {"type": "oracle", "scale": 4, "conf": 0.5}
    with pytest.raises(OutputExistsError, match="detector 'main'"):
        _compare(path, out, other)


def test_a_results_json_sr4det_cannot_read_is_not_replaced(tmp_path):
    path = make_dataset(tmp_path / "ds")
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text("my notes")
    with pytest.raises(OutputExistsError, match="not a results.json"):
        _compare(path, out)
    assert (out / "results.json").read_text() == "my notes"


@pytest.mark.parametrize("where", ["out", "save_images"])
def test_an_output_folder_that_is_a_file_fails_before_any_work(tmp_path, where):
    path = make_dataset(tmp_path / "ds")
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    det = Oracle(path)
    kw = {"save_images": blocker / "sub"} if where == "save_images" else {}
    out = blocker if where == "out" else tmp_path / "out"
    with pytest.raises(InputError, match="is not a writable folder") as err:
        _compare(path, out, det, **kw)
    assert "choose another" in str(err.value)
    assert det.calls == 0  # was a NotADirectoryError after all SR, detection and bootstrap


def test_saved_images_replace_those_of_an_earlier_run(tmp_path):
    path = make_dataset(tmp_path / "ds")
    saved = tmp_path / "saved"
    stale = np.zeros((8, 8, 3), np.uint8)  # e.g. another scale's output under the same condition name
    write_image(saved / "bicubic" / "0.png", stale)
    _compare(path, tmp_path / "out", sr=["bicubic"], save_images=saved)
    h, w = SIZES[0]
    assert read_image(saved / "bicubic" / "0.png")[0].shape == (h - h % 4, w - w % 4, 3)


def test_images_sharing_a_stem_are_refused_with_save_images(tmp_path):
    path = make_dataset(tmp_path / "ds", extra_images=[("sub/0.jpg", 40, 40)])
    det = Oracle(path)
    with pytest.raises(InputError, match="share the stem '0'") as err:
        _compare(path, tmp_path / "out", det, sr=["bicubic"], save_images=tmp_path / "saved")
    assert "rename one" in str(err.value)
    assert det.calls == 0


def test_overwrite_option_is_checked_and_passed_on():
    base = {"data": "d.json", "detector": "det", "out": "o"}
    assert CompareConfig.from_mapping({**base, "overwrite": True}).overwrite is True
    with pytest.raises(InputError, match="overwrite must be true or false"):
        CompareConfig.from_mapping({**base, "overwrite": "yes"})


def test_weights_replaced_in_place_make_another_comparison(tmp_path):
    """The same path holding other weights (retrained, replaced) is another comparison: the digest tells them apart."""
    import torch

    from sr4det.models import build_network, save_weights

    path = make_dataset(tmp_path / "ds")
    out = tmp_path / "out"
    weights = tmp_path / "mine.pt"
    torch.manual_seed(0)
    net, _ = build_network("espcn", 4)
    save_weights(weights, net, arch="espcn", scale=4)
    _compare(path, out, sr=[f"mine={weights}"])
    _compare(path, out, sr=[f"mine={weights}"])  # the same file again: a rerun
    with torch.no_grad():
        next(net.parameters()).add_(0.01)
    save_weights(weights, net, arch="espcn", scale=4)
    with pytest.raises(OutputExistsError, match=r"SR condition 'mine': the weights at .*mine\.pt changed \(digest"):
        _compare(path, out, sr=[f"mine={weights}"])
    _compare(path, out, sr=[f"mine={weights}"], overwrite=True)


def test_a_second_comparison_into_an_out_another_process_writes_is_refused(tmp_path):
    # two compares with different --limit into one --out at once: one result silently disappeared
    import os
    import subprocess
    import sys
    from pathlib import Path

    from sr4det.errors import RunFolderBusyError

    path = make_dataset(tmp_path / "ds")
    out = tmp_path / "out"
    _compare(path, out, limit=2)
    before = (out / "results.json").read_bytes()
    hold = (
        "import sys, time\nfrom sr4det._run_folder import open_run_folder\n"
        "run = open_run_folder(sys.argv[1], 'compare', None)\nprint('ready', flush=True)\ntime.sleep(120)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    child = subprocess.Popen([sys.executable, "-c", hold, str(out)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        det = Oracle(path, scale=4)
        with pytest.raises(RunFolderBusyError, match=f"pid {child.pid}") as err:
            _compare(path, out, det, limit=1, overwrite=True)
        assert isinstance(err.value, OutputExistsError)
        assert det.calls == 0
        assert (out / "results.json").read_bytes() == before
    finally:
        child.kill()
        child.wait()


def test_every_output_of_a_comparison_is_journaled_so_overwrite_removes_it(tmp_path):
    from sr4det._run_folder import BOOKKEEPING, JOURNAL, open_run_folder

    path = make_dataset(tmp_path / "ds")
    out = tmp_path / "out"
    _compare(path, out, sr=["bicubic", "bilinear"], n_resamples=20)
    written = {p.name for p in out.iterdir() if p.name not in BOOKKEEPING}
    assert {"results.json", "report.md", "examples.png", "delta_ap_vs_psnr.png"} <= written
    assert written <= set((out / JOURNAL).read_text().split())  # journaled before they were written
    (out / "stale.png").write_bytes(b"x")  # a plot of an earlier version that the journal names
    with open_run_folder(out, "compare", None) as run:
        run.record(out / "stale.png")
    _compare(path, out, sr=["bicubic"], scale=2, detector=Oracle(path, scale=2), overwrite=True)
    assert not (out / "stale.png").exists()  # --overwrite removed the earlier run's journaled outputs first
    assert not (out / "examples.png").exists()  # (this run draws none: bicubic alone)
    assert json.loads((out / "results.json").read_text())["config"]["scale"] == 2
    assert "bilinear" not in (out / "report.md").read_text()

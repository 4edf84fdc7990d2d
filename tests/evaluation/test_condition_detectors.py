"""Conditions that bring their own detector (``SR@LABEL=DETECTOR``): the syntax, results equal to separate runs,
paired deltas, cache keys, records in results.json and the report, and bad input before any cache write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sr4det.data.datasets import load_coco
from sr4det.detectors.base import Detections
from sr4det.errors import DetectorError, DetectorMismatchError, InputError, WeightsNotAvailableError
from sr4det.evaluation import CompareConfig, SRSpec, compare
from sr4det.evaluation.conditions import HRCondition, LRCondition, SRCondition

from .test_cache_keys import PINNED, Fixed, _listing, make_pinned_dataset
from .test_distributed import METRICS
from .test_runner import NAMES, Oracle, make_dataset


class Jittered(Oracle):
    """An imperfect detector: the oracle's boxes shifted by a few pixels, per-box scores, the last box of each image
    with the wrong class (so its AP differs from the oracle's and varies over images)."""

    def __init__(self, json_path, scale=4, shift=3.0):
        super().__init__(json_path, scale)
        self.shift = shift
        self.config = {"type": "jittered", "scale": scale, "shift": shift}

    def __call__(self, images):
        out = []
        for d in super().__call__(images):
            n = len(d)
            boxes = d.boxes + np.float32(self.shift) * (1 + np.arange(n, dtype=np.float32))[:, None]
            labels = d.labels.copy()
            labels[-1:] = 1 - labels[-1:]
            out.append(Detections(boxes, np.linspace(0.9, 0.5, n), labels, NAMES, d.image_size))
        return out


class Twin(Oracle):
    """The oracle's outputs under another identity (another cache key)."""

    def __init__(self, json_path, scale=4):
        super().__init__(json_path, scale)
        self.config = {"type": "twin", "scale": scale}


class OtherClasses(Oracle):
    names = {0: "apple", 1: "car"}


def _same_metrics(a: dict, b: dict, msg: str) -> None:
    for key in METRICS:
        assert a[key] == b[key], (msg, key)


# --------------------------------------------------------------------------------------------- syntax


def test_parse_conditions_with_their_own_detector():
    p = SRSpec.parse
    assert p("bicubic@adapted=runs/adapted.pt") == SRSpec("bicubic@adapted", "bicubic", "adapted", "runs/adapted.pt")
    assert p("espcn@v8=../shared/weights/yolov8n_int8_openvino_model") == SRSpec(
        "espcn@v8", "espcn", "v8", "../shared/weights/yolov8n_int8_openvino_model"
    )
    assert p(" hr@a = x.pt ") == SRSpec("hr@a", "hr", "a", "x.pt")
    assert p("hr@a").input == "hr"
    assert p("lr@low-res_2") == SRSpec("lr@low-res_2", "lr", "low-res_2", None)
    assert p("lr@b").input == "lr"
    assert p("bicubic@a").input == "sr"
    assert p("bicubic").input == "sr"
    # the NAME=WEIGHTS syntax is unchanged, and takes a detector after its weights
    assert p("rfdn=w/RFDN.pth") == SRSpec("rfdn", "w/RFDN.pth")
    assert p("rfdn=w/RFDN.pth@v8=y.pt") == SRSpec("rfdn@v8", "w/RFDN.pth", "v8", "y.pt")
    assert p("rfdn=w/RFDN.pth@v8") == SRSpec("rfdn@v8", "w/RFDN.pth", "v8", None)
    assert p("w/CRAFT_x4.pth@b=y.pt") == SRSpec("CRAFT_x4@b", "w/CRAFT_x4.pth", "b", "y.pt")
    # the first '@' followed by a label and then '=' or the end; the detector path may hold '@' and '='
    assert p("bicubic@a=/runs/x@y=z.pt") == SRSpec("bicubic@a", "bicubic", "a", "/runs/x@y=z.pt")
    assert p("w@2/net.pth") == SRSpec("net", "w@2/net.pth")  # '@' not followed by label and '=' / end


def test_existing_files_with_at_in_their_name_stay_sr_weights(tmp_path):
    (tmp_path / "net@v2").write_bytes(b"x")
    assert SRSpec.parse(str(tmp_path / "net@v2")) == SRSpec("net@v2", str(tmp_path / "net@v2"))
    assert SRSpec.parse(f"mine={tmp_path / 'net@v2'}") == SRSpec("mine", str(tmp_path / "net@v2"))


@pytest.mark.parametrize(
    "bad, match",
    [
        ("bicubic@main=x.pt", "reserved"),  # main: the run's own detector
        ("bicubic@a=", "nothing after"),
        ("x=hr@a=y.pt", "is an input"),
        ("hr", "reserved"),
        ("hr=y.pt", "reserved"),
        ("bic@ubic x=y.pt", "'@' starts a detector label"),  # not a valid label: refused, not read as NAME=WEIGHTS
        ("@a=y.pt", "detector label"),
    ],
)
def test_bad_condition_syntax(bad, match):
    with pytest.raises(InputError, match=match):
        SRSpec.parse(bad)


def test_config_cli_yaml_and_detectors_option():
    import argparse

    p = argparse.ArgumentParser()
    CompareConfig.add_arguments(p)
    cli = CompareConfig.from_args(
        p.parse_args(
            [
                "--data",
                "d",
                "--detector",
                "y.pt",
                "-o",
                "o",
                "--sr",
                "bicubic,bicubic@ad,hr@ad,espcn@v8=v8.pt",
                "--detectors",
                "ad=runs/ad.pt",
            ]
        )
    )
    yaml_like = CompareConfig.from_mapping(
        {
            "data": "d",
            "detector": "y.pt",
            "out": "o",
            "sr": ["bicubic"],
            "conditions": ["bicubic@ad", "hr@ad", "espcn@v8=v8.pt"],
            "detectors": {"ad": "runs/ad.pt"},
        }
    )
    assert cli == yaml_like
    assert cli.sr == ["bicubic", "bicubic@ad", "hr@ad", "espcn@v8=v8.pt"]
    assert cli.detectors == {"ad": "runs/ad.pt"}
    assert [s.name for s in cli.specs()] == ["bicubic", "bicubic@ad", "hr@ad", "espcn@v8"]
    base = {"data": "d", "detector": "y", "out": "o"}
    with pytest.raises(InputError, match="unknown detector 'ad'.*--detectors ad=PATH"):
        CompareConfig.from_mapping({**base, "sr": "bicubic@ad"})  # before anything loads
    with pytest.raises(InputError, match="LABEL=PATH"):
        CompareConfig.from_mapping({**base, "detectors": "ad"})
    with pytest.raises(InputError, match="letters, digits"):
        CompareConfig.from_mapping({**base, "detectors": {"a d": "x.pt"}})
    with pytest.raises(InputError, match="two detectors"):
        CompareConfig.from_mapping({**base, "sr": "bicubic@a=x.pt", "detectors": {"a": "y.pt"}})


# --------------------------------------------------------------------------------------------- results


def test_two_detectors_give_the_results_of_separate_runs(tmp_path):
    path = make_dataset(tmp_path / "ds")
    gt = load_coco(path)
    kw = dict(scale=4, n_resamples=200, progress=False)
    both = compare(
        gt,
        Oracle(path),
        sr=["bicubic", "bilinear", "bilinear@j", "hr@j", "lr@j", "bicubic@j"],
        detectors={"j": Jittered(path)},
        cache_dir=tmp_path / "c1",
        out_dir=tmp_path / "out",
        **kw,
    )
    alone_j = compare(gt, Jittered(path), sr=["bicubic", "bilinear"], cache_dir=tmp_path / "c2", **kw)
    alone_o = compare(gt, Oracle(path), sr=["bicubic", "bilinear"], cache_dir=tmp_path / "c3", **kw)
    conds = both["conditions"]
    assert list(conds) == ["hr", "lr", "bicubic", "bilinear", "bilinear@j", "hr@j", "lr@j", "bicubic@j"]
    for name in ("hr", "lr", "bicubic", "bilinear"):
        _same_metrics(conds[name], alone_o["conditions"][name], name)
        _same_metrics(conds[f"{name}@j"], alone_j["conditions"][name], f"{name}@j")
        assert conds[name]["detector"] == "main"
        assert conds[f"{name}@j"]["detector"] == "j"
    assert conds["bicubic@j"]["AP"] < conds["bicubic"]["AP"] == pytest.approx(1.0)
    # deltas are paired over the same images: bicubic@j - bicubic is the difference of the separate runs' APs
    d = both["deltas"]["vs_bicubic"]["bicubic@j"]["AP"]
    assert d["delta"] == pytest.approx(alone_j["conditions"]["bicubic"]["AP"] - alone_o["conditions"]["bicubic"]["AP"])
    assert d["ci_low"] <= d["delta"] <= d["ci_high"] < 0
    # and each X@j against X through the main detector directly (what swapping the detector buys)
    same = both["deltas"]["vs_same_input"]
    assert set(same) == {"bilinear@j", "hr@j", "lr@j", "bicubic@j"}
    assert same["hr@j"]["reference"] == "hr"
    for name in same:
        ref = name.split("@")[0]
        s = same[name]["AP"]
        assert s["delta"] == pytest.approx(alone_j["conditions"][ref]["AP"] - alone_o["conditions"][ref]["AP"]), name
        assert s["ci_low"] <= s["delta"] <= s["ci_high"], name
    # SR outputs are shared: bilinear@j read bilinear's images from the cache; detections are keyed per detector
    assert conds["bilinear@j"]["sr_cached"] == 5
    assert conds["bilinear@j"]["detections_cached"] == 0
    assert len(list((tmp_path / "c1").glob("det/*/*.json"))) == 8 * 5
    # results.json and the report say which detector scored what
    dets = both["config"]["detectors"]
    assert list(dets) == ["main", "j"]
    assert dets["j"]["conditions"] == ["bilinear@j", "hr@j", "lr@j", "bicubic@j"]
    assert dets["j"]["settings"] == {"type": "jittered", "scale": 4, "shift": 3.0}
    assert dets["j"]["type"] == "Jittered"
    assert dets["main"]["cache_identity"] != dets["j"]["cache_identity"]
    assert both["config"]["detector"] == {"type": "oracle", "scale": 4}
    on_disk = json.loads((tmp_path / "out" / "results.json").read_text())
    assert on_disk["schema"] == "sr4det-compare-v2"
    assert on_disk["config"]["detectors"]["j"]["conditions"][0] == "bilinear@j"
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Conditions by detector" in md
    assert "| input | main | j |" in md
    assert "## Deltas vs the same input through the run's main detector" in md
    assert "| hr@j | hr |" in md
    assert f"| bicubic | 1.000 | {conds['bicubic@j']['AP']:.3f} |" in md
    # a run without own detectors has no such section (and every condition is main's)
    assert set(alone_o["config"]["detectors"]) == {"main"}
    assert "Conditions by detector" not in _report(alone_o)


def _report(results):
    from sr4det.evaluation import render_markdown

    return render_markdown(results)


def test_a_detector_with_the_same_outputs_gives_zero_deltas_with_zero_width_intervals(tmp_path):
    """Pairing: a twin detector (same outputs, another identity) differs from the main one by exactly 0 on every
    bootstrap resample; unpaired intervals would not be [0, 0]."""
    path = make_dataset(tmp_path / "ds")
    res = compare(
        load_coco(path),
        Jittered(path),
        sr=["bicubic@t", "hr@t"],
        detectors={"t": _JitteredTwin(path)},
        scale=4,
        n_resamples=300,
        cache_dir=tmp_path / "c",
        progress=False,
    )
    for name in ("bicubic@t", "hr@t"):
        assert res["conditions"][name]["detections_cached"] == 0  # its own cache entries
    d = res["deltas"]["vs_bicubic"]["bicubic@t"]["AP"]
    assert d == {
        "delta": 0.0,
        "ci_low": 0.0,
        "ci_high": 0.0,
        "se": 0.0,
        "resolvable": 0.0,
        "n_images_needed": None,
        "p": 1.0,
        # bicubic and hr through another detector make no claim about SR: outside the multiplicity family
        "family_size": None,
        "p_holm": None,
        "ci_low_family": None,
        "ci_high_family": None,
    }
    h, h_t = res["deltas"]["vs_bicubic"]["hr"]["AP"], res["deltas"]["vs_bicubic"]["hr@t"]["AP"]
    assert h == h_t
    assert h["ci_low"] is not None
    assert res["deltas"]["vs_same_input"]["hr@t"]["AP"] == {
        "delta": 0.0,
        "ci_low": 0.0,
        "ci_high": 0.0,
        "se": 0.0,
        "resolvable": 0.0,
        "n_images_needed": None,
        "p": 1.0,  # no resample tells them apart
    }


class _JitteredTwin(Jittered):
    def __init__(self, json_path):
        super().__init__(json_path)
        self.config = {**self.config, "twin": True}


def test_plain_cache_keys_are_unchanged_and_sr_outputs_are_shared(tmp_path):
    path = make_pinned_dataset(tmp_path / "ds")
    cache = tmp_path / "cache"

    class Other(Fixed):
        config = {"type": "pinned", "version": 2}

    compare(
        load_coco(path),
        Fixed(),
        sr=["bicubic", "bilinear", "bilinear@o", "hr@o"],
        detectors={"o": Other()},
        scale=2,
        n_resamples=0,
        cache_dir=cache,
        progress=False,
    )
    listing = _listing(cache)
    assert listing["sr"] == PINNED["sr"]  # no SR output depends on the detector
    assert set(PINNED["det"]) < set(listing["det"])
    assert len(listing["det"]) == len(PINNED["det"]) + 2 * 2


def test_conditions_given_directly_can_carry_a_detector(tmp_path):
    path = make_dataset(tmp_path / "ds")
    j = Jittered(path)
    conds = [
        HRCondition("hr"),
        LRCondition("lr"),
        SRCondition("bicubic"),
        SRCondition("bicubic@j", j, "j", spec=SRSpec("bicubic@j", "bicubic", "j")),
        HRCondition("hr_adapted", j),
    ]
    res = compare(load_coco(path), Oracle(path), conditions=conds, scale=4, n_resamples=0, cache_dir=False, progress=False)
    alone = compare(load_coco(path), Jittered(path), sr=[], scale=4, n_resamples=0, cache_dir=False, progress=False)
    _same_metrics(res["conditions"]["hr_adapted"], alone["conditions"]["hr"], "hr_adapted")
    _same_metrics(res["conditions"]["bicubic@j"], alone["conditions"]["bicubic"], "bicubic@j")
    assert res["config"]["detectors"]["j"]["conditions"] == ["bicubic@j"]
    assert res["config"]["detectors"]["hr_adapted"]["conditions"] == ["hr_adapted"]


def test_each_distinct_detector_path_is_loaded_once(tmp_path):
    path = make_dataset(tmp_path / "ds")
    calls = []

    def loader(source):
        calls.append(source)
        return Jittered(path) if source == "j.pt" else Twin(path)

    res = compare(
        load_coco(path),
        Oracle(path),
        sr=["bicubic@a=j.pt", "hr@a", "lr@b=j.pt", "bilinear@c=t.pt"],
        detector_loader=loader,
        scale=4,
        n_resamples=0,
        cache_dir=False,
        progress=False,
    )
    assert calls == ["j.pt", "t.pt"]
    assert res["conditions"]["hr@a"]["AP"] < 1
    assert res["conditions"]["bilinear@c"]["AP"] == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------- bad input


def _no_cache_entries(cache: Path) -> bool:
    return not cache.exists() or not [p for p in cache.rglob("*") if p.is_file()]


def test_unknown_detector_label_fails_before_any_work(tmp_path):
    path = make_dataset(tmp_path / "ds")
    det = Oracle(path)
    cache = tmp_path / "cache"
    with pytest.raises(InputError, match=r"unknown detector 'x'.*bicubic@x=DETECTOR.*--detectors x=PATH") as info:
        compare(load_coco(path), det, sr=["bicubic", "bicubic@x"], detectors={"y": Twin(path)}, cache_dir=cache, progress=False)
    assert isinstance(info.value, ValueError)
    assert "defined labels: ['y']" in str(info.value)
    assert det.calls == 0
    assert _no_cache_entries(cache)


def test_detector_with_another_class_list_fails_before_any_work(tmp_path):
    path = make_dataset(tmp_path / "ds")
    det, other = Oracle(path), OtherClasses(path)
    cache = tmp_path / "cache"
    with pytest.raises(DetectorMismatchError, match=r"'o'.*hr@o.*class 1: 'car' vs 'boat'.*same classes") as info:
        compare(load_coco(path), det, sr=["bicubic", "hr@o"], detectors={"o": other}, cache_dir=cache, progress=False)
    assert isinstance(info.value, ValueError)
    # also for conditions given directly
    with pytest.raises(DetectorMismatchError):
        compare(load_coco(path), det, conditions=[HRCondition("hr"), HRCondition("hr@o", other)], cache_dir=cache, progress=False)
    assert det.calls == 0
    assert other.calls == 0
    assert _no_cache_entries(cache)


def test_detector_that_does_not_load_fails_before_any_work(tmp_path):
    path = make_dataset(tmp_path / "ds")
    det = Oracle(path)
    cache = tmp_path / "cache"

    def broken(source):
        raise OSError(f"cannot read {source}")

    with pytest.raises(DetectorError, match=r"detector 'b' \(b\.pt\) of bicubic@b does not load: OSError.*give a \.pt"):
        compare(load_coco(path), det, sr=["bicubic@b=b.pt"], detector_loader=broken, cache_dir=cache, progress=False)
    with pytest.raises(InputError, match="two detectors"):
        compare(load_coco(path), det, sr=["bicubic@b=b.pt", "hr@b=c.pt"], detector_loader=broken, cache_dir=cache, progress=False)
    assert det.calls == 0
    assert _no_cache_entries(cache)


def test_missing_or_corrupt_ultralytics_weights_fail_before_any_work(tmp_path):
    pytest.importorskip("ultralytics")
    path = make_dataset(tmp_path / "ds")
    det = Oracle(path)
    cache = tmp_path / "cache"
    with pytest.raises(WeightsNotAvailableError, match=r"detector 'a'.*not found.*give a \.pt") as info:
        compare(load_coco(path), det, sr=[f"bicubic@a={tmp_path / 'missing.pt'}"], cache_dir=cache, progress=False)
    assert isinstance(info.value, FileNotFoundError)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(DetectorError, match=r"detector 'a' .*junk\.pt.* does not load"):
        compare(load_coco(path), det, sr=[f"hr@a={junk}"], cache_dir=cache, progress=False)
    assert det.calls == 0
    assert _no_cache_entries(cache)


def test_cli_reports_an_unknown_detector_before_loading_anything(tmp_path, capsys):
    from sr4det.cli import main

    rc = main(
        [
            "compare",
            "--data",
            str(tmp_path / "none.json"),
            "--detector",
            "x.pt",
            "--out",
            str(tmp_path / "o"),
            "--sr",
            "bicubic,bicubic@ad",
            "--cache",
            str(tmp_path / "cache"),
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert "unknown detector 'ad'" in err
    assert "--detectors ad=PATH" in err
    assert _no_cache_entries(tmp_path / "cache")
    assert not (tmp_path / "o" / "results.json").exists()


# --------------------------------------------------------------------------------------------- sharded


_SCRIPT = """
import sys
from evaluation.test_condition_detectors import Jittered
from evaluation.test_runner import Oracle
from sr4det.data.datasets import load_coco
from sr4det.evaluation import compare

path, out = sys.argv[1:3]
compare(load_coco(path), Oracle(path), sr=["bicubic", "bicubic@j", "hr@j"], detectors={"j": Jittered(path)}, scale=4,
        n_resamples=200, out_dir=out, cache_dir=False, progress=False)
"""


@pytest.mark.torchrun
def test_sharded_run_with_two_detectors_equals_one_process(tmp_path):
    repo = Path(__file__).resolve().parents[2]
    torchrun = Path(sys.executable).parent / "torchrun"
    if not torchrun.exists():
        pytest.skip("torchrun is not installed beside this python")
    path = make_dataset(tmp_path / "ds")
    script = tmp_path / "run.py"
    script.write_text(_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), str(repo / "tests")]), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node", "2", str(script), str(path), str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    sharded = json.loads((tmp_path / "out" / "results.json").read_text())
    single = compare(
        load_coco(path),
        Oracle(path),
        sr=["bicubic", "bicubic@j", "hr@j"],
        detectors={"j": Jittered(path)},
        scale=4,
        n_resamples=200,
        cache_dir=False,
        progress=False,
    )
    assert sharded["config"]["world_size"] == 2
    assert list(sharded["conditions"]) == list(single["conditions"])
    for name in single["conditions"]:
        _same_metrics(sharded["conditions"][name], single["conditions"][name], name)
        assert sharded["conditions"][name]["detector"] == single["conditions"][name]["detector"]
    assert sharded["deltas"] == single["deltas"]
    assert sharded["config"]["detectors"]["j"]["conditions"] == ["bicubic@j", "hr@j"]


# --------------------------------------------------------------------------------------------- real detectors


@pytest.mark.shared
@pytest.mark.slow
def test_yolov8n_conditions_in_a_yolo11n_run_equal_a_yolov8n_run(shared, tmp_path, monkeypatch):
    """The YAML pipeline with a `conditions:` list and a `detectors:` mapping (YOLO11n run, YOLOv8n conditions) gives
    the YOLOv8n conditions the numbers of a CLI run with YOLOv8n as its detector."""
    pytest.importorskip("openvino")
    import contextlib
    import io

    import yaml

    shared("data", "coco128")
    v8 = shared("weights", "yolov8n_int8_openvino_model")
    shared("weights", "yolo11n_int8_openvino_model")
    repo = Path(__file__).resolve().parents[2]
    cfg = yaml.safe_load((repo / "pipelines" / "configs" / "coco128_x4.yaml").read_text())
    cfg.update(
        {
            "sr": ["bicubic"],
            "conditions": ["bicubic@v8", "hr@v8"],
            "detectors": {"v8": "${shared}/weights/yolov8n_int8_openvino_model"},
            "bootstrap": 50,
            "limit": 2,
            "cache": str(tmp_path / "c1"),
            "out": str(tmp_path / "pipe"),
        }
    )
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    monkeypatch.syspath_prepend(str(repo / "pipelines"))
    import coco_map_compare

    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            rc = coco_map_compare.main(["--config", str(tmp_path / "cfg.yaml"), "--quiet"])
    finally:
        sys.modules.pop("coco_map_compare", None)
    assert rc == 0, buf.getvalue()
    both = json.loads((tmp_path / "pipe" / "results.json").read_text())
    assert list(both["conditions"]) == ["hr", "lr", "bicubic", "bicubic@v8", "hr@v8"]
    rec = both["config"]["detectors"]["v8"]
    assert rec["path"] == str(v8)
    assert len(rec["weights_sha256"]) == 64
    assert rec["settings"]["imgsz"] == 640
    assert both["config"]["detectors"]["main"]["path"].endswith("yolo11n_int8_openvino_model")

    from sr4det.cli import main

    data = shared("data", "coco128", "annotations", "instances_train2017.json")
    assert (
        main(
            [
                "compare",
                "--data",
                str(data),
                "--detector",
                str(v8),
                "--scale",
                "4",
                "--sr",
                "bicubic",
                "--limit",
                "2",
                "--bootstrap",
                "0",
                "--cache",
                str(tmp_path / "c2"),
                "--out",
                str(tmp_path / "v8"),
                "--quiet",
            ]
        )
        == 0
    )
    alone = json.loads((tmp_path / "v8" / "results.json").read_text())
    for name in ("bicubic", "hr"):
        _same_metrics(both["conditions"][f"{name}@v8"], alone["conditions"][name], name)
    assert both["conditions"]["bicubic@v8"]["AP"] != both["conditions"]["bicubic"]["AP"]

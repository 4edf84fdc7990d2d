"""Pre-declared head-to-head pairs (``pairs``: "does A beat B on the same images?"): the paired delta of A minus B
with its bootstrap interval and Holm's adjustment over the pairs, names checked before any work, and the Python,
CLI and YAML ways to ask for them."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import pytest

from sr4det.data.datasets import load_coco
from sr4det.errors import InputError
from sr4det.evaluation import CompareConfig, compare
from sr4det.evaluation.settings import parse_pairs

from .test_condition_detectors import Jittered
from .test_runner import Oracle, make_dataset

KW = dict(scale=4, n_resamples=200, seed=0, progress=False)


def _run(path: Path, tmp: Path, pairs=None, **kw):
    """bicubic through the oracle (perfect) and bicubic@j through the jittered detector (worse on every image)."""
    extra = {} if pairs is None else {"pairs": pairs}
    return compare(
        load_coco(path),
        Oracle(path),
        sr=["bicubic", "bilinear", "bicubic@j"],
        detectors={"j": Jittered(path)},
        **KW,
        **extra,
        **kw,
    )


def test_a_better_model_beats_the_worse_one_and_the_swapped_pair_is_the_negation(tmp_path):
    path = make_dataset(tmp_path / "ds")
    res = _run(path, tmp_path, pairs=["bicubic:bicubic@j", "bicubic@j:bicubic"], cache_dir=False, out_dir=tmp_path / "out")
    pairs = res["deltas"]["pairs"]
    assert list(pairs) == ["bicubic:bicubic@j", "bicubic@j:bicubic"]
    ab, ba = pairs["bicubic:bicubic@j"], pairs["bicubic@j:bicubic"]
    assert ab["reference"] == "bicubic@j" and ba["reference"] == "bicubic"
    conds = res["conditions"]
    for key in ("AP", "AP50"):
        d, e = ab[key], ba[key]
        assert d["delta"] == pytest.approx(conds["bicubic"][key] - conds["bicubic@j"][key])
        assert 0 < d["ci_low"] <= d["delta"] <= d["ci_high"]  # the oracle beats the jittered detector on these images
        assert e["delta"] == pytest.approx(-d["delta"])
        assert e["ci_low"] == pytest.approx(-d["ci_high"]) and e["ci_high"] == pytest.approx(-d["ci_low"])
        assert e["p"] == d["p"] < 0.05
        # Holm over the two pairs: both p-values equal, so each is doubled
        assert d["family_size"] == e["family_size"] == 2
        assert d["p_holm"] == e["p_holm"] == pytest.approx(min(1.0, 2 * d["p"]))
        assert d["ci_low_family"] <= d["ci_low"] and d["ci_high"] <= d["ci_high_family"]
    # the same pair as the baseline delta compare already reports (bicubic@j vs bicubic)
    assert ba["AP"]["delta"] == res["deltas"]["vs_bicubic"]["bicubic@j"]["AP"]["delta"]
    assert ba["AP"]["ci_low"] == res["deltas"]["vs_bicubic"]["bicubic@j"]["AP"]["ci_low"]
    assert res["config"]["pairs"] == ["bicubic:bicubic@j", "bicubic@j:bicubic"]
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Head-to-head" in md
    assert f"| bicubic | bicubic@j | +{ab['AP']['delta']:.3f} [" in md
    from sr4det.evaluation.report import render_summary

    summary = render_summary(res)
    assert "head-to-head" in summary
    assert f"bicubic - bicubic@j: ΔAP +{ab['AP']['delta']:.3f}" in summary


def test_one_pair_has_holm_equal_to_p_and_no_pairs_change_nothing_else(tmp_path):
    path = make_dataset(tmp_path / "ds")
    cache = tmp_path / "cache"
    plain = _run(path, tmp_path, cache_dir=cache)
    files = sorted(p.relative_to(cache) for p in cache.rglob("*") if p.is_file())
    one = _run(path, tmp_path, pairs="bilinear:bicubic", cache_dir=cache)
    assert "pairs" not in plain["deltas"] and "pairs" not in plain["config"]
    d = one["deltas"]["pairs"]["bilinear:bicubic"]["AP"]
    assert d["family_size"] == 1 and d["p_holm"] == d["p"]
    assert d["ci_low_family"] == d["ci_low"] and d["ci_high_family"] == d["ci_high"]
    # pairs are scoring only: the same cache entries, every other number as without them
    assert sorted(p.relative_to(cache) for p in cache.rglob("*") if p.is_file()) == files
    assert all(one["conditions"][n]["sr_cached"] == plain["conditions"][n]["n_images"] for n in ("bicubic", "bilinear"))
    del one["deltas"]["pairs"], one["config"]["pairs"]
    for key in ("deltas", "per_class", "dataset"):
        assert one[key] == plain[key], key
    for name, m in plain["conditions"].items():
        for key in ("AP", "AP50", "psnr", "n_detections"):
            assert one["conditions"][name][key] == m[key], (name, key)


def test_unknown_names_are_refused_before_any_work(tmp_path):
    path = make_dataset(tmp_path / "ds")
    det = Oracle(path)
    cache, out = tmp_path / "cache", tmp_path / "out"
    with pytest.raises(InputError, match=r"'bicubc'.*did you mean 'bicubic'.*conditions are: hr, lr, bicubic, bilinear"):
        compare(load_coco(path), det, sr=["bicubic", "bilinear"], pairs=["bilinear:bicubc"], cache_dir=cache, out_dir=out, **KW)
    assert det.calls == 0
    assert not out.exists() and not any(p.is_file() for p in cache.rglob("*"))
    for bad, match in (
        ("bilinear-bicubic", "not A:B"),
        ("a:b:c", "not A:B"),
        ("bicubic:", "not A:B"),
        ("bicubic:bicubic", "with itself"),
        (["hr:lr", "hr:lr"], "twice"),
        ([("hr", "lr", "x")], "not a pair"),
    ):
        with pytest.raises(InputError, match=match):
            compare(load_coco(path), det, pairs=bad, cache_dir=False, **KW)
    assert det.calls == 0


def test_parse_pairs_forms():
    assert parse_pairs(None) == ()
    assert parse_pairs("a:b, c:d") == (("a", "b"), ("c", "d"))
    assert parse_pairs(["a:b", "c:d,e:f", ("g", "h")]) == (("a", "b"), ("c", "d"), ("e", "f"), ("g", "h"))
    assert parse_pairs(" a : b ", ["a", "b"]) == (("a", "b"),)
    with pytest.raises(InputError, match="conditions are: a, b"):
        parse_pairs("a:c", ["a", "b"])


def test_config_yaml_and_cli_reach_the_settings(tmp_path):
    import argparse

    base = {"data": "x.json", "detector": "d.pt", "out": str(tmp_path), "sr": "bicubic,rfdn_det@j=y.pt"}
    cfg = CompareConfig.from_mapping({**base, "pairs": ["rfdn_det@j:bicubic", "hr:lr"]})
    assert cfg.settings().pairs == (("rfdn_det@j", "bicubic"), ("hr", "lr"))
    assert CompareConfig.from_mapping(base).settings().pairs == ()
    with pytest.raises(InputError, match=r"'rfdn'.*conditions are: hr, lr, bicubic, rfdn_det@j"):
        CompareConfig.from_mapping({**base, "pairs": "rfdn:bicubic"})  # refused with the options, before any loading
    parser = argparse.ArgumentParser()
    CompareConfig.add_arguments(parser)
    argv = ["--data", "x.json", "--detector", "d.pt", "--out", str(tmp_path), "--sr", "bicubic,espcn"]
    args = parser.parse_args([*argv, "--pair", "espcn:bicubic", "--pairs", "hr:lr,espcn:lr"])
    assert CompareConfig.from_args(args).settings().pairs == (("espcn", "bicubic"), ("hr", "lr"), ("espcn", "lr"))
    assert CompareConfig.from_args(parser.parse_args(argv)).pairs is None


@pytest.fixture
def fake_ultralytics(monkeypatch, tmp_path):
    """``UltralyticsDetector`` replaced by the oracle of the synthetic data set (what the CLI and YAML paths build)."""
    import sr4det.detectors

    path = make_dataset(tmp_path / "ds")
    monkeypatch.setattr(sr4det.detectors, "UltralyticsDetector", lambda weights, **kw: Oracle(path))
    return path


def test_cli_pair_reaches_results(fake_ultralytics, tmp_path):
    from sr4det.cli import main

    out = tmp_path / "cli"
    argv = ["compare", "--data", str(fake_ultralytics), "--detector", "oracle.pt", "--out", str(out), "--sr", "bicubic,bilinear"]
    argv += ["--bootstrap", "100", "--no-cache", "--quiet"]
    with contextlib.redirect_stdout(io.StringIO()) as buf:
        assert main([*argv, "--pair", "bilinear:bicubic", "--pair", "hr:bilinear"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert list(res["deltas"]["pairs"]) == ["bilinear:bicubic", "hr:bilinear"]
    assert res["deltas"]["pairs"]["hr:bilinear"]["AP"]["family_size"] == 2
    assert "head-to-head" in buf.getvalue()
    with contextlib.redirect_stderr(io.StringIO()) as err, contextlib.redirect_stdout(io.StringIO()):
        assert main([*argv, "--pair", "bilinear:espcn"]) != 0
    assert "'espcn'" in err.getvalue() and "hr, lr, bicubic, bilinear" in err.getvalue()


def test_yaml_pairs_and_pipeline_flag_reach_results(fake_ultralytics, tmp_path, monkeypatch):
    repo = Path(__file__).resolve().parents[2]
    monkeypatch.syspath_prepend(str(repo / "pipelines"))
    import coco_map_compare

    config = tmp_path / "job.yaml"
    config.write_text(
        f"data: {fake_ultralytics}\ndetector: oracle.pt\nsr: [bicubic, bilinear]\nbootstrap: 100\ncache: false\n"
        "pairs: [bilinear:bicubic]\n"
    )
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            assert coco_map_compare.main(["--config", str(config), "--out", str(tmp_path / "y"), "--quiet"]) == 0
            args = ["--config", str(config), "--out", str(tmp_path / "f"), "--quiet", "--pair", "hr:bilinear"]
            assert coco_map_compare.main(args) == 0
    finally:
        sys.modules.pop("coco_map_compare", None)
    assert list(json.loads((tmp_path / "y" / "results.json").read_text())["deltas"]["pairs"]) == ["bilinear:bicubic"]
    # the flag replaces the config's pairs
    assert list(json.loads((tmp_path / "f" / "results.json").read_text())["deltas"]["pairs"]) == ["hr:bilinear"]

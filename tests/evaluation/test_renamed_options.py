"""One word, one meaning (issue 27): compare's ``--backend``/``--precision`` are the SR runtime as in every command,
``--coco-eval`` the COCO metrics implementation. The old spellings (``--sr-runtime``/``--sr-precision``, ``--backend
faster-coco-eval``, their YAML keys and keywords) still work and warn, naming the new one; results.json is unchanged."""

from __future__ import annotations

import argparse
import json
import warnings

import pytest

from sr4det.cli import build_parser
from sr4det.data.datasets import load_coco
from sr4det.errors import InputError
from sr4det.evaluation import CompareConfig, compare

from .test_cache_keys import Fixed, make_pinned_dataset

BASE = {"data": "d.json", "detector": "y.pt", "out": "o"}
REQUIRED = ["--data", "d.json", "--detector", "y.pt", "--out", "o"]
#: what every spelling below means
WANT = ("openvino", "bf16", "faster-coco-eval")


def _runtime(cfg: CompareConfig) -> tuple[str, str, str]:
    return cfg.backend, cfg.precision, cfg.coco_eval


def _cli(argv: list[str]) -> CompareConfig:
    args = build_parser().parse_args(["compare", *REQUIRED, *argv])
    return CompareConfig.from_args(args)


def test_compare_declares_backend_and_precision_as_every_command_does():
    from sr4det._options import OPTIONS

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for command in ("compare", "upscale", "detect", "materialize"):
        actions = sub.choices[command]._option_string_actions
        for name in ("backend", "precision"):
            action = actions[f"--{name}"]
            assert action.help == OPTIONS[name].help, (command, name)
            assert list(action.choices) == list(OPTIONS[name].kwargs["choices"]), (command, name)
            assert action.default == OPTIONS[name].default, (command, name)
    assert list(sub.choices["compare"]._option_string_actions["--coco-eval"].choices) == ["pycocotools", "faster-coco-eval"]


def test_the_new_spelling_works_without_a_warning(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cli = _cli(["--backend", "openvino", "--precision", "bf16", "--coco-eval", "faster-coco-eval"])
        mapping = CompareConfig.from_mapping(
            {**BASE, "backend": "openvino", "precision": "bf16", "coco_eval": "faster-coco-eval"}
        )
        keywords = CompareConfig(**BASE, backend="openvino", precision="bf16", coco_eval="faster-coco-eval").checked()
    assert "deprecated" not in capsys.readouterr().err
    assert _runtime(cli) == _runtime(mapping) == _runtime(keywords) == WANT
    assert cli == mapping == keywords
    assert keywords.settings().coco_eval == "faster-coco-eval"
    assert _runtime(_cli([])) == ("torch", "fp32", "pycocotools")


@pytest.mark.parametrize(
    "argv",
    [
        ["--sr-runtime", "openvino", "--sr-precision", "bf16", "--backend", "faster-coco-eval"],
        ["--backend", "faster-coco-eval", "--sr-runtime", "openvino", "--sr-precision", "bf16"],
        ["--backend", "openvino", "--precision", "bf16", "--backend", "faster-coco-eval"],
    ],
)
def test_old_cli_spellings_still_work_and_say_the_new_one(argv, capsys):
    cfg = _cli(argv)
    assert _runtime(cfg) == WANT
    err = capsys.readouterr().err
    assert "'--backend faster-coco-eval' is deprecated; use --coco-eval faster-coco-eval" in err
    if "--sr-runtime" in argv:
        assert "option '--sr-runtime' is deprecated; use --backend" in err
        assert "option '--sr-precision' is deprecated; use --precision" in err
    assert cfg == CompareConfig(**BASE, backend="openvino", precision="bf16", coco_eval="faster-coco-eval").checked()


def test_old_cli_spellings_keep_their_checks(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["compare", *REQUIRED, "--sr-runtime", "coreml"])
    assert "invalid choice: 'coreml'" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # --backend lists the SR runtimes only; the old COCO values are accepted, not shown
        build_parser().parse_args(["compare", *REQUIRED, "--backend", "cocotools"])
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.endswith("invalid choice: 'cocotools' (choose from 'torch', 'openvino', 'onnxruntime')"), error


@pytest.mark.parametrize("build", ["mapping", "keywords"])
def test_old_yaml_keys_and_keywords_still_work_and_warn(build):
    old = {"sr_runtime": "openvino", "sr_precision": "bf16", "backend": "faster-coco-eval"}
    with pytest.warns(FutureWarning) as record:
        cfg = CompareConfig.from_mapping({**BASE, **old}) if build == "mapping" else CompareConfig(**BASE, **old).checked()
    said = " | ".join(str(w.message) for w in record)
    assert "sr_runtime is deprecated: use backend='openvino'" in said
    assert "sr_precision is deprecated: use precision='bf16'" in said
    assert "use coco_eval='faster-coco-eval'" in said
    assert _runtime(cfg) == WANT
    assert cfg == CompareConfig(**BASE, backend="openvino", precision="bf16", coco_eval="faster-coco-eval").checked()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the moved values are the new fields: replace() warns no more
        assert _runtime(cfg.replace(seed=3)) == WANT


@pytest.mark.parametrize(
    ("old", "match"),
    [
        ({"sr_runtime": "openvino", "backend": "onnxruntime"}, "sr_runtime='openvino' and backend='onnxruntime' disagree"),
        ({"sr_precision": "bf16", "precision": "fp16"}, "disagree; give only precision"),
        ({"backend": "faster-coco-eval", "coco_eval": "pycocotools"}, None),  # the default: nothing to disagree with
        ({"sr_runtime": "coreml"}, "backend must be one of"),
    ],
)
def test_old_and_new_spellings_that_disagree_are_refused(old, match):
    with pytest.warns(FutureWarning):
        if match is None:
            assert CompareConfig.from_mapping({**BASE, **old}).coco_eval == "faster-coco-eval"
            return
        with pytest.raises(InputError, match=match):
            CompareConfig.from_mapping({**BASE, **old})


def test_a_typo_of_the_new_names_is_named():
    with pytest.raises(InputError, match="did you mean 'openvino'"):
        CompareConfig.from_mapping({**BASE, "backend": "openvno"})
    with pytest.raises(InputError, match="did you mean 'faster-coco-eval'"):
        CompareConfig.from_mapping({**BASE, "coco_eval": "fast"})


def _results_without_load(path) -> str:
    data = json.loads(path.read_text())
    data["machine"].pop("load_average")  # the machine's load when the run ended
    return json.dumps(data, indent=2)


#: results.json's config of the run below as main wrote it before the rename (cache_dir left out: a tmp path)
CONFIG = {
    "scale": 2,
    "degradation": {"scale": 2, "kernel": "cubic", "blur_sigma": None, "noise_std": None, "jpeg_quality": None, "seed": 0},
    "detector": {"type": "pinned", "version": 1},
    "class_map": {"0": 1},
    "backend": "faster-coco-eval",
    "bootstrap": {"n_resamples": 0, "seed": 0, "confidence": 0.95, "unit": "image", "paired": True},
    "sr": {"bicubic": "bicubic", "espcn": "espcn"},
    "tile": "auto",
    "sr_backend": "tiler",
    "device": None,
    "memory": "cpu_rss_delta",
    "psnr_ssim": "Y channel (BT.601), uint8, border shave 2",
    "world_size": 1,
}


def test_compare_keywords_old_and_new_write_the_same_results_json(tmp_path):
    pytest.importorskip("openvino")
    pytest.importorskip("faster_coco_eval")
    gt = load_coco(make_pinned_dataset(tmp_path / "ds"))
    kw = dict(sr=["bicubic", "espcn"], scale=2, n_resamples=0, cache_dir=tmp_path / "cache", progress=False)
    compare(gt, Fixed(), **kw, backend="openvino", out_dir=tmp_path / "warm")  # fills the cache: costs are read back
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        new = compare(gt, Fixed(), **kw, backend="openvino", coco_eval="faster-coco-eval", out_dir=tmp_path / "new")
    with pytest.warns(FutureWarning) as record:
        old = compare(gt, Fixed(), **kw, sr_runtime="openvino", backend="faster-coco-eval", out_dir=tmp_path / "old")
    said = " | ".join(str(w.message) for w in record)
    assert "use backend='openvino'" in said and "use coco_eval='faster-coco-eval'" in said
    assert new["conditions"]["espcn"]["runtime"] == old["conditions"]["espcn"]["runtime"] == "openvino/fp32"
    assert _results_without_load(tmp_path / "new" / "results.json") == _results_without_load(tmp_path / "old" / "results.json")
    config = {k: v for k, v in new["config"].items() if k not in ("cache_dir", "detectors")}
    assert config == CONFIG
    assert list(new["config"]) == [*list(CONFIG)[:12], "cache_dir", "world_size", "detectors"]  # keys and their order


@pytest.mark.parametrize("spelling", [{"backend": "openvino"}, {"sr_runtime": "openvino"}])
def test_native_mode_runs_its_sr_conditions_on_the_backend(spelling):
    pytest.importorskip("openvino")
    from sr4det.evaluation.api import _native_setup

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the old spelling's, tested above
        cfg = CompareConfig(**BASE, native=True, sr="espcn", scale=2, tile="none", **spelling).checked()
    _, conditions = _native_setup(cfg, Fixed(), "cpu")
    assert [c.name for c in conditions] == ["native", "bicubic", "espcn"]
    assert conditions[-1].detector.sr.model.backend == "openvino"

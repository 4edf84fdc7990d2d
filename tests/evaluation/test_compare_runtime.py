"""compare(backend=...): a compiled SR runtime gets its own SR cache entries and digests; torch keys stay as they were."""

from __future__ import annotations

import pytest

from sr4det.data.datasets import load_coco
from sr4det.errors import InputError
from sr4det.evaluation import compare
from sr4det.evaluation.config import CompareConfig

from .test_cache_keys import Fixed, _listing, make_pinned_dataset

pytest.importorskip("openvino")


def test_a_compiled_runtime_has_its_own_sr_cache_entries(tmp_path):
    gt = load_coco(make_pinned_dataset(tmp_path / "ds"))
    cache = tmp_path / "cache"
    kw = dict(sr=["bicubic", "espcn"], scale=2, n_resamples=0, cache_dir=cache, progress=False)
    torch_run = compare(gt, Fixed(), **kw)
    torch_files = set(_listing(cache)["sr"])
    ov_run = compare(gt, Fixed(), **kw, backend="openvino")
    ov_files = set(_listing(cache)["sr"]) - torch_files
    # espcn: 2 new images (+ their json), bicubic (no network: stays on torch) reuses its entries
    assert len(ov_files) == 4
    espcn_torch, espcn_ov = torch_run["conditions"]["espcn"], ov_run["conditions"]["espcn"]
    assert espcn_ov["runtime"] == "openvino/fp32" and "runtime" not in espcn_torch
    assert espcn_ov["model_digest"] != espcn_torch["model_digest"]
    assert ov_run["conditions"]["bicubic"]["model_digest"] == torch_run["conditions"]["bicubic"]["model_digest"]
    assert espcn_ov["psnr"] == pytest.approx(espcn_torch["psnr"], abs=0.05)


def test_bad_runtime_options_fail_in_the_config():
    base = dict(data="d.json", detector="y.pt", out="o")
    with pytest.raises(InputError, match="use backend='openvino'"):
        CompareConfig(**base, backend="onnxruntime", precision="bf16").checked()

"""End to end on a few real coco128 images with the real YOLO11n (OpenVINO int8): CLI, pipeline, backends."""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("openvino")

N = 4


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    import torch

    from sr4det.models import create_model, save_weights

    torch.manual_seed(0)
    net = create_model("fsrcnn_s", scale=4)
    return save_weights(tmp_path_factory.mktemp("w") / "fsrcnn_s_rand.pt", net.net, arch="fsrcnn_s", scale=4)


def test_cli_end_to_end_and_backends_agree(shared, tmp_path, tiny_weights):
    from sr4det.cli import main
    from sr4det.data.datasets import load_dataset
    from sr4det.data.io import read_image
    from sr4det.evaluation import coco
    from sr4det.integrations.ultralytics.detector import UltralyticsDetector

    data = shared("data", "coco128", "annotations", "instances_train2017.json")
    weights = shared("weights", "yolo11n_int8_openvino_model")
    args = [
        "compare",
        "--data",
        str(data),
        "--detector",
        str(weights),
        "--scale",
        "4",
        "--sr",
        f"bicubic,tiny={tiny_weights}",
        "--limit",
        str(N),
        "--bootstrap",
        "200",
        "--cache",
        str(tmp_path / "cache"),
        "--quiet",
    ]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    res = json.loads((tmp_path / "a" / "results.json").read_text())
    conds = res["conditions"]
    assert list(conds) == ["hr", "lr", "bicubic", "tiny"]
    for m in conds.values():
        for key in ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "psnr", "ssim", "sr_seconds_per_image"):
            assert key in m
        assert m["AP"] is not None
        assert 0 <= m["AP"] <= 1
        assert m["n_images"] == N
        assert m["n_detections"] > 0
    assert conds["bicubic"]["psnr"] > 15
    assert conds["tiny"]["psnr"] is not None
    assert res["config"]["detector"]["conf"] == 0.001
    assert res["config"]["detector"]["iou"] == 0.7
    assert res["config"]["detector"]["max_det"] == 300
    assert res["config"]["degradation"]["scale"] == 4
    for f in ("report.md", "ap_by_size.png", "delta_ap_vs_psnr.png", "gain_vs_cost.png"):
        assert (tmp_path / "a" / f).is_file()

    # the hr condition equals pycocotools run directly on the same (mod-cropped) images
    gt = load_dataset(data).head(N)
    det = UltralyticsDetector(str(weights))
    cats = sorted(gt.categories)
    results = []
    for im in gt.images:
        arr = read_image(im.path)[0][: im.height - im.height % 4, : im.width - im.width % 4]
        d = det([np.ascontiguousarray(arr)])[0]
        results += [
            {
                "image_id": im.id,
                "category_id": cats[int(c)],
                "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
                "score": float(s),
            }
            for b, s, c in zip(d.boxes, d.scores, d.labels, strict=True)
        ]
    direct = coco.evaluate(gt.mod_crop(4).to_coco(), results).metrics
    assert conds["hr"]["AP"] == pytest.approx(direct["AP"], abs=1e-9)

    # faster-coco-eval: identical numbers (a rerun is served from the cache)
    pytest.importorskip("faster_coco_eval")
    assert main([*args, "--out", str(tmp_path / "b"), "--coco-eval", "faster-coco-eval"]) == 0
    res_b = json.loads((tmp_path / "b" / "results.json").read_text())
    assert res_b["conditions"]["tiny"]["detections_cached"] == N
    for name in conds:
        for key in ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100"):
            a, b = conds[name][key], res_b["conditions"][name][key]
            assert (a is None and b is None) or b == pytest.approx(a, abs=1e-12), (name, key)


def test_pipeline_wrapper(shared, tmp_path, monkeypatch):
    shared("data", "coco128")
    shared("weights", "yolo11n_int8_openvino_model")
    repo = Path(__file__).resolve().parents[2]
    monkeypatch.syspath_prepend(str(repo / "pipelines"))
    import coco_map_compare

    out = tmp_path / "pipe"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = coco_map_compare.main(
            [
                "--config",
                str(repo / "pipelines" / "configs" / "coco128_x4.yaml"),
                "--limit",
                "2",
                "--sr",
                "bicubic",
                "--bootstrap",
                "50",
                "--out",
                str(out),
                "--quiet",
            ]
        )
    assert rc == 0, buf.getvalue()
    res = json.loads((out / "results.json").read_text())
    assert list(res["conditions"]) == ["hr", "lr", "bicubic"]
    assert res["n_images"] == 2
    assert res["config"]["pipeline_config"].endswith("coco128_x4.yaml")
    assert "bicubic" in buf.getvalue()
    sys.modules.pop("coco_map_compare", None)


def test_pipeline_wrapper_takes_the_sr_runtime(shared, tmp_path, monkeypatch):
    """--backend/--precision reach the SR conditions as in `sr4det compare` (the config's value otherwise)."""
    shared("data", "coco128")
    shared("weights", "yolo11n_int8_openvino_model")
    repo = Path(__file__).resolve().parents[2]
    monkeypatch.syspath_prepend(str(repo / "pipelines"))
    import coco_map_compare

    config = str(repo / "pipelines" / "configs" / "coco128_x4.yaml")
    common = ["--config", config, "--limit", "1", "--sr", "espcn", "--bootstrap", "0", "--cache", str(tmp_path / "c")]
    with contextlib.redirect_stdout(io.StringIO()):
        assert coco_map_compare.main([*common, "--backend", "onnxruntime", "--out", str(tmp_path / "ort"), "--quiet"]) == 0
        assert coco_map_compare.main([*common, "--out", str(tmp_path / "torch"), "--quiet"]) == 0
    ort = json.loads((tmp_path / "ort" / "results.json").read_text())["conditions"]["espcn"]
    eager = json.loads((tmp_path / "torch" / "results.json").read_text())["conditions"]["espcn"]
    assert ort["runtime"] == "onnxruntime/fp32"
    assert "runtime" not in eager
    assert ort["psnr"] == pytest.approx(eager["psnr"], abs=0.01)  # fp32 ONNX Runtime equals torch within ~1e-5
    sys.modules.pop("coco_map_compare", None)


def test_pipeline_runs_the_main_job_on_another_coco_json(shared, tmp_path, monkeypatch):
    """--data/--images replace the config's dataset (and the config's image folder with it)."""
    src = shared("data", "coco128", "annotations", "instances_train2017.json")
    images = shared("data", "coco128", "images", "train2017")
    shared("weights", "yolo11n_int8_openvino_model")
    gt = json.loads(Path(src).read_text())
    keep = {im["id"] for im in gt["images"][3:5]}
    own = {
        "images": [im for im in gt["images"] if im["id"] in keep],
        "annotations": [a for a in gt["annotations"] if a["image_id"] in keep],
        "categories": gt["categories"],
    }
    data = tmp_path / "elsewhere" / "mine.json"  # no image folder beside it: --images names it
    data.parent.mkdir()
    data.write_text(json.dumps(own))
    repo = Path(__file__).resolve().parents[2]
    monkeypatch.syspath_prepend(str(repo / "pipelines"))
    import coco_map_compare

    out = tmp_path / "pipe"
    args = ["--config", str(repo / "pipelines" / "configs" / "coco128_x4.yaml"), "--sr", "bicubic", "--bootstrap", "0"]
    args += ["--out", str(out), "--quiet", "--data", str(data)]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        assert coco_map_compare.main(args) == 2  # the folder cannot be guessed: the message says how to name it
    assert "--images DIR" in err.getvalue()
    with contextlib.redirect_stdout(io.StringIO()):
        assert coco_map_compare.main([*args, "--images", str(images)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["n_images"] == 2
    assert res["dataset"]["source"] == str(data)
    sys.modules.pop("coco_map_compare", None)


def test_saved_images_feed_a_mos_study_whose_mos_comes_back_beside_the_conditions(shared, tmp_path):
    """compare --save-images -> mos create from those outputs -> ratings -> compare --mos puts MOS beside AP/PSNR."""
    import shutil

    from sr4det.cli import main
    from sr4det.mos import create_study, mos_table
    from sr4det.mos.storage import Study

    data = shared("data", "coco128", "annotations", "instances_train2017.json")
    weights = shared("weights", "yolo11n_int8_openvino_model")
    base = [
        "compare",
        "--data",
        str(data),
        "--detector",
        str(weights),
        "--scale",
        "4",
        "--sr",
        "bicubic,lanczos",
        "--limit",
        "2",
        "--bootstrap",
        "0",
        "--cache",
        str(tmp_path / "cache"),
        "--quiet",
        "--out",
        str(tmp_path / "run"),
    ]
    assert main([*base, "--save-images", str(tmp_path / "sr")]) == 0
    saved = sorted(p.name for p in (tmp_path / "sr" / "lanczos").iterdir())
    assert len(saved) == 2
    assert saved == sorted(p.name for p in (tmp_path / "sr" / "bicubic").iterdir())

    hr_dir = tmp_path / "hr"
    hr_dir.mkdir()
    for name in saved:  # the study's HR images: the same coco128 files
        shutil.copy(Path(data).parents[1] / "images" / "train2017" / name.replace(".png", ".jpg"), hr_dir)
    db = create_study(
        hr_dir, tmp_path / "study.sqlite", scale=4, methods=f"lanczos={tmp_path / 'sr' / 'lanczos'}", seed=1, progress=False
    )
    study = Study(db)
    rater, _ = study.add_rater("alice")
    for i, image_id in enumerate(study.assignment(rater)):
        study.add_rating(rater, image_id, 1 + i % 5)

    assert main([*base, "--mos", str(db)]) == 0
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    table = mos_table(db)
    for method in ("hr", "bicubic", "lanczos"):
        assert res["conditions"][method]["mos"] == pytest.approx(table[method]["mos"])
    assert "MOS beside PSNR" in (tmp_path / "run" / "report.md").read_text()

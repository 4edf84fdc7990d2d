"""Native-resolution comparison (compare --native): no degradation, conditions native / bicubic / SR at --scale,
whole or sliced, boxes in the native frame; COCO maxDets configurable."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from sr4det.data import load_dataset
from sr4det.detectors import Detections
from sr4det.errors import InputError
from sr4det.evaluation import compare
from sr4det.evaluation.coco import evaluate
from sr4det.evaluation.conditions import Degradation, SRSpec
from sr4det.evaluation.config import CompareConfig
from sr4det.evaluation.native import Slicing, native_conditions

NAMES = {0: "person", 1: "bicycle", 2: "car", 3: "motorcycle", 4: "bus", 5: "truck"}


class BrightBoxes:
    """A perfect detector of the bright rectangles drawn by :func:`_visdrone`: one box per connected bright blob
    (threshold 128 on the green channel), class from the red channel (0 / 100 / 200 -> person / bicycle / car); score
    0.9, or 0.3 for a blob the image border cuts (a detector is less sure of truncated objects)."""

    names = NAMES
    config = {"type": "bright-boxes", "version": 1}

    def __call__(self, images):
        from scipy import ndimage

        out = []
        for im in images:
            blobs, n = ndimage.label(im[:, :, 1] > 128)
            boxes, labels, scores = [], [], []
            for sl in ndimage.find_objects(blobs):
                ys, xs = sl
                boxes.append([xs.start, ys.start, xs.stop, ys.stop])
                labels.append(int(round(float(im[ys, xs, 0].max()) / 100)))
                cut = xs.start == 0 or ys.start == 0 or xs.stop == im.shape[1] or ys.stop == im.shape[0]
                scores.append(0.3 if cut else 0.9)
            out.append(Detections(np.array(boxes).reshape(-1, 4), scores, labels, NAMES, im.shape[:2]))
        return out


def _visdrone(root, n_images=2, size=(150, 220)):
    """A VisDrone-DET folder of ``n_images`` images with bright rectangles (person, bicycle, car) and one ignored
    region."""
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    rng = np.random.default_rng(0)
    for k in range(n_images):
        im = np.zeros((*size, 3), np.uint8)
        lines = []
        for gy in range(6, size[0] - 30, 30):
            for gx in range(6, size[1] - 30, 30):
                w, h = (int(v) for v in rng.integers(8, 22, size=2))
                x, y = gx + int(rng.integers(0, 26 - w)), gy + int(rng.integers(0, 26 - h))
                cls = int(rng.integers(0, 3))
                im[y : y + h, x : x + w] = (cls * 100, 255, 0)
                lines.append(f"{x},{y},{w},{h},1,{(1, 3, 4)[cls]},0,0")
        lines.append(f"{size[1] - 5},{size[0] - 5},4,4,0,0,0,0")
        Image.fromarray(im).save(root / "images" / f"{k:03d}.png")
        (root / "annotations" / f"{k:03d}.txt").write_text("\n".join(lines) + "\n")
    return root


def test_native_conditions_score_in_the_native_frame_whole_and_sliced(tmp_path):
    gt = load_dataset(_visdrone(tmp_path / "vd"))
    det = BrightBoxes()
    conds = native_conditions(
        det, [SRSpec("bicubic", "bicubic")], 2, slicing=Slicing(64, 0.4)
    )  # 25 px overlap: every object whole on a slice
    res = compare(
        gt,
        det,
        scale=1,
        degradation=Degradation(scale=1),
        conditions=conds,
        n_resamples=50,
        cache_dir=tmp_path / "cache",
        out_dir=tmp_path / "out",
        progress=False,
    )
    c = res["conditions"]
    assert list(c) == ["native", "native@whole", "bicubic"]
    # the perfect detector: exact boxes whole and on 64 px slices (merged back once), and on the x2 bicubic image
    # cut into 64 px slices of the SR frame, boxes halved back to the native frame
    assert c["native"]["AP"] == pytest.approx(1.0)
    assert c["native@whole"]["AP"] == pytest.approx(1.0)
    assert c["bicubic"]["AP50"] == pytest.approx(1.0) and c["bicubic"]["AP"] > 0.7
    assert "vs_native" in res["deltas"] and "bicubic" in res["deltas"]["vs_native"]
    assert res["config"]["scale"] == 1 and res["dataset"]["mod_crop"] == 1
    assert res["config"]["detectors"]["native"]["settings"]["type"] == "sliced"
    bicubic = res["config"]["detectors"]["bicubic"]["settings"]
    assert bicubic["type"] == "sr_sliced" and bicubic["slice"] == 64 and bicubic["sr"]["scale"] == 2
    assert (tmp_path / "out" / "report.md").is_file()


def test_native_mode_refuses_reserved_and_labelled_entries():
    for spec in (SRSpec("hr", "hr", "x"), SRSpec("bicubic@x", "bicubic", "x")):
        with pytest.raises(InputError, match="native mode"):
            native_conditions(BrightBoxes(), [spec], 2)


def test_max_dets_counts_more_detections_per_image():
    n = 150
    boxes = [[10.0 * (i % 15), 12.0 * (i // 15), 8.0, 10.0] for i in range(n)]
    coco = {
        "images": [{"id": 1, "file_name": "a", "height": 200, "width": 200}],
        "annotations": [
            {"id": i + 1, "image_id": 1, "category_id": 1, "bbox": b, "area": 80.0, "iscrowd": 0} for i, b in enumerate(boxes)
        ],
        "categories": [{"id": 1, "name": "person"}],
    }
    res = [{"image_id": 1, "category_id": 1, "bbox": b, "score": 0.5 + i / 1000} for i, b in enumerate(boxes)]
    cut = evaluate(coco, res).metrics
    full = evaluate(coco, res, max_dets=200, keep_matches=True)
    assert cut["AP"] < 0.7 and cut["AR100"] == pytest.approx(100 / n)
    assert full.metrics["AP"] == pytest.approx(1.0) and full.metrics["AR100"] == pytest.approx(1.0)
    assert full.per_class_ap[1] == pytest.approx(1.0)
    assert full.matches is not None and full.matches.ap()[0][0] == pytest.approx(1.0)  # the bootstrap sees all 150
    with pytest.raises(InputError, match="max_dets"):
        evaluate(coco, res, max_dets=0)


def _cfg(**kw):
    return CompareConfig.from_mapping({"data": "d", "detector": "x", "out": "o", **kw})


def test_config_native_options_and_their_errors():
    cfg = _cfg(native=True, slice="512:0.1", merge="greedynmm:ios", max_dets=500)
    assert cfg.max_dets == 500 and Slicing.parse(cfg.slice, cfg.merge) == Slicing(512, 0.1, "greedynmm:ios:0.5")
    assert _cfg().max_dets == 100 and _cfg().native is False and _cfg().slice is None
    with pytest.raises(InputError, match="--native"):
        _cfg(slice="640")
    for bad in ("x", "640:2", "0", "640:0.2:1"):
        with pytest.raises(InputError, match="slice"):
            _cfg(native=True, slice=bad)
    with pytest.raises(InputError, match="merge"):
        _cfg(native=True, slice="640", merge="soft")
    with pytest.raises(InputError, match="degradation"):
        _cfg(native=True, noise_std=2.0)
    with pytest.raises(InputError, match="max_dets"):
        _cfg(max_dets=0)
    with pytest.raises(InputError, match="--slice"):
        _cfg(merge="greedynmm:ios")
    with pytest.raises(InputError, match="not an SR model"):
        _cfg(native=True, sr="bicubic@adapted=x.pt")


def test_cli_native_sliced_on_a_visdrone_image(shared, tmp_path):
    pytest.importorskip("openvino")
    from sr4det.cli import main

    data = shared("data", "visdrone_val")
    weights = shared("weights", "yolo11n_int8_openvino_model")
    args = ["compare", "--native", "--data", str(data), "--detector", str(weights), "--scale", "2", "--slice", "640"]
    args += ["--max-dets", "500", "--limit", "1", "--bootstrap", "0", "--threads", "1", "--quiet"]
    assert main([*args, "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "o")]) == 0
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    c = res["conditions"]
    assert list(c) == ["native", "native@whole", "bicubic"]
    assert res["config"]["max_dets"] == 500 and res["config"]["native"] == {
        "sr_scale": 2,
        "slice": 640,
        "overlap": 0.2,
        "merge": "nms:iou:0.5",
    }
    for m in c.values():
        assert m["AP"] is not None and m["n_detections"] > 0
    # 1920x1080 image: slicing finds more of its small objects than one 640 letterbox
    assert c["native"]["AR100"] > c["native@whole"]["AR100"]


def test_a_compiled_sr_runtime_runs_the_native_sr_conditions_and_keys_their_detections(tmp_path):
    """``runtime`` reaches every native SR condition: its network is compiled, the detector config (the cache
    identity of its detections) names the runtime, so openvino and torch detections never share cache entries;
    the boxes agree (fp32 outputs within ~1e-5)."""
    pytest.importorskip("openvino")
    gt = load_dataset(_visdrone(tmp_path / "vd", n_images=1, size=(90, 120)))
    spec = SRSpec("espcn", "espcn")
    results = {}
    for runtime in (("torch", "fp32"), ("openvino", "fp32")):
        conds = native_conditions(BrightBoxes(), [spec], 2, runtime=runtime, tile=None)
        assert conds[-1].detector.sr.model.backend == runtime[0]
        results[runtime[0]] = compare(
            gt,
            BrightBoxes(),
            scale=1,
            degradation=Degradation(scale=1),
            conditions=conds,
            n_resamples=0,
            cache_dir=tmp_path / "cache",  # one cache: the two runtimes must not read each other's detections
            out_dir=tmp_path / runtime[0],
            progress=False,
        )
    torch_sr = results["torch"]["config"]["detectors"]["espcn"]["settings"]["sr"]
    ov_sr = results["openvino"]["config"]["detectors"]["espcn"]["settings"]["sr"]
    assert "runtime" not in torch_sr and ov_sr["runtime"] == "openvino/fp32"
    assert ov_sr["weights_digest"] == torch_sr["weights_digest"]
    assert results["openvino"]["conditions"]["espcn"]["detections_cached"] == 0  # computed, not torch's entries
    assert results["openvino"]["conditions"]["espcn"]["AP"] == pytest.approx(results["torch"]["conditions"]["espcn"]["AP"])

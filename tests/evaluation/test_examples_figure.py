"""The compare report's example-crops figure: LR / bicubic / best SR / HR with the detector's boxes, linked from report.md."""

from __future__ import annotations

from PIL import Image

from sr4det.data.datasets import load_coco
from sr4det.evaluation import compare
from sr4det.evaluation.examples import _changed

from .test_runner import Oracle, make_dataset


def test_examples_png_written_with_four_columns_and_linked(tmp_path):
    path = make_dataset(tmp_path / "data")
    out = tmp_path / "out"
    compare(
        load_coco(path),
        Oracle(path),
        sr=["bicubic", "bilinear"],
        scale=4,
        out_dir=out,
        n_resamples=0,
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    png = out / "examples.png"
    assert png.is_file()
    with Image.open(png) as im:
        im.verify()
    with Image.open(png) as im:
        assert im.format == "PNG"
        assert im.text["Columns"] == "LR, bicubic, best SR, HR"
        rows = im.text["Rows"].splitlines()
        w, h = im.size
    assert w > h  # 4 columns of crops, 3 rows of images (5 in the data set): wider than tall
    # the oracle finds the same boxes in every condition: no image changed, the first three in data set order
    assert rows == ["0.png: 0 changed", "1.png: 0 changed", "2.png: 0 changed"]
    report = (out / "report.md").read_text()
    assert "![example crops](examples.png)" in report


def test_no_examples_without_an_sr_model(tmp_path):
    path = make_dataset(tmp_path / "data")
    out = tmp_path / "out"
    (out).mkdir()
    (out / "examples.png").write_bytes(b"stale")
    compare(load_coco(path), Oracle(path), sr=["bicubic"], scale=4, out_dir=out, n_resamples=0, cache_dir=False, progress=False)
    assert not (out / "examples.png").exists()
    assert "examples.png" not in (out / "report.md").read_text()


def test_changed_counts_detections_without_a_partner():
    a = [{"bbox": [0, 0, 10, 10], "score": 0.9, "category_id": 1}, {"bbox": [50, 50, 10, 10], "score": 0.8, "category_id": 1}]
    b = [{"bbox": [1, 1, 10, 10], "score": 0.7, "category_id": 1}, {"bbox": [0, 0, 10, 10], "score": 0.7, "category_id": 2}]
    changed = _changed(a, b)
    assert len(changed) == 2  # the box at 50,50 (only in a) and the class-2 box (only in b)
    assert _changed(a, a) == []

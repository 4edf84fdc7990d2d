"""Audit 4 (lost or mixed-up results) for `materialize`: a rerun with other SR weights of the same architecture is
refused like other settings, and no output may replace one of the dataset's own files."""

from __future__ import annotations

import hashlib
import json

import pytest

from sr4det.data.io import write_image
from sr4det.data.materialize import materialize
from sr4det.errors import InputError

from .test_materialize import _image, yolo_data  # noqa: F401  (yolo_data is a fixture)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_other_weights_of_the_same_architecture_are_other_settings(yolo_data, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    materialize(yolo_data, out, degrade=4, sr="espcn", progress=False)  # the shipped weights
    image = out / "images" / "train" / "train_a.png"
    before = _digest(image)
    # random weights: same model name and scale, so the outputs would have been mixed silently
    with pytest.raises(InputError, match="other settings") as err:
        materialize(yolo_data, out, degrade=4, sr="espcn", pretrained=False, progress=False)
    assert "--overwrite" in str(err.value)
    assert _digest(image) == before
    manifest = json.loads((out / "materialize.json").read_text())
    assert len(manifest["config"]["sr"]["weights_sha256"]) == 64


def test_a_manifest_of_an_earlier_version_without_the_digest_still_resumes(yolo_data, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    materialize(yolo_data, out, degrade=4, sr="bicubic", progress=False)
    manifest = json.loads((out / "materialize.json").read_text())
    del manifest["config"]["sr"]["weights_sha256"]
    (out / "materialize.json").write_text(json.dumps(manifest))
    materialize(yolo_data, out, degrade=4, sr="bicubic", progress=False)
    assert "weights_sha256" in json.loads((out / "materialize.json").read_text())["config"]["sr"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_output_into_the_yolo_dataset_itself_is_refused(yolo_data, overwrite):  # noqa: F811
    root = yolo_data.parent
    files = [yolo_data, root / "images" / "train" / "train_a.png", root / "labels" / "train" / "train_a.txt"]
    before = [_digest(f) for f in files]
    with pytest.raises(InputError, match="would replace the dataset's own files") as err:
        materialize(yolo_data, root, degrade=4, sr="bicubic", progress=False, overwrite=overwrite)
    assert "outside the dataset" in str(err.value)
    # data.yaml was replaced (and the images skipped as "already written"; replaced with --overwrite)
    assert [_digest(f) for f in files] == before
    assert not [p.name for p in root.iterdir() if p.name.startswith(".")]  # no lock or manifest left in the dataset


def test_overwrite_removes_the_earlier_runs_outputs_first(yolo_data, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    materialize(yolo_data, out, degrade=4, sr="bicubic", progress=False)
    assert (out / "images" / "val" / "val_a.png").is_file()
    materialize(yolo_data, out, degrade=4, sr="bicubic", splits=["train"], progress=False, overwrite=True)
    assert (out / "images" / "train" / "train_a.png").is_file()
    # the earlier run's val split did not outlive it (data.yaml names train only; a stale val folder misleads)
    assert not (out / "images" / "val" / "val_a.png").exists()
    assert not (out / "labels" / "val" / "val_a.txt").exists()


def test_output_over_the_coco_images_is_refused(tmp_path):
    write_image(tmp_path / "images" / "a.png", _image(32, 40))
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "height": 32, "width": 40}],
        "categories": [{"id": 1, "name": "a"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 5, 16, 12], "area": 192.0, "iscrowd": 0}],
    }
    (tmp_path / "annotations.json").write_text(json.dumps(coco))
    before = _digest(tmp_path / "images" / "a.png")
    with pytest.raises(InputError, match="would replace the dataset's own files"):
        materialize(
            tmp_path / "annotations.json",
            tmp_path,
            degrade=4,
            sr=None,
            images=tmp_path / "images",
            progress=False,
            overwrite=True,
        )
    assert _digest(tmp_path / "images" / "a.png") == before

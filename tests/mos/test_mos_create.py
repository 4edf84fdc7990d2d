"""Study creation: anchors, degradation, stored pixels, ids, refusals."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from sr4det.data.io import from_tensor, read_image, to_tensor, write_image
from sr4det.errors import DataError, InputError
from sr4det.models import create_model, load_model
from sr4det.mos import Study, create_study, degrade, parse_methods, prepare_hr
from sr4det.resize import imresize_uint8

from .conftest import make_hr_dir


def _stored(db: Path) -> dict[tuple[str, str], np.ndarray]:
    conn = sqlite3.connect(db)
    rows = conn.execute(
        "SELECT s.name, m.name, i.png, i.width, i.height FROM images i JOIN sources s ON s.id = i.source_id JOIN methods m ON m.id = i.method_id"
    ).fetchall()
    conn.close()
    out = {}
    for scene, method, png, w, h in rows:
        img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
        assert img.shape == (h, w, 3)
        out[(scene, method)] = img
    return out


def _hr(path: Path) -> np.ndarray:
    arr, _ = read_image(path)
    if arr.dtype == np.uint16:
        arr = np.round(arr / 257.0).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    return prepare_hr(arr[..., :3], 4)


def test_anchors_added_first_and_counts(study_template):
    s = Study(study_template)
    assert [m["name"] for m in s.methods()] == ["hr", "bicubic", "bilinear", "tiny"]
    assert [m["anchor"] for m in s.methods()] == [1, 1, 0, 0]
    assert s.counts() == {"methods": 4, "sources": 3, "images": 12, "raters": 0, "ratings": 0}
    assert s.meta()["scale"] == 4
    assert s.meta()["seed"] == 7
    assert sorted(s.image_ids()) == list(range(1, 13))


def test_stored_pixels_are_hr_and_each_method_on_the_matlab_lr(study_template, mos_inputs):
    stored = _stored(study_template)
    tiny = load_model(mos_inputs["tiny"], scale=4)
    bicubic, bilinear = create_model("bicubic", 4), create_model("bilinear", 4)
    for path in sorted(mos_inputs["hr"].iterdir()):
        hr = _hr(path)
        assert hr.shape[0] % 4 == 0
        assert hr.shape[1] % 4 == 0
        np.testing.assert_array_equal(stored[(path.stem, "hr")], hr)
        lr = degrade(hr, 4)
        np.testing.assert_array_equal(lr, imresize_uint8(hr, 0.25))
        assert lr.shape[:2] == (hr.shape[0] // 4, hr.shape[1] // 4)
        with torch.inference_mode():
            for name, model in (("bicubic", bicubic), ("bilinear", bilinear), ("tiny", tiny)):
                want = from_tensor(model(to_tensor(lr)[None])[0])
                # the tiler (when present) may differ from one direct call by float rounding only
                diff = np.abs(stored[(path.stem, name)].astype(int) - want.astype(int))
                assert diff.max() <= 1, (name, path.stem, diff.max())
    # the methods really differ (otherwise a MOS study of them would be pointless)
    assert not np.array_equal(stored[("a_rgb", "bicubic")], stored[("a_rgb", "bilinear")])
    assert not np.array_equal(stored[("a_rgb", "bicubic")], stored[("a_rgb", "tiny")])


def test_gray_input_is_mod_cropped(study_template):
    stored = _stored(study_template)
    assert stored[("b_gray", "hr")].shape == (48, 44, 3)
    assert stored[("c_rgba16", "tiny")].shape == (44, 52, 3)


def test_image_ids_do_not_follow_methods_and_depend_on_seed(tmp_path, mos_inputs):
    dbs = [
        create_study(mos_inputs["hr"], tmp_path / f"s{seed}.sqlite", methods="bilinear", seed=seed, progress=False)
        for seed in (1, 2)
    ]
    maps = []
    for db in dbs:
        conn = sqlite3.connect(db)
        maps.append(conn.execute("SELECT id, source_id, method_id FROM images ORDER BY id").fetchall())
        conn.close()
    assert maps[0] != maps[1]
    again = create_study(mos_inputs["hr"], tmp_path / "again.sqlite", methods="bilinear", seed=1, progress=False)
    conn = sqlite3.connect(again)
    assert conn.execute("SELECT id, source_id, method_id FROM images ORDER BY id").fetchall() == maps[0]
    conn.close()


def test_limit_max_size_and_images_per_rater(tmp_path, mos_inputs):
    db = create_study(
        mos_inputs["hr"],
        tmp_path / "s.sqlite",
        methods="bicubic",
        limit=2,
        max_size=44,
        images_per_rater=3,
        seed=0,
        progress=False,
    )
    s = Study(db)
    assert s.counts()["sources"] == 2
    assert s.counts()["images"] == 4
    stored = _stored(db)
    assert stored[("a_rgb", "hr")].shape == (44, 44, 3)
    rid, _ = s.add_rater("x")
    assert len(s.assignment(rid)) == 3


def test_existing_db_is_refused_unless_overwrite(tmp_path, mos_inputs, study_template):
    db = tmp_path / "s.sqlite"
    db.write_bytes(study_template.read_bytes())
    Study(db).add_rater("keep")
    with pytest.raises(InputError, match="already exists"):
        create_study(mos_inputs["hr"], db, methods="bicubic", progress=False)
    assert Study(db).get_rater("keep") is not None
    create_study(mos_inputs["hr"], db, methods="bicubic", overwrite=True, progress=False)
    assert Study(db).get_rater("keep") is None
    assert Study(db).counts()["images"] == 6


def test_failed_creation_leaves_no_file(tmp_path, mos_inputs):
    bad = tmp_path / "outs"
    bad.mkdir()
    db = tmp_path / "s.sqlite"
    with pytest.raises(DataError, match="no image named"):
        create_study(mos_inputs["hr"], db, methods=f"mine={bad}", progress=False)
    assert list(tmp_path.iterdir()) == [bad]


def test_ready_made_outputs_folder(tmp_path, mos_inputs):
    outs = tmp_path / "outs"
    model = create_model("bilinear", 4)
    for path in mos_inputs["hr"].iterdir():
        hr = _hr(path)
        with torch.inference_mode():
            write_image(outs / f"{path.stem}.png", from_tensor(model(to_tensor(degrade(hr, 4))[None])[0]))
    db = create_study(mos_inputs["hr"], tmp_path / "s.sqlite", methods=f"bilinear,cached={outs}", seed=0, progress=False)
    stored = _stored(db)
    for path in mos_inputs["hr"].iterdir():
        np.testing.assert_array_equal(stored[(path.stem, "cached")], stored[(path.stem, "bilinear")])
    # a folder whose images do not have the HR size is refused
    write_image(outs / "a_rgb.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DataError, match="output for a_rgb"):
        create_study(mos_inputs["hr"], tmp_path / "t.sqlite", methods=f"cached={outs}", progress=False)
    # two files for one HR image (another run's .jpg beside the .png): which one is meant is not guessed
    write_image(outs / "a_rgb.png", stored[("a_rgb", "bilinear")])
    write_image(outs / "a_rgb.jpg", stored[("a_rgb", "bilinear")])
    with pytest.raises(DataError, match=r"2 images named a_rgb\.\* \(a_rgb\.jpg, a_rgb\.png\)"):
        create_study(mos_inputs["hr"], tmp_path / "u.sqlite", methods=f"cached={outs}", progress=False)


def test_parse_methods():
    specs = parse_methods("bilinear, lanczos")
    assert [(m.name, m.kind) for m in specs] == [("hr", "hr"), ("bicubic", "zoo"), ("bilinear", "zoo"), ("lanczos", "zoo")]
    assert [m.name for m in parse_methods("bicubic,hr,sharp=lanczos")] == ["bicubic", "hr", "sharp"]


@pytest.mark.parametrize(
    "spec, match",
    [
        ("nosuchmodel", "unknown method"),
        ("bilinear,bilinear", "duplicate"),
        ("x=bilinear,x=lanczos", "duplicate"),
        ("hr=bilinear", "reserved"),
        ("bad name=bilinear", "bad method name"),
        ("../x=bilinear", "bad method name"),
    ],
)
def test_bad_methods(spec, match):
    with pytest.raises(InputError, match=match):
        parse_methods(spec)


def test_bad_arguments(tmp_path, mos_inputs):
    with pytest.raises(InputError, match="scale"):
        create_study(mos_inputs["hr"], tmp_path / "s.sqlite", scale=1, progress=False)
    with pytest.raises(InputError, match="limit"):
        create_study(mos_inputs["hr"], tmp_path / "s.sqlite", limit=0, progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no images"):
        create_study(empty, tmp_path / "s.sqlite", progress=False)
    with pytest.raises(DataError, match="not found"):
        Study(tmp_path / "missing.sqlite")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(DataError, match="not an sr4det MOS study"):
        Study(junk)


def test_cli_create(tmp_path, capsys):
    from sr4det.cli import main

    hr = make_hr_dir(tmp_path / "hr")
    db = tmp_path / "cli.sqlite"
    argv = ["mos", "create", "--images", str(hr), "--db", str(db), "--methods", "lanczos"]
    assert main([*argv, "--order-seed", "3", "--seed", "5", "--quiet"]) == 0
    assert "3 scenes x 3 methods = 9 images" in capsys.readouterr().out
    meta = Study(db).meta()
    assert (meta["seed"], meta["degradation"]["seed"]) == (3, 5)  # --order-seed: ids and orders; --seed: LR noise
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err
    # the spellings before --overwrite / --seed / --quiet still work (hidden, with a note)
    assert main([*argv, "--force", "--noise-seed", "2", "--no-progress"]) == 0
    assert "option '--force' is deprecated; use --overwrite" in capsys.readouterr().err
    assert Study(db).meta()["degradation"]["seed"] == 2


def test_subsets_cover_the_study_evenly(tmp_path, mos_inputs):
    """images_per_rater: each new rater gets the least-assigned images, so coverage stays balanced."""
    db = create_study(
        mos_inputs["hr"], tmp_path / "s.sqlite", methods="bilinear,lanczos", images_per_rater=5, seed=2, progress=False
    )
    s = Study(db)
    assert len(s.image_ids()) == 12
    for k in range(12):  # 12 raters x 5 images = 60 = 5 per image
        rid, _ = s.add_rater(f"r{k}")
        order = s.assignment(rid)
        assert len(order) == len(set(order)) == 5
        counts = np.bincount([i for j in range(k + 1) for i in s.assignment(s.get_rater(f"r{j}"))], minlength=13)[1:]
        assert counts.max() - counts.min() <= 1, counts
    assert (counts == 5).all()
    # stored: the same rater keeps the same images and order, whatever happens later
    first = s.assignment(s.get_rater("r0"))
    s.add_rater("r0")
    assert Study(db).assignment(Study(db).get_rater("R0")) == first


def test_the_database_is_private_and_one_create_at_a_time(tmp_path, mos_inputs):
    # it holds rater names: 0600 whatever the umask; a concurrent create of the same db is refused, not lost
    from sr4det._run_folder import locked_file
    from sr4det.errors import RunFolderBusyError

    db = create_study(mos_inputs["hr"], tmp_path / "s.sqlite", methods="bilinear", progress=False)
    assert db.stat().st_mode & 0o777 == 0o600
    other = tmp_path / "t.sqlite"
    with locked_file(other), pytest.raises(RunFolderBusyError, match=f"pid {__import__('os').getpid()}"):
        create_study(mos_inputs["hr"], other, methods="bilinear", progress=False)
    assert not other.exists()

"""Bad command-line arguments fail with a typed error (exit 2, one line naming the fix) before any work is done."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sr4det.cli import main
from sr4det.commands._common import check_device
from sr4det.data.io import read_image, write_image
from sr4det.errors import InputError, ScaleError
from sr4det.models import resolve_model
from sr4det.tiling import parse_tile


@pytest.fixture
def images(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "in"
    for i in range(2):
        write_image(folder / f"{i}.png", rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    return folder


def _upscale(images, out, *extra):
    return main(["upscale", str(images), "-o", str(out), "--model", "bicubic", "--quiet", *extra])


@pytest.mark.parametrize("scale", ["0", "-2"])
def test_upscale_rejects_non_positive_scale_before_work(images, tmp_path, capsys, scale):
    out = tmp_path / "out"
    assert _upscale(images, out, "--scale", scale) == 2
    assert f"--scale must be a positive integer such as 2 or 4, got {scale}" in capsys.readouterr().err
    assert not out.exists()  # nothing was written, not even the folder


@pytest.mark.parametrize(
    "command",
    [
        ["evaluate-sr", "--model", "bicubic", "--data", "DATA"],
        ["compare", "--data", "DATA", "--detector", "yolo11n.pt", "--out", "OUT"],
        ["materialize", "--data", "DATA", "-o", "OUT"],
    ],
)
def test_other_commands_reject_zero_scale(tmp_path, capsys, command):
    argv = [a.replace("DATA", str(tmp_path / "missing")).replace("OUT", str(tmp_path / "o")) for a in command]
    assert main([*argv, "--scale", "0"]) == 2
    assert "--scale must be a positive integer" in capsys.readouterr().err


def test_resolve_model_never_turns_scale_0_into_x4():
    with pytest.raises(ScaleError, match="positive integer"):
        resolve_model("bicubic", 0)
    assert resolve_model("bicubic", None).scale == 4  # None still means "the default"


@pytest.mark.parametrize("value", ["abc", "0", "-8", "12.5", ""])
def test_parse_tile_names_the_accepted_forms(value):
    with pytest.raises(InputError, match="positive integer .*'auto' or 'none'"):
        parse_tile(value)


def test_parse_tile_good_values():
    assert parse_tile("NONE") is None
    assert parse_tile("auto") == "auto"
    assert parse_tile("64") == 64


def test_upscale_tile_abc_exits_2(images, tmp_path, capsys):
    assert _upscale(images, tmp_path / "out", "--tile", "abc") == 2
    assert "--tile must be" in capsys.readouterr().err


def test_unknown_format_is_checked_before_the_model_loads(images, tmp_path, capsys):
    # an unknown model would fail at load time: the format error coming first proves the order
    assert main(["upscale", str(images), "-o", str(tmp_path / "out"), "--model", "nope", "--format", "xyz", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "--format 'xyz'" in err
    assert "png" in err
    assert "neither a model name" not in err
    assert not (tmp_path / "out").exists()


def test_unwritable_output_folder(images, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert _upscale(images, blocker / "out") == 2  # a folder cannot be made inside a regular file
    assert "is not a writable folder" in capsys.readouterr().err


def test_cuda_device_without_a_gpu(images, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _upscale(images, tmp_path / "out", "--device", "cuda") == 2
    assert "--device cpu" in capsys.readouterr().err
    with pytest.raises(InputError, match="CUDA is not available"):
        check_device("cuda:0")
    check_device("cpu")  # fine


def test_garbage_device_string(images, tmp_path, capsys):
    assert _upscale(images, tmp_path / "out", "--device", "banana") == 2
    assert "not a torch device" in capsys.readouterr().err


def test_folder_with_a_bad_file_continues_and_reports_all(images, tmp_path, capsys):
    (images / "1_bad.png").write_bytes(b"not an image")
    (images / "3_bad.png").write_bytes(b"")
    out = tmp_path / "out"
    assert _upscale(images, out, "--scale", "2") == 2
    err = capsys.readouterr().err
    assert "2 of 4 image(s) failed" in err
    assert "1_bad.png" in err
    assert "3_bad.png" in err
    assert read_image(out / "0.png")[0].shape == (12, 12, 3)
    assert read_image(out / "1.png")[0].shape == (12, 12, 3)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--max-memory", "abc"], "--max-memory: cannot parse memory size 'abc'"),
        (["--max-memory", "0"], "--max-memory: memory size must be positive"),
        (["--overlap", "-1"], "--overlap must be >= 0"),
    ],
)
def test_upscale_tile_options_fail_once_before_work(images, tmp_path, capsys, monkeypatch, extra, match):
    import sr4det.commands.upscale as upscale_cmd

    monkeypatch.setattr(upscale_cmd, "load_model_from_args", lambda args: pytest.fail("the model must not load"))
    assert _upscale(images, tmp_path / "out", "--scale", "2", *extra) == 2
    err = capsys.readouterr().err
    assert match in err
    assert err.count("error:") == 1  # once, not once per image


def test_evaluate_sr_names_the_image_too_small_for_the_protocol(tmp_path, capsys):
    folder = tmp_path / "hr"
    write_image(folder / "big.png", np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8))
    write_image(folder / "tiny.png", np.zeros((12, 12, 3), np.uint8))  # 8x8 after the shave: no 11x11 SSIM window
    rc = main(["evaluate-sr", "--model", "bicubic", "--scale", "2", "--data", str(folder), "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "tiny.png" in err
    assert "at least 16 px" in err


# ------------------------------------------------------------------------------------- second audit


@pytest.mark.parametrize("extra", [[], ["--overwrite"]])
def test_upscale_into_its_own_folder_refuses_to_replace_the_inputs(images, capsys, extra):
    before = {p.name: p.read_bytes() for p in images.iterdir()}
    assert _upscale(images, images, *extra) == 2
    assert "--suffix" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in images.iterdir()} == before  # nothing replaced
    assert _upscale(images, images, "--suffix", "_x4") == 0  # with a suffix the same folder is fine


def test_upscale_single_file_onto_itself_is_refused(images, capsys):
    src = images / "0.png"
    assert main(["upscale", str(src), "-o", str(src), "--model", "bicubic", "--quiet", "--overwrite"]) == 2
    assert "would replace an input" in capsys.readouterr().err


def test_a_folder_named_like_an_image_is_not_listed(images, tmp_path):
    from sr4det.data.io import list_images

    (images / "shots.png").mkdir()
    assert [p.name for p in list_images(images)] == ["0.png", "1.png"]
    assert _upscale(images, tmp_path / "out") == 0


def test_upscale_into_a_folder_of_another_models_outputs_is_refused(images, tmp_path, capsys):
    """Existing outputs are skipped so reruns resume; those of another network must not be kept as this run's."""
    out = tmp_path / "out"
    assert _upscale(images, out) == 0
    first = read_image(out / "0.png")[0]
    assert _upscale(images, out) == 0  # the same run again: resumes, skipping what exists
    assert "skipped 2 existing" in capsys.readouterr().out
    other = ["upscale", str(images), "-o", str(out), "--model", "bilinear", "--quiet"]
    assert main(other) == 2
    err = capsys.readouterr().err
    assert "holds outputs of another upscale (model: bicubic -> bilinear" in err
    assert "--overwrite" in err
    assert np.array_equal(read_image(out / "0.png")[0], first)  # nothing was touched
    assert main([*other, "--overwrite"]) == 0
    assert not np.array_equal(read_image(out / "0.png")[0], first)
    assert main(other) == 0  # the folder now records bilinear: its rerun resumes


def test_upscale_tile_below_the_overlap_is_refused_before_any_image(images, tmp_path, capsys, monkeypatch):
    import sr4det.tiling

    def never(*a, **k):
        raise AssertionError("an image was upscaled")

    monkeypatch.setattr(sr4det.tiling, "upscale", never)
    out = tmp_path / "out"
    # images are 6 px: the per-image check would let a tile larger than the image pass; 8 <= 2 x overlap 8 never works
    assert _upscale(images, out, "--tile", "8", "--overlap", "4", "--scale", "4") == 2
    err = capsys.readouterr().err
    assert "--tile 8 must be larger than twice the overlap (--overlap: 4 LR px): use --tile 9" in err
    assert "failed" not in err
    assert not list(out.glob("*.png")) if out.exists() else True

"""`sr4det upscale --backend/--precision`: compiled SR from the command line, refused choices, the resume manifest."""

from __future__ import annotations

import numpy as np
import pytest

from sr4det.cli import main
from sr4det.data.io import read_image, write_image

pytest.importorskip("openvino")
pytest.importorskip("onnxruntime")


def _upscale(src, out, *extra):
    return main(["upscale", str(src), "-o", str(out), "-m", "espcn", "-s", "2", "--quiet", *extra])


def test_upscale_with_a_compiled_backend_matches_torch(tmp_path):
    src = write_image(tmp_path / "in" / "a.png", np.random.default_rng(0).integers(0, 256, (17, 23, 3), dtype=np.uint8))
    assert _upscale(src.parent, tmp_path / "torch") == 0
    assert _upscale(src.parent, tmp_path / "ov", "--backend", "openvino") == 0
    torch_out, _ = read_image(tmp_path / "torch" / "a.png")
    ov_out, _ = read_image(tmp_path / "ov" / "a.png")
    assert torch_out.shape == ov_out.shape == (34, 46, 3)
    assert np.abs(torch_out.astype(int) - ov_out.astype(int)).max() <= 1  # equal within 1e-5 before uint8 rounding


def test_a_rerun_with_another_backend_does_not_mix_outputs(tmp_path, capsys):
    src = write_image(tmp_path / "in" / "a.png", np.zeros((8, 8, 3), np.uint8))
    assert _upscale(src.parent, tmp_path / "out", "--backend", "onnxruntime") == 0
    assert _upscale(src.parent, tmp_path / "out") == 2  # torch outputs would be mixed with onnxruntime ones
    assert "backend: onnxruntime -> None" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--backend", "openvino", "--half"], "--precision bf16"),
        (["--backend", "onnxruntime", "--precision", "bf16"], "use backend='openvino'"),
        (["--precision", "int8", "--backend", "openvino"], "not offered"),
    ],
)
def test_unsupported_runtime_choices_fail_before_any_work(tmp_path, capsys, extra, match):
    src = write_image(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    assert _upscale(src, tmp_path / "out", *extra) == 2
    assert match in capsys.readouterr().err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_detect_refuses_an_unsupported_runtime_before_loading_the_detector(tmp_path, capsys):
    src = write_image(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    args = ["detect", str(src), "--detector", str(tmp_path / "missing.pt"), "--sr", "espcn", "-o", str(tmp_path / "o")]
    assert main([*args, "--backend", "onnxruntime", "--precision", "bf16"]) == 2
    assert "use backend='openvino'" in capsys.readouterr().err

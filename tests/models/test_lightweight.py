"""IMDN, RFDN, PAN and CARN-M: architectures, key-based detection of their published state dicts, the
published weights against the papers' Set5 numbers, and tiling (exact for the local ones, blended otherwise)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import sr4det
from sr4det._files import sha256_file
from sr4det.errors import ArchitectureMismatchError, ScaleError, ScaleMismatchError, WeightsNotAvailableError
from sr4det.models import build_network, create_model, detect_architecture, get_card, load_model
from sr4det.tiling import measure_receptive_field, upscale

# slim variants keep the suite fast; the detection reads widths/depths from the keys, so they round-trip too
SLIM = {
    "imdn": dict(nf=16, num_modules=2),
    "rfdn": dict(nf=16, num_modules=2),
    "pan": dict(nf=8, unf=8, nb=2),
    "carn_m": dict(channels=16, groups=4),
}
# the published files and what their keys must say
FILES = {
    "IMDN_x2.pth": ("imdn", (2,)),
    "IMDN_x3.pth": ("imdn", (3,)),
    "IMDN_x4.pth": ("imdn", (4,)),
    "RFDN_AIM.pth": ("rfdn", (4,)),
    "PANx4_DF2K.pth": ("pan", (4,)),
    "carn_m.pth": ("carn_m", (2, 3, 4)),
}
# Set5 PSNR-Y (dB) in each paper's main comparison table, x4 (IMDN ACM MM 2019 Table 3; PAN ECCVW 2020
# Table 3; CARN ECCV 2018 Table 2). RFDN's file is the AIM 2020 challenge model (nf 50, 4 blocks, 0.43 M),
# smaller than the paper's RFDN (0.55 M, 32.24 dB), which is the closest published number.
PAPER_SET5_X4 = {"imdn": (32.21, 0.15), "pan": (32.13, 0.15), "carn_m": (31.92, 0.15), "rfdn": (32.24, 0.15)}


def _seeded(name: str, scale: int, **kwargs):
    torch.manual_seed(sorted(SLIM).index(name) * 10 + scale)
    return create_model(name, scale, **{**SLIM[name], **kwargs})


@pytest.mark.parametrize("name", sorted(SLIM))
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_forward_shape_every_scale(name, scale):
    m = _seeded(name, scale)
    x = torch.rand(2, 3, 11, 14)
    with torch.no_grad():
        y = m(x)
    assert y.shape == (2, 3, 11 * scale, 14 * scale)
    assert float(y.min()) >= 0
    assert float(y.max()) <= 1


@pytest.mark.parametrize("name", sorted(SLIM))
def test_cards_say_local_or_not(name):
    card = get_card(name)
    # channel attention over the whole image (IMDN) and pooled spatial attention (RFDN) are not local
    assert card.non_local == (name in ("imdn", "rfdn"))
    assert card.published
    assert all(len(p.sha256) == 64 for p in card.published.values())


@pytest.mark.parametrize("name", sorted(SLIM))
def test_state_dict_round_trips_through_key_detection(name, tmp_path):
    """A plain state dict (DataParallel prefix included) loads without arch=, with the widths from its keys."""
    src = _seeded(name, 4)
    path = tmp_path / "plain.pth"
    torch.save({f"module.{k}": v for k, v in src.net.state_dict().items()}, path)
    model = load_model(path, scale=4)
    assert model.card.name == name
    assert model.scale == 4
    x = torch.rand(1, 3, 9, 10)
    with torch.no_grad():
        assert torch.equal(model(x), src(x))


def test_pan_x2_layout_is_ambiguous_between_x2_and_x3(tmp_path):
    net, _ = build_network("pan", 2, **SLIM["pan"])
    found = detect_architecture(net.state_dict())
    assert found.arch == "pan"
    assert found.scales == (2, 3)


def test_carn_m_multi_scale_file_runs_each_scale(tmp_path):
    src = _seeded("carn_m", 2)
    path = tmp_path / "carn.pth"
    torch.save(src.net.state_dict(), path)
    assert load_model(path).scale == 4  # no scale given: the largest the file holds
    for s in (2, 3, 4):
        assert load_model(path, scale=s)(torch.rand(1, 3, 5, 6)).shape[-2:] == (5 * s, 6 * s)


def test_wrong_scale_names_architecture_and_scale(tmp_path):
    path = tmp_path / "imdn_x2.pth"
    torch.save(_seeded("imdn", 2).net.state_dict(), path)
    with pytest.raises(ScaleMismatchError, match=r"imdn weights for x2.*not x4") as info:
        create_model("imdn", 4, weights=path, **SLIM["imdn"])
    # one error, two natural handlers
    assert isinstance(info.value, ArchitectureMismatchError)
    assert isinstance(info.value, ScaleError)
    with pytest.raises(ScaleMismatchError, match="upsampling layers"):
        load_model(path, scale=3)


def test_missing_key_names_architecture_and_key(tmp_path):
    sd = _seeded("rfdn", 4).net.state_dict()
    del sd["LR_conv.weight"]
    path = tmp_path / "broken.pth"
    torch.save(sd, path)
    with pytest.raises(ArchitectureMismatchError, match=r"rfdn.*LR_conv\.weight"):
        load_model(path)


def test_inconsistent_upsampler_is_a_mismatch(tmp_path):
    sd = _seeded("imdn", 4).net.state_dict()
    sd["upsampler.0.weight"] = sd["upsampler.0.weight"][:40]
    path = tmp_path / "odd.pth"
    torch.save(sd, path)
    with pytest.raises(ArchitectureMismatchError, match=r"upsampler\.0\.weight has 40 output channels"):
        load_model(path)


def test_other_architecture_in_create_model(tmp_path):
    path = tmp_path / "pan.pth"
    torch.save(_seeded("pan", 4).net.state_dict(), path)
    with pytest.raises(ArchitectureMismatchError, match="holds pan weights, not imdn"):
        create_model("imdn", 4, weights=path)


def test_pretrained_offline_names_the_published_url(monkeypatch, tmp_path):
    monkeypatch.setenv("SR4DET_WEIGHTS_PATH", str(tmp_path))  # an empty folder
    monkeypatch.setenv("SR4DET_SHARED", str(tmp_path / "no_shared"))  # and no shared folder
    monkeypatch.setenv("SR4DET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SR4DET_OFFLINE", "1")
    with pytest.raises(WeightsNotAvailableError, match=r"looked for IMDN_x4\.pth in .*SR4DET_WEIGHTS_PATH") as err:
        create_model("imdn", 4, pretrained=True)
    assert str(tmp_path) in str(err.value)  # the folders it looked in
    assert "export SR4DET_WEIGHTS_PATH=" in str(err.value)


def test_pretrained_found_in_the_shared_folder_without_the_variable(monkeypatch, tmp_path, shared):
    folder = shared("weights", "sr", "state_dict")
    monkeypatch.delenv("SR4DET_WEIGHTS_PATH", raising=False)
    monkeypatch.setenv("SR4DET_CACHE", str(tmp_path / "cache"))  # nothing downloaded before
    monkeypatch.setenv("SR4DET_OFFLINE", "1")
    root = tmp_path / "elsewhere"
    (root / "weights" / "sr").mkdir(parents=True)
    (root / "weights" / "sr" / "state_dict").symlink_to(folder)
    monkeypatch.setenv("SR4DET_SHARED", str(root))
    model = create_model("rfdn", 4, pretrained=True)
    assert model.card.name == "rfdn"
    monkeypatch.delenv("SR4DET_SHARED")  # <checkout>/../shared, the tests' default rule
    if (Path(__file__).resolve().parents[2].parent / "shared" / "weights" / "sr" / "state_dict").is_dir():
        assert create_model("rfdn", 4, pretrained=True).card.name == "rfdn"


def test_local_file_with_wrong_hash_is_refused(monkeypatch, tmp_path):
    torch.save(_seeded("pan", 4).net.state_dict(), tmp_path / "PANx4_DF2K.pth")
    monkeypatch.setenv("SR4DET_WEIGHTS_PATH", str(tmp_path))
    with pytest.raises(sr4det.errors.WeightsError, match="sha256 mismatch"):
        create_model("pan", 4, pretrained=True)


# ------------------------------------------------------------------------------------------------ tiling


@pytest.mark.parametrize("name", ["pan", "carn_m"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_local_models_card_covers_receptive_field_and_tiling_is_exact(name, scale):
    m = _seeded(name, scale)
    rf = m.card.receptive_field
    assert measure_receptive_field(m) <= rf
    x = torch.rand(3, 2 * rf + 19, 2 * rf + 23, generator=torch.Generator().manual_seed(scale))
    with torch.inference_mode():
        ref = m(x.unsqueeze(0))[0]
    y = upscale(m, x, tile=2 * rf + 8, overlap=rf)
    assert float((y - ref).abs().max()) <= 1e-5


@pytest.mark.parametrize("name", ["imdn", "rfdn"])
def test_non_local_models_are_blended_and_close(name):
    """Tiles change IMDN's image-wide channel statistics and RFDN's pooling grid: never exact, but the
    feathered blend at the card's overlap stays close to the untiled output."""
    m = _seeded(name, 2)
    x = torch.rand(3, 90, 100, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ref = m(x.unsqueeze(0))[0]
    y = upscale(m, x, tile=m.card.default_overlap * 2 + 16, overlap=m.card.default_overlap)
    diff = (y - ref).abs()
    assert float(diff.max()) > 0  # documents that the card is right to say non-local
    assert float(diff.mean()) < 0.02


# ------------------------------------------------------------------------------------------------ published weights


@pytest.mark.shared
@pytest.mark.parametrize("filename", sorted(FILES))
def test_published_file_detected_and_hash_matches_card(shared, filename):
    path = shared("weights", "sr", "state_dict", filename)
    arch, scales = FILES[filename]
    model = load_model(path)
    assert model.card.name == arch
    assert model.scale == max(scales)
    pub = get_card(arch).published[max(scales)]
    assert pub.filename == filename
    assert sha256_file(path) == pub.sha256


@pytest.fixture(scope="module")
def set5_x4(shared):
    from sr4det.training import load_benchmark

    return load_benchmark(shared("data", "sr_benchmark", "Set5"), 4)


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(PAPER_SET5_X4))
def test_published_weights_reach_the_papers_set5_x4(shared, set5_x4, monkeypatch, name):
    from sr4det.training import evaluate_pairs

    monkeypatch.setenv("SR4DET_WEIGHTS_PATH", str(shared("weights", "sr", "state_dict")))
    model = create_model(name, 4, pretrained=True)
    assert model.card.weights_source.startswith("https://")
    with torch.inference_mode():
        got = evaluate_pairs(model, set5_x4, 4, ssim=False)["psnr"]
    paper, tol = PAPER_SET5_X4[name]
    assert abs(got - paper) <= tol, f"{name}: Set5 x4 {got:.3f} dB vs paper {paper}"


def test_imdn_too_narrow_is_refused_up_front():
    from sr4det.errors import InputError

    with pytest.raises(InputError, match="nf >= 16"):
        create_model("imdn", 4, nf=8)

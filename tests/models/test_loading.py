"""Weight files: sr4det's own, plain state dicts, spandrel files, OpenCV graphs, pretrained resolution."""

from __future__ import annotations

import hashlib
import warnings

import numpy as np
import pytest
import torch

import sr4det
from sr4det import ArchitectureMismatchError, MissingDependencyError, ScaleError, WeightsError, WeightsNotAvailableError
from sr4det.models import PublishedWeights, load_model, read_weights, save_weights, weights


def _espcn(scale=2):
    return sr4det.create_model("espcn", scale=scale)


def test_save_and_load_round_trip(tmp_path):
    model = _espcn()
    path = save_weights(tmp_path / "w.pt", model.net, arch="espcn", scale=2, kwargs={"channels": 64}, meta={"note": "x"})
    loaded = load_model(path)
    assert loaded.card.name == "espcn"
    assert loaded.scale == 2
    x = torch.rand(1, 3, 6, 6)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), model(x))
    assert read_weights(path).meta == {"note": "x"}


def test_half_storage_is_cast_back(tmp_path):
    model = _espcn()
    path = save_weights(tmp_path / "w.pt", model.net, arch="espcn", scale=2, half=True)
    loaded = sr4det.create_model("espcn", scale=2, weights=path)
    assert next(loaded.parameters()).dtype == torch.float32


def test_recorded_kwargs_rebuild_a_slim_variant(tmp_path):
    net = sr4det.create_model("vdsr", scale=4, depth=5, channels=8).net
    path = save_weights(tmp_path / "v.pt", net, arch="vdsr", scale=4, kwargs={"depth": 5, "channels": 8})
    model = sr4det.create_model("vdsr", scale=4, weights=path)
    assert model.card.params == sum(p.numel() for p in net.parameters())


def test_plain_state_dict_with_arch_and_module_prefix(tmp_path):
    model = _espcn(scale=3)
    path = tmp_path / "plain.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in model.net.state_dict().items()}}, path)
    loaded = load_model(path, arch="espcn")  # scale found by trying the card's scales
    assert loaded.scale == 3


def test_wrong_architecture_names_the_mismatch(tmp_path):
    path = tmp_path / "fsrcnn.pt"
    torch.save(sr4det.create_model("fsrcnn", scale=2).net.state_dict(), path)
    with pytest.raises(ArchitectureMismatchError, match="does not match architecture 'espcn'.*unexpected"):
        sr4det.create_model("espcn", scale=2, weights=path)


def test_wrong_scale(tmp_path):
    path = save_weights(tmp_path / "w.pt", _espcn(2).net, arch="espcn", scale=2)
    with pytest.raises(ScaleError, match="x2"):
        load_model(path, scale=4)
    with pytest.raises(ScaleError):
        sr4det.create_model("espcn", scale=4, weights=path)
    plain = tmp_path / "plain.pt"
    torch.save(_espcn(2).net.state_dict(), plain)
    with pytest.raises(ArchitectureMismatchError, match="shape mismatches"):
        sr4det.create_model("espcn", scale=4, weights=plain)


def test_truncated_file(tmp_path):
    good = save_weights(tmp_path / "w.pt", _espcn().net, arch="espcn", scale=2)
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(WeightsError, match="truncated"):
        load_model(bad)


def test_empty_and_missing_files(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(WeightsError, match="empty"):
        load_model(tmp_path / "empty.pt")
    with pytest.raises(WeightsNotAvailableError, match="not found"):
        load_model(tmp_path / "nope.pt")


def test_nan_tensor_is_named(tmp_path):
    net = _espcn().net
    with torch.no_grad():
        net.body[0].weight[0, 0, 0, 0] = float("nan")
    path = save_weights(tmp_path / "nan.pt", net, arch="espcn", scale=2)
    with pytest.raises(WeightsError, match=r"body\.0\.weight.*NaN"):
        load_model(path)


def test_unknown_third_party_state_dict(tmp_path):
    path = tmp_path / "mystery.pth"
    torch.save({"foo.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(WeightsError, match="not recognised by spandrel"):
        load_model(path)


def test_opencv_graph_needs_contrib(tmp_path):
    pytest.importorskip("cv2")
    import cv2

    if hasattr(cv2, "dnn_superres"):
        pytest.skip("opencv-contrib is installed here; the missing-dependency path cannot be exercised")
    (tmp_path / "ESPCN_x4.pb").write_bytes(b"x")
    with pytest.raises(MissingDependencyError, match="opencv-contrib"):
        load_model(tmp_path / "ESPCN_x4.pb")


def test_pretrained_offline_says_what_to_fetch(monkeypatch):
    monkeypatch.setattr(weights, "shipped_weights", lambda card, scale: None)
    with pytest.raises(WeightsNotAvailableError, match=r"edsr_baseline_x4-6b446fab\.pt.*save it as"):
        sr4det.create_model("edsr", scale=4, pretrained=True)


def test_pretrained_without_any_source(monkeypatch):
    monkeypatch.setattr(weights, "shipped_weights", lambda card, scale: None)
    with pytest.raises(WeightsNotAvailableError, match="no pretrained weights for rrdbnet"):
        sr4det.create_model("rrdbnet", scale=4, pretrained=True)


def test_interpolation_needs_no_weights():
    assert sr4det.create_model("bicubic", scale=4, pretrained=True).card.params == 0


def test_download_checks_sha256(tmp_path, monkeypatch):
    """The real download path, fed from a local file:// URL (no network)."""
    monkeypatch.delenv("SR4DET_OFFLINE")
    monkeypatch.delenv("YOLO_OFFLINE")
    src = save_weights(tmp_path / "src" / "edsr_x2.pt", sr4det.create_model("edsr", scale=2).net, arch="edsr", scale=2)
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    good = PublishedWeights(src.as_uri(), digest[:8], filename="edsr_good.pt")
    path = weights.download_published(good, what="edsr x2")
    assert path.is_file()
    assert path.parent == weights.cache_dir()
    assert weights.download_published(good, what="edsr x2") == path  # cached: no second download
    bad = PublishedWeights(src.as_uri(), "deadbeef", filename="edsr_bad.pt")
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        weights.download_published(bad, what="edsr x2")
    assert not (weights.cache_dir() / "edsr_bad.pt").exists()  # a failed download leaves nothing behind


def test_download_failure_is_clear(tmp_path, monkeypatch):
    monkeypatch.delenv("SR4DET_OFFLINE")
    monkeypatch.delenv("YOLO_OFFLINE")
    missing = PublishedWeights((tmp_path / "absent.pt").as_uri(), "00000000")
    with pytest.raises(WeightsNotAvailableError, match="download failed"):
        weights.download_published(missing, what="x")


# --- real third-party files from ../shared ---------------------------------------------------------


def test_spandrel_craft(shared):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = load_model(shared("weights", "sr", "spandrel", "CRAFT_x4_ntire2024_team34.pth"))
    assert not [w for w in caught if "meshgrid" in str(w.message)]  # torch's notice about spandrel's code: silenced
    assert model.card.name == "CRAFT"
    assert model.scale == 4
    assert model.card.non_local
    assert model.card.params == 753_344
    with torch.inference_mode():
        assert model(torch.rand(1, 3, 13, 17)).shape == (1, 3, 52, 68)  # not a multiple of its window: padded


def test_spandrel_compact_and_scale_check(shared):
    path = shared("weights", "sr", "spandrel", "realesr-animevideov3.pth")
    model = load_model(path)
    assert model.card.name == "RealESRGAN Compact"
    assert not model.card.non_local
    with pytest.raises(ScaleError, match="x4"):
        load_model(path, scale=2)


def test_opencv_graph_real(shared):
    """Runs only where opencv-contrib provides cv2.dnn_superres (it replaces opencv-python's cv2)."""
    import cv2

    if not hasattr(cv2, "dnn_superres"):
        pytest.skip("cv2.dnn_superres needs opencv-contrib-python-headless (optional extra 'contrib')")
    model = load_model(shared("weights", "sr", "opencv_dnn_superres", "ESPCN_x4.pb"))
    assert model.scale == 4
    assert model.card.name == "opencv-espcn"
    with torch.inference_mode():
        assert model(torch.rand(1, 3, 10, 12)).shape == (1, 3, 40, 48)
    with pytest.raises(ScaleError):
        load_model(shared("weights", "sr", "opencv_dnn_superres", "ESPCN_x4.pb"), scale=2)


class _FakeSuperRes:
    """cv2.dnn_superres's DnnSuperResImpl for a graph that always upscales x2, whatever setModel says."""

    def readModel(self, path):  # noqa: N802 - OpenCV's names
        self.path = path

    def setModel(self, algo, scale):  # noqa: N802
        self.algo, self.scale = algo, scale

    def upsample(self, bgr):
        return np.repeat(np.repeat(bgr, 2, axis=0), 2, axis=1)


@pytest.fixture()
def fake_dnn_superres(monkeypatch):
    import types

    cv2 = pytest.importorskip("cv2")
    monkeypatch.setattr(cv2, "dnn_superres", types.SimpleNamespace(DnnSuperResImpl_create=_FakeSuperRes), raising=False)


def test_an_opencv_graph_whose_name_lies_about_its_scale_is_refused_at_load(tmp_path, fake_dnn_superres):
    from sr4det.errors import ScaleMismatchError

    (tmp_path / "ESPCN_x4.pb").write_bytes(b"x")  # an x2 graph under an x4 name
    with pytest.raises(ScaleMismatchError, match=r"named x4 .* 16x16: rename the file .*ESPCN_x2\.pb"):
        load_model(tmp_path / "ESPCN_x4.pb")
    (tmp_path / "ESPCN_x2.pb").write_bytes(b"x")
    model = load_model(tmp_path / "ESPCN_x2.pb")
    assert model(torch.rand(1, 3, 5, 7)).shape == (1, 3, 10, 14)

"""A detector export that ultralytics cannot build fails as a DetectorError naming the export, not a traceback."""

from __future__ import annotations

import pytest

from sr4det.errors import DetectorError


def test_openvino_folder_without_metadata_names_metadata_yaml(tmp_path):
    pytest.importorskip("openvino")
    from sr4det.detectors.ultralytics import UltralyticsDetector

    folder = tmp_path / "fake_openvino_model"
    folder.mkdir()
    (folder / "model.xml").write_text("not a model")
    with pytest.raises(DetectorError, match="metadata.yaml"):
        UltralyticsDetector(folder)

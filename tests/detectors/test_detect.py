"""`sr4det detect` end to end, Detections.draw/to_yolo/to_json, detectors taking PIL images and paths, and
SRDetector's detector input size."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from PIL import Image

from sr4det.cli import main
from sr4det.detectors.base import Detections
from sr4det.detectors.sr import SRDetector
from sr4det.errors import InputError
from sr4det.transforms import Degrade, SRTransform

COCO = ("data", "coco128", "images", "train2017")
STEMS = ("000000000036", "000000000009")


# ------------------------------------------------------------------------------------------------ Detections


def test_draw_to_yolo_to_json_and_filter():
    d = Detections([[10, 20, 30, 60], [0, 0, 5, 5]], [0.9, 0.1], [1, 0], {0: "cat", 1: "dog"}, (80, 100))
    img = np.zeros((80, 100, 3), np.uint8)
    drawn = d.draw(img, conf=0.25, labels=False, line_width=1)
    assert drawn.shape == img.shape
    assert drawn.dtype == np.uint8
    assert not img.any()  # a copy, not in place
    assert drawn[20, 10:31].any(axis=-1).all()
    assert drawn[40, 10].any()
    assert not drawn[40, 20].any()  # the outline only
    assert not drawn[:6, :6].any()  # below conf: not drawn
    assert d.draw(img)[:6, :6].any()
    assert d.filter(0.25).labels.tolist() == [1]
    assert d.summary()[0] == {"box": [10.0, 20.0, 30.0, 60.0], "score": 0.9, "label": 1, "name": "dog"}
    assert isinstance(d.to_json(), str)  # JSON text, as ultralytics' Results.to_json and like to_yolo()
    assert json.loads(d.to_json()) == d.summary()
    first = d.to_yolo().splitlines()[0].split()
    assert first[0] == "1"
    assert [float(v) for v in first[1:]] == pytest.approx([0.2, 0.5, 0.2, 0.5, 0.9])
    with pytest.raises(InputError, match="frame"):
        d.draw(np.zeros((40, 50, 3), np.uint8))


def _label_rows(size: int) -> int:
    """Rows above a box that its label (drawn on a black ``size`` x ``size`` image) colours."""
    d = Detections([[size // 4, size // 2, size // 2, size - 1]], [0.9], [0], {0: "person"}, (size, size))
    drawn = d.draw(np.zeros((size, size, 3), np.uint8), line_width=1)
    above = drawn[: size // 2 - 1, size // 4 : size // 2]
    return int(above.any(axis=(1, 2)).sum())


def test_labels_scale_with_the_image():
    small, large = _label_rows(200), _label_rows(2560)
    assert small >= 10  # still readable on a small image
    assert large >= 4 * small  # ~2% of the side, not ~10 px text on 2560 px


def test_plot_returns_an_axes():
    import matplotlib

    matplotlib.use("Agg")
    d = Detections([[1, 1, 8, 8]], [0.5], [0], {0: "x"}, (10, 10))
    ax = d.plot(np.zeros((10, 10, 3), np.uint8))
    assert ax.get_title().startswith("1 detections")


# ------------------------------------------------------------------------------------------------ SRDetector imgsz


class _Sized:
    names = {0: "spot"}

    def __init__(self, imgsz=64, fixed=None):
        self.imgsz, self.fixed_imgsz, self.seen = imgsz, fixed, []

    def with_imgsz(self, n):
        if self.fixed_imgsz is not None:
            raise InputError("static")
        return _Sized(n)

    def __call__(self, images):
        self.seen.append([im.shape[:2] for im in images])
        return [Detections(np.zeros((0, 4)), [], [], self.names, im.shape[:2]) for im in images]


def test_sr_detector_scales_the_detector_imgsz_with_the_sr_factor():
    base = _Sized(64)
    det = SRDetector(SRTransform("bicubic", scale=4, tile=None), base)
    assert det.detector.imgsz == 256
    assert base.imgsz == 64  # a copy: the user's detector is unchanged
    assert SRDetector(SRTransform("bicubic", scale=4, tile=None), base, imgsz="keep").detector is base
    assert SRDetector(SRTransform("bicubic", scale=4, tile=None), base, imgsz=512).detector.imgsz == 512
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        det([np.zeros((60, 50, 3), np.uint8)])  # SR side 240 <= 256: no warning


def test_sr_detector_warns_loudly_when_a_static_detector_shrinks_the_sr_image():
    static = _Sized(64, fixed=64)
    det = SRDetector(SRTransform("bicubic", scale=4, tile=None), static)
    assert det.detector is static
    assert det.detector_imgsz == 64
    with pytest.warns(UserWarning, match=r"shrunk x3\.75 back down"):
        det([np.zeros((60, 50, 3), np.uint8)])  # SR side 240 > 64
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        det([np.zeros((10, 12, 3), np.uint8)])  # 48 <= 64 (and the warning is given once)


def test_detect_says_once_before_the_work_that_the_detector_shrinks_the_sr_image(tmp_path):
    from sr4det.commands.detect import _shrink_note

    det = SRDetector(SRTransform("bicubic", scale=4, tile=None), _Sized(64, fixed=64))
    big, small = tmp_path / "big.png", tmp_path / "small.png"
    Image.new("RGB", (50, 60)).save(big)
    Image.new("RGB", (12, 10)).save(small)
    note = _shrink_note(det, [small, big])
    assert note is not None
    assert "imgsz 64 (a static export)" in note
    assert "side 240 px is shrunk x3.75" in note
    assert "--slice" in note
    assert "drop --sr" in note
    assert "\n" not in note
    assert _shrink_note(det, [small]) is None  # 48 px <= 64: nothing lost


# ------------------------------------------------------------------------------------------------ real detector


@pytest.fixture(scope="module")
def yolo(shared):
    pytest.importorskip("openvino")
    from sr4det.integrations.ultralytics.detector import UltralyticsDetector

    return UltralyticsDetector(shared("weights", "yolo11n_int8_openvino_model"), conf=0.25)


@pytest.fixture(scope="module")
def images(shared, tmp_path_factory):
    folder = tmp_path_factory.mktemp("imgs")
    lr_folder = tmp_path_factory.mktemp("lr")
    for stem in STEMS:
        src = shared(*COCO, f"{stem}.jpg")
        (folder / f"{stem}.jpg").write_bytes(src.read_bytes())
        hr = np.asarray(Image.open(src).convert("RGB"))
        Image.fromarray(Degrade(4)(hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4])).save(lr_folder / f"{stem}.png")
    return folder, lr_folder


def test_detectors_take_pil_images_and_paths(yolo, images):
    path = images[0] / f"{STEMS[0]}.jpg"
    arr = np.asarray(Image.open(path).convert("RGB"))
    (a,) = yolo([arr])
    (b,) = yolo(Image.open(path))
    (c,) = yolo(str(path))
    (d,) = yolo([path])
    for other in (b, c, d):
        np.testing.assert_allclose(other.boxes, a.boxes)
        assert other.labels.tolist() == a.labels.tolist()
        assert other.image_size == a.image_size


def test_static_export_reports_its_fixed_size(yolo):
    assert yolo.fixed_imgsz == 640
    assert yolo.with_imgsz(640).imgsz == 640
    with pytest.raises(InputError, match="static export"):
        yolo.with_imgsz(1280)


def test_detect_cli_writes_pngs_and_json_that_match_the_detector(yolo, images, tmp_path, shared):
    out = tmp_path / "out"
    rc = main(
        ["detect", str(images[0]), "--detector", str(shared("weights", "yolo11n_int8_openvino_model")), "-o", str(out), "--quiet"]
    )
    assert rc == 0
    data = json.loads((out / "detections.json").read_text())
    assert data["settings"]["detector"]["conf"] == 0.25
    assert data["settings"]["sr"] is None
    assert [r["file"].rsplit("/", 1)[-1] for r in data["images"]] == sorted(f"{s}.jpg" for s in STEMS)
    for rec in data["images"]:
        stem = rec["file"].rsplit("/", 1)[-1][:-4]
        png = Image.open(out / f"{stem}.png")
        (ref,) = yolo([rec["file"]])
        assert png.size == (ref.image_size[1], ref.image_size[0])
        assert len(rec["detections"]) == len(ref) > 0
        np.testing.assert_allclose([r["box"] for r in rec["detections"]], ref.boxes, atol=0.01)
        assert [r["name"] for r in rec["detections"]] == [ref.names[int(c)] for c in ref.labels]
        assert len((out / "labels" / f"{stem}.txt").read_text().splitlines()) == len(ref)
        assert not np.array_equal(np.asarray(png.convert("RGB")), np.asarray(Image.open(rec["file"]).convert("RGB")))


def test_detect_cli_with_sr_reports_boxes_in_the_chosen_frame(images, tmp_path, shared):
    weights = str(shared("weights", "yolo11n_int8_openvino_model"))
    runs = {}
    for frame in ("lr", "sr"):
        out = tmp_path / frame
        assert (
            main(
                [
                    "detect",
                    str(images[1]),
                    "--detector",
                    weights,
                    "--sr",
                    "bicubic",
                    "--scale",
                    "4",
                    "--frame",
                    frame,
                    "-o",
                    str(out),
                    "--quiet",
                ]
            )
            == 0
        )
        runs[frame] = json.loads((out / "detections.json").read_text())["images"]
        lr0 = Image.open(images[1] / f"{STEMS[1]}.png")
        size = Image.open(out / f"{STEMS[1]}.png").size
        assert size == ((lr0.width, lr0.height) if frame == "lr" else (lr0.width * 4, lr0.height * 4))
    for lr, sr in zip(runs["lr"], runs["sr"], strict=True):
        assert [v * 4 for v in lr["image_size"]] == sr["image_size"]
        assert len(lr["detections"]) == len(sr["detections"]) > 0
        np.testing.assert_allclose(
            [np.array(r["box"]) * 4 for r in lr["detections"]], [r["box"] for r in sr["detections"]], atol=0.05
        )


def test_detect_cli_with_sr_a_static_export_would_shrink_says_so_once_and_cleanly(images, tmp_path, shared, capsys):
    weights = str(shared("weights", "yolo11n_int8_openvino_model"))
    args = ["detect", str(images[0]), "--detector", weights, "--sr", "bicubic", "--scale", "4", "-o", str(tmp_path / "o")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no raw Python warning (with its source line) besides the note
        assert main([*args, "--quiet"]) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if "shrunk" in line]
    assert notes == [
        "sr4det detect: note: the detector letterboxes its input to imgsz 640 (a static export), so an x4 SR image of "
        "side 2560 px is shrunk x4.00 back down before detection and that much of the SR is thrown away. Detect on "
        "slices of the SR image instead (--slice), or drop --sr and let the detector see the input as is (it is "
        "resized to about that size anyway, without the SR time)."
    ]
    assert "UserWarning" not in err


def test_detect_cli_rejects_frame_sr_without_sr(images, tmp_path, capsys):
    rc = main(["detect", str(images[0]), "--detector", "x.pt", "--frame", "sr", "-o", str(tmp_path / "o")])
    assert rc == 2
    assert "--frame sr needs --sr" in capsys.readouterr().err


def test_an_export_is_loaded_once(shared, capfd):
    pytest.importorskip("openvino")
    from sr4det.integrations.ultralytics.detector import UltralyticsDetector

    capfd.readouterr()
    det = UltralyticsDetector(shared("weights", "yolo11n_int8_openvino_model"), conf=0.25)
    det([np.zeros((64, 64, 3), np.uint8)])
    det.with_imgsz(640)([np.zeros((64, 64, 3), np.uint8)])
    text = "".join(capfd.readouterr())
    assert text.count("Loading ") <= 1, text  # ultralytics' "Loading ... for OpenVINO inference..." once, not twice
    assert det.names[0] == "person"

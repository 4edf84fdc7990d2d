"""Image files that used to give silently wrong pixels: JPEGs with corrupt data, EXIF-rotated photos, and formats
that cannot hold what is written to them."""

from __future__ import annotations

import json

import cv2
import numpy as np
import PIL.Image
import PIL.ImageOps
import pytest

from sr4det.cli import main
from sr4det.data.io import image_size, read_image, write_image
from sr4det.errors import DataError, InputError


def _photo(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 4, yy * 5, (xx * yy) % 256], axis=-1).astype(np.float64)
    return np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)


def _jpeg_bytes(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


def _corrupt(data: bytes, how: str) -> bytes:
    b = bytearray(data)
    if how == "zeros":  # entropy-coded data overwritten: libjpeg warns "Corrupt JPEG data" and decodes garbage
        mid = len(b) // 2
        b[mid : mid + 200] = b"\x00" * 200
    else:  # "ff": the tail of the scan replaced, header and EOI intact
        b[-300:-2] = b"\xff" * 298
    return bytes(b)


# ------------------------------------------------------------------------------------------------ corrupt JPEG data


@pytest.mark.parametrize("how", ["zeros", "ff"])
def test_jpeg_with_intact_header_and_corrupt_data_is_a_data_error(tmp_path, how, capfd):
    good = _jpeg_bytes(_photo())
    path = tmp_path / "bad.jpg"
    path.write_bytes(_corrupt(good, how))
    assert cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_UNCHANGED) is not None  # OpenCV alone decodes it
    capfd.readouterr()
    with pytest.raises(DataError, match="corrupt JPEG data"):
        read_image(path)
    (tmp_path / "good.jpg").write_bytes(good)
    img, _ = read_image(tmp_path / "good.jpg")
    assert img.shape == (48, 64, 3)
    assert "Corrupt JPEG" not in capfd.readouterr().err  # the captured libjpeg warning does not leak as noise


def test_compare_skips_a_corrupt_jpeg_and_lists_it(tmp_path):
    from sr4det.data.datasets import load_coco
    from sr4det.detectors.base import Detections
    from sr4det.evaluation import compare

    root = tmp_path / "images"
    root.mkdir()
    images, anns = [], []
    for i in range(2):
        data = _jpeg_bytes(_photo(seed=i))
        (root / f"{i}.jpg").write_bytes(_corrupt(data, "zeros") if i == 1 else data)
        images.append({"id": i + 1, "file_name": f"{i}.jpg", "height": 48, "width": 64})
        anns.append({"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [4, 4, 20, 20], "area": 400, "iscrowd": 0})
    ann = tmp_path / "instances.json"
    ann.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "thing"}]}))

    class Empty:
        names = {0: "thing"}

        def __call__(self, imgs):
            return [Detections(np.zeros((0, 4)), [], [], self.names, im.shape[:2]) for im in imgs]

    with pytest.warns(UserWarning, match="skipping 1.jpg"):
        res = compare(load_coco(ann, images=root), Empty(), sr=[], scale=4, cache_dir=False, n_resamples=0, progress=False)
    assert res["n_images"] == 1
    assert res["n_skipped"] == 1
    assert res["skipped_images"][0]["file_name"] == "1.jpg"
    assert "corrupt JPEG" in res["skipped_images"][0]["reason"]


# ------------------------------------------------------------------------------------------------ EXIF orientation


def _with_orientation(path, img: np.ndarray, orientation: int, fmt: str) -> None:
    pil = PIL.Image.fromarray(img)
    exif = PIL.Image.Exif()
    exif[0x0112] = orientation
    pil.save(path, format=fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {}))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_read_image_applies_exif_orientation_like_pil_and_ultralytics(tmp_path, orientation):
    raw = _photo(20, 30)
    png = tmp_path / "o.png"
    _with_orientation(png, raw, orientation, "PNG")
    expected = np.asarray(PIL.ImageOps.exif_transpose(PIL.Image.open(png)).convert("RGB"))
    img, info = read_image(png)
    np.testing.assert_array_equal(img, expected)
    assert info.orientation == orientation
    assert image_size(png) == img.shape[:2]
    if orientation in (5, 6, 7, 8):
        assert img.shape[:2] == (30, 20)
    jpg = tmp_path / "o.jpg"
    _with_orientation(jpg, raw, orientation, "JPEG")
    ultralytics_view = cv2.imread(str(jpg))[..., ::-1]  # cv2.imread (what ultralytics uses) applies EXIF orientation
    assert read_image(jpg)[0].shape == ultralytics_view.shape
    assert np.abs(read_image(jpg)[0].astype(int) - ultralytics_view).mean() < 1.0


def test_yolo_dataset_sizes_and_upscale_output_are_upright(tmp_path):
    import yaml

    from sr4det.data.datasets import load_yolo

    raw = _photo(20, 32)
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    _with_orientation(tmp_path / "images" / "a.png", raw, 6, "PNG")  # shown 20 wide, 32 high
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.25 0.5 0.25\n")
    data = tmp_path / "d.yaml"
    data.write_text(yaml.safe_dump({"path": str(tmp_path), "train": "images", "val": "images", "names": ["x"]}))
    im = load_yolo(data).images[0]
    assert (im.height, im.width) == (32, 20)
    np.testing.assert_allclose(im.boxes[0], [5.0, 4.0, 15.0, 12.0])  # normalised labels scaled by the upright size
    out = tmp_path / "up"
    assert main(["upscale", str(tmp_path / "images" / "a.png"), "-o", str(out), "-m", "bicubic", "-s", "2", "--quiet"]) == 0
    up, info = read_image(next(p for p in out.iterdir() if p.suffix == ".png"))  # beside it: .sr4det_run.*
    assert up.shape[:2] == (64, 40)  # upright pixels, no EXIF left to apply twice
    assert info.orientation == 1


# ------------------------------------------------------------------------------------------------ lossy formats


def test_write_image_refuses_formats_that_drop_depth_or_alpha(tmp_path):
    deep = np.full((8, 8, 3), 40000, np.uint16)
    rgba = np.full((8, 8, 4), 100, np.uint8)
    for name, img, match in (
        ("a.jpg", deep, "16-bit"),
        ("a.webp", deep, "16-bit"),
        ("a.jpg", rgba, "alpha"),
        ("a.ppm", rgba, "alpha"),
    ):
        with pytest.raises(InputError, match=match):
            write_image(tmp_path / name, img)
        assert not (tmp_path / name).exists()
    for name, img in (("ok.png", deep), ("ok.tif", rgba), ("ok.webp", rgba)):
        write_image(tmp_path / name, img)
        back, _ = read_image(tmp_path / name)
        assert back.dtype == img.dtype
        assert back.shape == img.shape


def test_upscale_format_jpg_on_16_bit_and_rgba_fails_those_files_before_sr(tmp_path, capsys):
    src = tmp_path / "in"
    write_image(src / "deep.png", np.full((12, 12, 3), 40000, np.uint16))
    write_image(src / "alpha.png", np.full((12, 12, 4), 100, np.uint8))
    write_image(src / "plain.png", np.full((12, 12, 3), 100, np.uint8))
    out = tmp_path / "out"
    assert main(["upscale", str(src), "-o", str(out), "-m", "bicubic", "-s", "2", "--format", "jpg", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "deep.png" in err
    assert "16-bit" in err
    assert "alpha.png" in err
    assert "alpha channel" in err
    assert "--format png" in err
    written = [p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".sr4det")]
    assert len(written) == 1
    assert written[0].suffix == ".jpg"
    assert "plain" in written[0].name


# ------------------------------------------------------------------ files OpenCV refuses, float files out of range


def _png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height RGB pixels, with almost no data (a decompression-bomb header)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")


def test_header_declaring_too_many_pixels_is_a_data_error_naming_the_limit(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_declaring(100_000, 100_000))
    with pytest.raises(DataError, match="OPENCV_IO_MAX_IMAGE_PIXELS") as info:
        read_image(path)
    assert "bomb.png" in str(info.value)


def test_upscale_folder_continues_past_an_image_opencv_refuses(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "bomb.png").write_bytes(_png_declaring(100_000, 100_000))
    write_image(folder / "ok.png", _photo(8, 8))
    rc = main(["upscale", str(folder), "-o", str(tmp_path / "out"), "--model", "bicubic", "--scale", "2", "--quiet"])
    assert rc == 2  # reported at the end, not a traceback
    assert (tmp_path / "out" / "ok.png").is_file()


def test_empty_file_says_it_is_empty(tmp_path):
    path = tmp_path / "zero.jpg"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty \(0 bytes\); replace it"):
        read_image(path)


@pytest.mark.parametrize(
    ("values", "match"),
    [
        (np.full((4, 5), 3.0, np.float32), r"outside \[0, 1\].*rescale it"),
        (np.full((4, 5), -0.5, np.float32), r"outside \[0, 1\]"),
        (np.array([[0.5, np.nan], [0.1, 0.2]], np.float32), "NaN/Inf"),
    ],
)
def test_float_tiff_outside_unit_range_is_an_error_not_clipped(tmp_path, values, match):
    path = tmp_path / "f.tif"
    PIL.Image.fromarray(values).save(path)
    with pytest.raises(DataError, match=match):
        read_image(path)


def test_float_tiff_in_unit_range_reads_as_uint16(tmp_path):
    values = np.linspace(0, 1, 20, dtype=np.float32).reshape(4, 5)
    path = tmp_path / "f.tif"
    PIL.Image.fromarray(values).save(path)
    img, info = read_image(path)
    assert info.dtype == np.uint16
    assert img.tolist() == (values * 65535).round().astype(np.uint16).tolist()


def test_float_tiff_overshooting_by_rounding_is_clipped_not_refused(tmp_path):
    values = np.array([[-5e-4, 0.25], [0.5, 1.0 + 5e-4]], np.float32)  # within the 1e-3 tolerance degrade() also allows
    path = tmp_path / "f.tif"
    PIL.Image.fromarray(values).save(path)
    img, _ = read_image(path)
    assert img.tolist() == [[0, 16384], [32768, 65535]]


# ------------------------------------------------------------------------------------------------ TIFF orientation


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("depth", ["rgb8", "gray16"])
def test_tiff_orientation_is_applied_once(tmp_path, orientation, depth):
    # OpenCV's TIFF decoder orients TIFFs itself (and Pillow reports them upright in .size): read_image used to apply
    # the tag a second time (orientation 6 came out rotated by 180 degrees, 3 not rotated at all) and image_size
    # swapped height and width, so YOLO labels landed on the wrong pixels
    from sr4det.data.io import apply_orientation

    raw = _photo(10, 16) if depth == "rgb8" else (np.arange(160, dtype=np.uint16).reshape(10, 16) * 400)
    path = tmp_path / "o.tif"
    _with_orientation(path, raw, orientation, "TIFF")
    img, info = read_image(path)
    np.testing.assert_array_equal(img, np.ascontiguousarray(apply_orientation(raw, orientation)))
    assert info.orientation == orientation
    assert image_size(path) == img.shape[:2]


def test_size_of_an_image_above_pillows_bomb_limit_comes_from_decoding(tmp_path, monkeypatch):
    """Pillow refuses headers above 2 x MAX_IMAGE_PIXELS; the image is still readable (OpenCV), so its size must not
    come back as None ("unreadable"), which made datasets skip it for the wrong reason."""
    path = tmp_path / "big.png"
    write_image(path, np.zeros((20, 30, 3), np.uint8))
    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 100)  # 600 px > 2 x 100: Pillow's bomb error, as for ~180M px
    with pytest.raises(PIL.Image.DecompressionBombError):
        PIL.Image.open(path)
    assert image_size(path) == (20, 30)
    broken = tmp_path / "broken.png"
    broken.write_bytes(path.read_bytes()[:60])  # header intact, data cut: not decodable either
    assert image_size(broken) is None

"""Image I/O that keeps bit depth and channels: 8/16-bit, gray, RGB, RGBA, in all formats OpenCV reads.

* **EXIF orientation** is applied when reading (as ultralytics, PIL's ``exif_transpose`` and cameras' viewers do),
  so pixels are upright and YOLO/COCO labels made on the viewed image land on the right pixels. Datasets'
  image sizes (:func:`image_size`) are the oriented ones too. Written files carry no EXIF, so they are upright.
  It is applied exactly once: OpenCV's TIFF decoder (and Pillow's, for sizes) already turns TIFFs upright, which a
  cached 16x16 probe per format detects (:func:`_decoder_orients`), so they are not turned a second time.
* **Corrupt JPEG data** (a valid header with damaged or truncated entropy-coded data, which libjpeg decodes with
  only a warning into a partly grey/garbled image) is a :class:`~sr4det.errors.DataError`, like any unreadable file.
* **Any decoding failure** (empty file, header declaring more than OpenCV's 2^30-pixel limit, OpenCV exceptions) is a
  :class:`~sr4det.errors.DataError` naming the file; float images (32-bit TIFF) must hold intensities in [0, 1] (1e-3 of overshoot
  is clipped) and no NaN/Inf; they become uint16.
* **Writing** refuses formats that would silently drop what the array holds: 16 bits in JPEG/BMP/WebP, alpha in
  JPEG/PPM/PGM/PNM (use ``.png`` or ``.tif``).
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import torch
from numpy.typing import DTypeLike

from .._files import atomic_write
from .._unit_range import UNIT_RANGE_TOLERANCE
from ..errors import DataError, InputError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm")


@dataclass(frozen=True)
class ImageInfo:
    """What :func:`read_image` found: ``dtype`` (uint8/uint16), ``channels`` (1, 3 or 4) and the EXIF
    ``orientation`` (1-8) that was applied (1: none)."""

    dtype: np.dtype
    channels: int
    orientation: int = 1


_EIGHT_BIT_ONLY = (".jpg", ".jpeg", ".bmp", ".webp")
_NO_ALPHA = (".jpg", ".jpeg", ".ppm", ".pgm", ".pnm")
_STDERR_LOCK = threading.Lock()
_JPEG_WARNINGS = ("corrupt jpeg data", "premature end of jpeg file", "invalid jpeg")


def exif_orientation(path: str | Path) -> int:
    """The EXIF orientation tag (1-8) of an image file; 1 when absent, invalid or unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            value = im.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - no EXIF (or an unreadable file, reported by the decoder) means upright
        return 1
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Rotate/flip an (H, W[, C]) array as EXIF ``orientation`` says (same result as PIL's ``exif_transpose``)."""
    if orientation == 2:
        return image[:, ::-1]
    if orientation == 3:
        return image[::-1, ::-1]
    if orientation == 4:
        return image[::-1]
    if orientation == 5:
        return np.swapaxes(image, 0, 1)
    if orientation == 6:
        return np.rot90(image, -1)
    if orientation == 7:
        return np.rot90(image, 2).swapaxes(0, 1)
    if orientation == 8:
        return np.rot90(image, 1)
    return image


def image_size(path: str | Path) -> tuple[int, int] | None:
    """(height, width) as :func:`read_image` returns the image (EXIF orientation applied), from the header only;
    None when the file cannot be opened."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
            tags = getattr(im, "tag_v2", None)  # TIFF only
            if im.format == "TIFF" and tags is not None:  # the stored size: recent Pillow reports TIFFs upright in .size
                w, h = int(tags.get(256, w)), int(tags.get(257, h))
            orientation = im.getexif().get(0x0112, 1)
    except Image.DecompressionBombError:
        # Pillow refuses headers above 2 x Image.MAX_IMAGE_PIXELS (~179M px) unread; OpenCV decodes up to 2^30 px, so
        # decode once to learn the size instead of reporting a readable image as unreadable
        try:
            h, w = read_image(path)[0].shape[:2]
        except DataError:
            return None
        return h, w
    except Exception:  # noqa: BLE001 - corrupt files raise many types; decoding reports them
        return None
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


_TIFF_MAGIC = (b"II*\x00", b"MM\x00*")


def _format_of(data: np.ndarray) -> str:
    """The container of an encoded image, for the formats whose decoders may orient it themselves."""
    head = data[:12].tobytes()
    if head[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if head[:4] in _TIFF_MAGIC:
        return "TIFF"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return "other"


@cache
def _decoder_orients(fmt: str) -> bool:
    """Whether ``cv2.imdecode(..., IMREAD_UNCHANGED)`` already applies the EXIF/TIFF orientation of ``fmt`` files.

    OpenCV documents that IMREAD_UNCHANGED ignores EXIF orientation, but its TIFF decoder orients TIFFs anyway
    (OpenCV 5); applying the tag again would turn such images twice. Measured once per format on a 16x16 image,
    dark left and bright right, tagged "mirrored" (orientation 2), so it holds for whatever OpenCV is installed.
    """
    if fmt not in ("JPEG", "TIFF", "PNG", "WEBP"):
        return False
    import io

    from PIL import Image

    probe = np.zeros((16, 16), np.uint8)
    probe[:, 8:] = 255
    exif = Image.Exif()
    exif[0x0112] = 2
    buf = io.BytesIO()
    try:
        Image.fromarray(probe).save(buf, format=fmt, exif=exif.tobytes())
        out = cv2.imdecode(np.frombuffer(buf.getvalue(), np.uint8), cv2.IMREAD_UNCHANGED)  # as read_image decodes
    except Exception:  # noqa: BLE001 - a codec missing from this build: its files fail to decode anyway
        return False
    return out is not None and float(out[:, :8].mean()) > float(out[:, 8:].mean())


def _decode_jpeg_strictly(data: np.ndarray, path: Path) -> np.ndarray | None:
    """cv2.imdecode of a JPEG, raising DataError when libjpeg warns about corrupt data (it only prints to stderr)."""
    with _STDERR_LOCK, tempfile.TemporaryFile() as captured:
        try:
            saved = os.dup(2)
        except OSError:  # no stderr to capture: decode without the check
            return cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        try:
            os.dup2(captured.fileno(), 2)
            img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        text = captured.read().decode("utf-8", "replace")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    bad = [ln for ln in lines if any(w in ln.lower() for w in _JPEG_WARNINGS)]
    others = [ln for ln in lines if ln not in bad]
    if others:  # not ours (another thread, or an unrelated library message): pass it on
        os.write(2, ("\n".join(others) + "\n").encode())
    if bad and img is not None:
        raise DataError(f"cannot decode {path}: corrupt JPEG data ({bad[0].strip()}); re-encode or replace the file")
    return img


def _cv2_reason(exc: Exception) -> str:
    """A short reason from an OpenCV exception, with the fix for the cases we know."""
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
    if "CV_IO_MAX_IMAGE_PIXELS" in text or "validateInputImageSize" in text:
        return (
            "its header declares more pixels than OpenCV decodes (2^30 by default; a corrupt header or a huge image). "
            "Replace the file, or raise the limit with the environment variable OPENCV_IO_MAX_IMAGE_PIXELS"
        )
    return f"corrupt or unsupported image file (OpenCV: {text})"


def _float_to_uint16(img: np.ndarray, path: Path) -> np.ndarray:
    """A float image file (e.g. a 32-bit TIFF) in [0, 1] -> uint16; NaN/Inf or values outside [0, 1] are an error
    (clipping them would silently change the image)."""
    finite = np.isfinite(img)
    if not finite.all():
        raise DataError(
            f"{path}: float image with {int((~finite).sum())} NaN/Inf pixels; clean it and save it as 8/16-bit PNG or TIFF"
        )
    lo, hi = float(img.min()), float(img.max())
    # float rounding and resampling ringing overshoot [0, 1] slightly; that much is clipped, as degrade() tolerates it
    if lo < -UNIT_RANGE_TOLERANCE or hi > 1.0 + UNIT_RANGE_TOLERANCE:
        raise DataError(
            f"{path}: float image with values in [{lo:.4g}, {hi:.4g}], outside [0, 1]; sr4det reads float images as "
            "intensities in [0, 1]: rescale it (e.g. divide by its maximum) or save it as 8/16-bit PNG or TIFF"
        )
    return (np.clip(img, 0.0, 1.0) * 65535).round().astype(np.uint16)


def list_images(*inputs: str | Path) -> list[Path]:
    """Expand files and folders (non-recursive) into a sorted list of image paths."""
    paths: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            # a sub-folder named like an image ("shots.png/") is not an image: folders are not recursed into
            paths += sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_EXTENSIONS and not q.is_dir())
        elif p.is_file():
            paths.append(p)
        else:
            raise DataError(f"no such file or folder: {p}")
    return paths


def read_image(path: str | Path) -> tuple[np.ndarray, ImageInfo]:
    """Read an image as RGB(A) or gray, keeping its bit depth, upright (EXIF orientation applied).

    Returns:
        (array, info): array is uint8 or uint16, shape (H, W) for gray, (H, W, 3) RGB or (H, W, 4) RGBA.

    Raises:
        DataError: missing, empty, unreadable or corrupt file (including JPEGs whose data libjpeg reports as corrupt and
            headers declaring more pixels than OpenCV decodes), or a float image (32-bit TIFF) with NaN/Inf or values
            outside [0, 1] (float images are read as intensities in [0, 1] -> uint16; an overshoot up to 1e-3 is clipped).
    """
    path = Path(path)
    if not path.is_file():
        if path.is_symlink():
            raise DataError(f"{path} is a symbolic link that loops or points nowhere: fix or remove the link")
        raise DataError(f"image not found: {path}")
    data = np.fromfile(str(path), dtype=np.uint8)
    if data.size == 0:
        raise DataError(f"cannot decode {path}: the file is empty (0 bytes); replace it or remove it from the dataset")
    try:
        if data.size >= 3 and data[0] == 0xFF and data[1] == 0xD8 and data[2] == 0xFF:
            img = _decode_jpeg_strictly(data, path)
        else:
            img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:  # OpenCV asserts instead of returning None, e.g. on a header declaring > 2^30 pixels
        raise DataError(f"cannot decode {path}: {_cv2_reason(exc)}") from exc
    if img is None:
        raise DataError(f"cannot decode {path}: corrupt or unsupported image file")
    frames = _frame_count(data)
    if frames > 1:  # OpenCV decodes the first frame only: the others would be lost without a word
        raise DataError(
            f"{path} is an animated image with {frames} frames; sr4det reads still images: extract the frames first "
            "(e.g. ffmpeg -i in.gif frame_%04d.png) and pass those"
        )
    if img.dtype not in (np.uint8, np.uint16):
        if np.issubdtype(img.dtype, np.floating):
            img = _float_to_uint16(img, path)
        else:
            raise DataError(
                f"{path}: unsupported pixel type {img.dtype}; save the image as 8- or 16-bit PNG/TIFF (or float in [0, 1])"
            )
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 3 and img.shape[2] == 3:
        img = img[..., ::-1]
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[..., [2, 1, 0, 3]]
    orientation = exif_orientation(path)
    if orientation != 1 and not _decoder_orients(_format_of(data)):
        img = apply_orientation(img, orientation)
    img = np.ascontiguousarray(img)
    return img, ImageInfo(img.dtype, 1 if img.ndim == 2 else img.shape[2], orientation)


def _frame_count(data: np.ndarray) -> int:
    """Frames of an animated GIF / APNG / WebP / multi-page TIFF (1 for a still image or what PIL cannot open)."""
    head = bytes(data[:16])
    if not (head[:4] == b"GIF8" or head[:4] in (b"II*\x00", b"MM\x00*") or head[8:12] == b"WEBP" or head[:4] == b"\x89PNG"):
        return 1
    import io

    import PIL.Image

    try:
        with PIL.Image.open(io.BytesIO(data.tobytes())) as im:
            return int(getattr(im, "n_frames", 1))
    except Exception:  # noqa: BLE001 - OpenCV decoded it; PIL's opinion of the container is only a hint
        return 1


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Write a uint8/uint16 gray, RGB or RGBA array (atomically); the format follows the suffix."""
    path = Path(path)
    if image.dtype not in (np.uint8, np.uint16):
        raise InputError(f"write_image expects uint8 or uint16, got {image.dtype}")
    check_format(path.suffix, image.dtype, 1 if image.ndim == 2 else image.shape[2], path)
    if image.ndim == 3 and image.shape[2] == 3:
        image = image[..., ::-1]
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[..., [2, 1, 0, 3]]
    elif not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1)):
        raise InputError(f"write_image expects (H, W), (H, W, 3) or (H, W, 4), got {image.shape}")
    ok, buf = cv2.imencode(path.suffix or ".png", np.ascontiguousarray(image))
    if not ok:
        raise InputError(f"OpenCV cannot encode {image.dtype} {image.shape} as {path.suffix}")
    return atomic_write(path, buf.tobytes(), suffix=path.suffix + ".tmp")


def check_format(suffix: str, dtype: np.dtype, channels: int, what: str | Path = "image") -> None:
    """Refuse to write ``dtype``/``channels`` as ``suffix`` when the format would silently drop depth or alpha."""
    ext = (suffix or ".png").lower()
    ext = ext if ext.startswith(".") else "." + ext
    lost = []
    if np.dtype(dtype) == np.uint16 and ext in _EIGHT_BIT_ONLY:
        lost.append("16-bit depth")
    if channels == 4 and ext in _NO_ALPHA:
        lost.append("the alpha channel")
    if lost:
        raise InputError(
            f"{what}: {ext} cannot hold {' and '.join(lost)} of this {np.dtype(dtype)} {channels}-channel image; "
            "write .png or .tif instead (--format png), or convert the image to 8-bit RGB first"
        )


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """Any array from :func:`read_image` -> contiguous uint8 (H, W, 3) RGB (16-bit rounded, gray replicated, alpha dropped)."""
    if image.dtype == np.uint16:
        image = np.round(image / 257.0).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3])


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """uint8/uint16 (H, W[, C]) array -> float32 tensor (C, H, W) in [0, 1]."""
    if image.dtype == np.uint8:
        scale = 255.0
    elif image.dtype == np.uint16:
        scale = 65535.0
    else:
        raise InputError(f"to_tensor expects uint8 or uint16, got {image.dtype}")
    t = torch.from_numpy(np.ascontiguousarray(image)).float().div_(scale)
    return t.unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1).contiguous()


def from_tensor(tensor: torch.Tensor, dtype: DTypeLike = np.uint8) -> np.ndarray:
    """Float tensor (C, H, W) in [0, 1] -> rounded uint8/uint16 array (H, W[, C]) (gray comes back 2-D)."""
    scale = 255.0 if np.dtype(dtype) == np.uint8 else 65535.0
    arr = (tensor.detach().float().clamp(0, 1) * scale).round().cpu().numpy().astype(dtype)
    arr = np.transpose(arr, (1, 2, 0))
    return arr[..., 0] if arr.shape[-1] == 1 else arr

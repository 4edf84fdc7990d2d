"""Image I/O that keeps bit depth and channels: 8/16-bit, gray, RGB, RGBA, in all formats OpenCV reads."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from .._files import mkstemp
from ..errors import DataError, InputError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm")


@dataclass(frozen=True)
class ImageInfo:
    """What :func:`read_image` found: ``dtype`` (uint8/uint16) and ``channels`` (1, 3 or 4)."""

    dtype: np.dtype
    channels: int


def list_images(*inputs: str | Path) -> list[Path]:
    """Expand files and folders (non-recursive) into a sorted list of image paths."""
    paths: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            paths += sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_EXTENSIONS)
        elif p.is_file():
            paths.append(p)
        else:
            raise DataError(f"no such file or folder: {p}")
    return paths


def read_image(path: str | Path) -> tuple[np.ndarray, ImageInfo]:
    """Read an image as RGB(A) or gray, keeping its bit depth.

    Returns:
        (array, info): array is uint8 or uint16, shape (H, W) for gray, (H, W, 3) RGB or (H, W, 4) RGBA.

    Raises:
        DataError: missing, unreadable or corrupt file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"image not found: {path}")
    data = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if img is None:
        raise DataError(f"cannot decode {path}: corrupt or unsupported image file")
    if img.dtype not in (np.uint8, np.uint16):
        if np.issubdtype(img.dtype, np.floating):
            img = (np.clip(img, 0, 1) * 65535).round().astype(np.uint16)
        else:
            raise DataError(f"{path}: unsupported pixel type {img.dtype}")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 3 and img.shape[2] == 3:
        img = img[..., ::-1]
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[..., [2, 1, 0, 3]]
    img = np.ascontiguousarray(img)
    return img, ImageInfo(img.dtype, 1 if img.ndim == 2 else img.shape[2])


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Write a uint8/uint16 gray, RGB or RGBA array (atomically); the format follows the suffix."""
    path = Path(path)
    if image.dtype not in (np.uint8, np.uint16):
        raise InputError(f"write_image expects uint8 or uint16, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 3:
        image = image[..., ::-1]
    elif image.ndim == 3 and image.shape[2] == 4:
        image = image[..., [2, 1, 0, 3]]
    elif not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1)):
        raise InputError(f"write_image expects (H, W), (H, W, 3) or (H, W, 4), got {image.shape}")
    ok, buf = cv2.imencode(path.suffix or ".png", np.ascontiguousarray(image))
    if not ok:
        raise InputError(f"OpenCV cannot encode {image.dtype} {image.shape} as {path.suffix}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = mkstemp(path.parent, suffix=path.suffix + ".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(buf.tobytes())
    os.replace(tmp, path)
    return path


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


def from_tensor(tensor: torch.Tensor, dtype: np.dtype = np.uint8) -> np.ndarray:
    """Float tensor (C, H, W) in [0, 1] -> rounded uint8/uint16 array (H, W[, C]) (gray comes back 2-D)."""
    scale = 255.0 if np.dtype(dtype) == np.uint8 else 65535.0
    arr = (tensor.detach().float().clamp(0, 1) * scale).round().cpu().numpy().astype(dtype)
    arr = np.transpose(arr, (1, 2, 0))
    return arr[..., 0] if arr.shape[-1] == 1 else arr

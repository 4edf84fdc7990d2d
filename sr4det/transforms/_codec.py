"""Image codecs: any supported image -> float (B, C, H, W) in the caller's value range, and the way back.

The kernels in :mod:`sr4det.transforms.functional` decode an image with one of ``decode_tensor`` /
``decode_numpy`` / ``decode_pil``, run their float core, and hand the result to ``Restore.to_output``, which
returns the caller's type, dtype, layout and (for PIL) mode.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import PIL.Image
import torch
from torchvision import tv_tensors

from ..errors import DataError, InputError

KEYPOINTS = getattr(tv_tensors, "KeyPoints", None)  # torchvision >= 0.23
_PIL_NATIVE = {"L", "RGB", "RGBA"}
_PIL_ALPHA = {"LA", "La", "PA", "RGBa"}  # the non-native PIL modes with an alpha band


class Restore:
    """How to turn a float (B, C, H, W) result back into the caller's image type."""

    def __init__(self, to_output: Callable[[torch.Tensor], Any], peak: float, integer: bool):
        self.to_output = to_output
        self.peak = peak  # value of "white" in the caller's range: 255, 65535 or 1.0
        self.integer = integer


def is_pure_tensor(x: Any) -> bool:
    return isinstance(x, torch.Tensor) and not isinstance(x, tv_tensors.TVTensor)


def _tensor_in(t: torch.Tensor, what: str) -> tuple[torch.Tensor, Restore]:
    if t.ndim < 3:
        raise InputError(f"{what}: expected (C, H, W) or (..., C, H, W), got shape {tuple(t.shape)}")
    if t.shape[-3] not in (1, 3, 4):
        raise InputError(f"{what}: expected 1, 3 or 4 channels in dim -3, got shape {tuple(t.shape)} (HWC? permute to CHW)")
    if t.numel() == 0:
        raise InputError(
            f"{what} is empty: shape {tuple(t.shape)}; every image needs at least one pixel (filter empty ones out first)"
        )
    if t.dtype == torch.uint8:
        peak, integer = 255.0, True
    elif t.dtype == torch.uint16:  # 16-bit images (as numpy uint16 and PIL I;16): depth kept
        peak, integer = 65535.0, True
    elif torch.is_floating_point(t):
        peak, integer = 1.0, False
    else:
        raise InputError(f"{what}: dtype {t.dtype} is not supported; use uint8 (0-255), uint16 (0-65535) or float (0-1)")
    lead = t.shape[:-3]
    dtype, wrap_like = t.dtype, t if isinstance(t, tv_tensors.TVTensor) else None
    x = t.as_subclass(torch.Tensor).reshape(-1, *t.shape[-3:])

    def out(y: torch.Tensor) -> Any:
        y = y.reshape(*lead, *y.shape[-3:])
        y = _quantize(y, peak) if integer else y
        y = y.to(dtype)
        return tv_tensors.wrap(y, like=wrap_like) if wrap_like is not None else y

    return x, Restore(out, peak, integer)


def _numpy_in(a: np.ndarray, channel_order: str) -> tuple[torch.Tensor, Restore]:
    if not a.dtype.isnative:  # big-endian data (some TIFF readers): same values, native byte order (torch needs it)
        a = a.astype(a.dtype.newbyteorder("="))
    if a.dtype == np.uint8:
        peak, integer = 255.0, True
    elif a.dtype == np.uint16:
        peak, integer = 65535.0, True
    elif a.dtype in (np.float32, np.float64, np.float16):
        peak, integer = 1.0, False
    else:
        raise InputError(f"numpy image: dtype {a.dtype} is not supported; use uint8, uint16 or float in [0, 1]")
    ndim = a.ndim
    if ndim == 2:
        b = a[None, :, :, None]
    elif ndim == 3:
        b = a[None]
    elif ndim == 4:
        b = a
    else:
        raise InputError(f"numpy image: expected (H, W), (H, W, C) or (N, H, W, C), got shape {a.shape}")
    if b.shape[-1] not in (1, 3, 4):
        raise InputError(f"numpy image: expected 1, 3 or 4 channels last (HWC), got shape {a.shape}")
    if b.size == 0:
        raise InputError(
            f"numpy image is empty: shape {a.shape}; every image needs at least one pixel (filter empty ones out first)"
        )
    bgr = channel_order == "bgr" and b.shape[-1] >= 3
    if bgr:  # BGR(A) -> RGB(A): models and JPEG expect RGB
        b = np.concatenate([b[..., 2::-1], b[..., 3:]], axis=-1)
    b = np.ascontiguousarray(b) if b.flags.writeable else np.array(b)  # torch warns on read-only arrays (PIL)
    x = torch.from_numpy(b).permute(0, 3, 1, 2)
    x = x.to(torch.float64 if integer else torch.float32)
    dtype = a.dtype

    def out(y: torch.Tensor) -> np.ndarray:
        y = _quantize(y, peak) if integer else y
        arr = y.permute(0, 2, 3, 1).cpu().numpy().astype(dtype)
        if bgr:
            arr = np.concatenate([arr[..., 2::-1], arr[..., 3:]], axis=-1)
        if ndim == 2:
            return np.ascontiguousarray(arr[0, :, :, 0])
        return np.ascontiguousarray(arr[0] if ndim == 3 else arr)

    return x, Restore(out, peak, integer)


def _pil_deep_in(img: PIL.Image.Image) -> tuple[torch.Tensor, Restore]:
    """PIL 16-bit (``I;16*``), 32-bit integer (``I``) and float (``F``) gray images, kept at their depth."""
    mode = img.mode
    a = np.asarray(img)
    if mode == "F":
        if a.size and (not np.isfinite(a).all() or a.min() < 0 or a.max() > 1):
            raise InputError(
                f"PIL mode 'F' image with values in [{np.nanmin(a):g}, {np.nanmax(a):g}]: float images must lie in [0, 1] "
                "without NaN/Inf; normalise it (e.g. Image.fromarray(arr / arr.max())) or convert to 'I;16'"
            )
        back: type[np.generic] = np.float32
    else:
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise InputError(
                f"PIL mode {mode!r} image with values in [{a.min()}, {a.max()}]: only 0..65535 (16-bit) is supported; "
                "rescale it to 16 bits (mode 'I;16') or to [0, 1] (mode 'F')"
            )
        back = np.int32 if mode == "I" else np.uint16
        a = a.astype(np.uint16)
    x, inner = _numpy_in(a, "rgb")

    def out(y: torch.Tensor) -> PIL.Image.Image:
        return PIL.Image.fromarray(inner.to_output(y).astype(back))  # uint16 -> I;16, int32 -> I, float32 -> F

    return x, Restore(out, inner.peak, inner.integer)


def _pil_in(img: PIL.Image.Image) -> tuple[torch.Tensor, Restore]:
    mode = img.mode
    if mode in ("I", "F") or mode.startswith("I;16"):
        return _pil_deep_in(img)
    if mode not in _PIL_NATIVE:
        # "La" / "RGBa" / "PA": alpha in either case; premultiplied modes convert through their straight-alpha twin.
        # The list is explicit: "LAB" has an "A" band too (a colour axis, not alpha) and must stay RGB
        has_alpha = mode in _PIL_ALPHA or "transparency" in img.info
        target = "RGBA" if has_alpha else "RGB"
        try:
            img = img.convert({"La": "LA", "RGBa": "RGBA"}.get(mode, target)).convert(target)
        except (ValueError, OSError) as exc:
            raise InputError(
                f"PIL image of mode {mode!r} cannot be converted to {target} ({exc}); convert it first, e.g. "
                f"img.convert({target!r}), or pass a numpy array / tensor"
            ) from exc
    a = np.asarray(img)
    x, inner = _numpy_in(a, "rgb")

    def out(y: torch.Tensor) -> PIL.Image.Image:
        return PIL.Image.fromarray(inner.to_output(y))  # uint8 (H, W) / (H, W, 3) / (H, W, 4) -> L / RGB / RGBA

    return x, Restore(out, inner.peak, inner.integer)


def _quantize(y: torch.Tensor, peak: float) -> torch.Tensor:
    return y.round().clamp_(0, peak)


# ---------------------------------------------------------------------------------------- per-type entry points
def decode_tensor(t: torch.Tensor) -> tuple[torch.Tensor, Restore]:
    """A (..., C, H, W) tensor, ``tv_tensors.Image`` or ``Video``; integer images come as float64 (exact)."""
    x, r = _tensor_in(t, type(t).__name__)
    return (x.double() if r.integer else x), r


def decode_numpy(a: np.ndarray, channel_order: str) -> tuple[torch.Tensor, Restore]:
    """An (H, W), (H, W, C) or (N, H, W, C) array; ``channel_order="bgr"`` for OpenCV arrays."""
    return _numpy_in(a, channel_order)


def decode_pil(img: PIL.Image.Image) -> tuple[torch.Tensor, Restore]:
    """A PIL image: L / RGB / RGBA, 16-bit, ``I`` and ``F`` modes kept; other modes become RGB(A).

    :class:`~sr4det.errors.DataError` when its pixels cannot be decoded (PIL opens lazily: a truncated or corrupt
    file fails only here) and for an animated image (only its first frame would be upscaled)."""
    frames = int(getattr(img, "n_frames", 1))
    if frames > 1:
        raise DataError(
            f"an animated {img.format or 'PIL'} image with {frames} frames: only the current frame would be "
            "transformed; pass its frames one at a time (PIL.ImageSequence.Iterator(img))"
        )
    try:
        img.load()
    except (OSError, SyntaxError, ValueError) as exc:  # PIL: "image file is truncated", broken data streams
        raise DataError(
            f"cannot decode the PIL image {getattr(img, 'filename', '') or ''}: {exc}; "
            "the file is truncated or corrupt (PIL opens files lazily, so Image.open did not notice)"
        ) from exc
    return _pil_in(img)

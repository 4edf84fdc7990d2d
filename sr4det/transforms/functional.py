"""Functional API of the transforms: ``super_resolve`` and ``degrade`` for every input type.

Each functional dispatches on the input's type to a kernel registered for it, the way torchvision's v2
functionals do (``F.resize`` -> ``resize_image`` / ``resize_bounding_boxes`` / ``resize_mask`` / ...): the lookup
walks the type's MRO, so subclasses use their base's kernel, and stops at ``tv_tensors.TVTensor``, so a custom
tv_tensor never falls back to the plain-tensor kernel.

====================================  =================================================================
input type                            kernel
====================================  =================================================================
``torch.Tensor``, ``Image``, ``Video``  ``super_resolve_image`` / ``degrade_image`` (same type and dtype back)
``PIL.Image.Image``, ``np.ndarray``   image kernels through the PIL / numpy codecs (same type, mode, dtype back)
``tv_tensors.BoundingBoxes``          ``*_bounding_boxes``: coordinates (not angles) times the factor
``tv_tensors.Mask``                   ``*_mask``: nearest-neighbour resize
``tv_tensors.KeyPoints``              ``*_keypoints`` (torchvision >= 0.23)
====================================  =================================================================

Why not ``torchvision.transforms.v2.functional.register_kernel``: that public hook only registers kernels of
*custom* tv_tensor classes on *torchvision's* functionals (it refuses functionals outside
``torchvision.transforms.v2.functional`` and the built-in tv_tensor types), and torchvision registers its own
kernels with a private helper. sr4det therefore keeps the same kind of registry for its own functionals, and
exposes :func:`register_kernel` so a custom tv_tensor can be taught ``super_resolve`` / ``degrade`` too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import PIL.Image
import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from ..errors import InputError
from ._codec import KEYPOINTS, Restore, decode_numpy, decode_pil, decode_tensor

__all__ = [
    "degrade",
    "degrade_bounding_boxes",
    "degrade_image",
    "degrade_keypoints",
    "degrade_mask",
    "register_kernel",
    "super_resolve",
    "super_resolve_bounding_boxes",
    "super_resolve_image",
    "super_resolve_keypoints",
    "super_resolve_mask",
]

_ROTATED = {"XYWHR", "CXCYWHR"}
Upscaler = Callable[[torch.Tensor], torch.Tensor]

# {functional: {input type: kernel}}
_KERNELS: dict[Callable[..., Any], dict[type, Callable[..., Any]]] = {}


# ------------------------------------------------------------------------------------------------ registry
def register_kernel(functional: Callable[..., Any], input_type: type) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a kernel to make it ``functional``'s implementation for ``input_type`` and its subclasses.

    ``functional`` is :func:`super_resolve` or :func:`degrade`. The kernel is called with the input and the
    functional's keyword arguments (``scale``, ``upscaler``, ``spec``, ``channel_order``); accept ``**kwargs``
    for those it does not use. A type can be registered once per functional (``ValueError`` otherwise).
    """
    if functional not in _KERNELS:
        raise ValueError(f"{functional!r} is not a functional of sr4det.transforms.functional")
    if not isinstance(input_type, type):
        raise ValueError(f"input_type must be a class, got {input_type!r}")
    registry = _KERNELS[functional]
    if input_type in registry:
        raise ValueError(f"{functional.__name__} already has a kernel for {input_type.__name__}")

    def decorator(kernel: Callable[..., Any]) -> Callable[..., Any]:
        registry[input_type] = kernel
        return kernel

    return decorator


def _find_kernel(functional: Callable[..., Any], input_type: type) -> Callable[..., Any] | None:
    registry = _KERNELS[functional]
    for cls in input_type.__mro__:
        if cls in registry:
            return registry[cls]
        if cls is tv_tensors.TVTensor:  # custom tv_tensors must not fall back to the plain-tensor kernel
            break
    return None


def _get_kernel(functional: Callable[..., Any], input_type: type) -> Callable[..., Any]:
    kernel = _find_kernel(functional, input_type)
    if kernel is not None:
        return kernel
    registry = _KERNELS[functional]
    names = ", ".join(sorted(t.__name__ for t in registry))
    raise InputError(f"{functional.__name__}: unsupported input type {input_type.__name__} (supported: {names})")


# ------------------------------------------------------------------------------------------------ functionals
def super_resolve(inpt: Any, scale: int, upscaler: Upscaler | None = None, channel_order: str = "rgb") -> Any:
    """Super-resolve an image, or rescale a target to the super-resolved frame, by ``scale``.

    ``upscaler`` maps float (B, C, H, W) in [0, 1] to float (B, C, sH, sW) in [0, 1] (for example
    :meth:`SRTransform.upscale <sr4det.transforms.SRTransform.upscale>`); images need it, targets do not.
    ``channel_order`` (``"rgb"`` / ``"bgr"``) only matters for numpy images. Returns the input's type.
    """
    return _get_kernel(super_resolve, type(inpt))(inpt, scale=scale, upscaler=upscaler, channel_order=channel_order)


def degrade(inpt: Any, spec: Any, channel_order: str = "rgb") -> Any:
    """Degrade an image by a :class:`~sr4det.degradation.DegradationSpec`, or mod-crop and rescale a target.

    Images go through :func:`sr4det.degradation.degrade` at their own depth; boxes, masks and keypoints are
    cropped to the mod-cropped canvas (boxes clamped) and multiplied by ``1 / spec.scale``. Returns the input's type.
    """
    return _get_kernel(degrade, type(inpt))(inpt, spec=spec, channel_order=channel_order)


_KERNELS[super_resolve] = {}
_KERNELS[degrade] = {}


# ------------------------------------------------------------------------------------------------ targets
def _scale_boxes(boxes: tv_tensors.BoundingBoxes, fx: float, fy: float, canvas: tuple[int, int]) -> tv_tensors.BoundingBoxes:
    """Multiply coordinates (not angles) of boxes in any format by (fx, fy); exact for float boxes."""
    fmt = boxes.format.name if hasattr(boxes.format, "name") else str(boxes.format)
    n = boxes.shape[-1]
    if fmt == "XYXYXYXY":
        factors = [fx, fy] * 4
    elif fmt in _ROTATED:
        if fx != fy:
            raise InputError(f"rotated boxes ({fmt}) can only be scaled uniformly, got fx={fx}, fy={fy}")
        factors = [fx, fy, fx, fy, 1.0]
    else:
        factors = [fx, fy, fx, fy]
    if len(factors) != n:
        raise InputError(f"{fmt} boxes must have {len(factors)} values each, got shape {tuple(boxes.shape)}")
    raw = boxes.as_subclass(torch.Tensor)
    f = torch.tensor(factors, dtype=raw.dtype if raw.is_floating_point() else torch.float64, device=raw.device)
    out = raw * f
    if not raw.is_floating_point():
        out = out.round().to(raw.dtype)
    return tv_tensors.wrap(out, like=boxes, canvas_size=canvas)


def _scale_keypoints(kp: torch.Tensor, fx: float, fy: float, canvas: tuple[int, int]) -> Any:
    raw = kp.as_subclass(torch.Tensor)
    f = torch.tensor([fx, fy], dtype=raw.dtype if raw.is_floating_point() else torch.float64, device=raw.device)
    out = raw * f
    if not raw.is_floating_point():
        out = out.round().to(raw.dtype)
    return tv_tensors.wrap(out, like=kp, canvas_size=canvas)


def _frame(inpt: Any) -> tuple[int, int]:
    """(H, W) of a target: the canvas of boxes / keypoints, the last two dims of a mask."""
    return tuple(inpt.canvas_size) if hasattr(inpt, "canvas_size") else tuple(inpt.shape[-2:])


def _modcrop(inpt: Any, spec: Any) -> Any:
    """Crop a target at the bottom / right to the mod-cropped canvas of ``spec`` (boxes are clamped by TF.crop)."""
    h, w = _frame(inpt)
    lh, lw = spec.output_size(h, w)
    ch, cw = lh * spec.scale, lw * spec.scale
    return inpt if (ch, cw) == (h, w) else TF.crop(inpt, 0, 0, ch, cw)


def _resize_mask(mask: tv_tensors.Mask, h: int, w: int) -> tv_tensors.Mask:
    return TF.resize(mask, [h, w], interpolation=InterpolationMode.NEAREST_EXACT)


@register_kernel(super_resolve, tv_tensors.BoundingBoxes)
def super_resolve_bounding_boxes(boxes: tv_tensors.BoundingBoxes, scale: int, **kwargs: Any) -> tv_tensors.BoundingBoxes:
    h, w = boxes.canvas_size
    return _scale_boxes(boxes, scale, scale, (h * scale, w * scale))


@register_kernel(super_resolve, tv_tensors.Mask)
def super_resolve_mask(mask: tv_tensors.Mask, scale: int, **kwargs: Any) -> tv_tensors.Mask:
    h, w = mask.shape[-2:]
    return _resize_mask(mask, h * scale, w * scale)


def super_resolve_keypoints(kp: Any, scale: int, **kwargs: Any) -> Any:
    h, w = kp.canvas_size
    return _scale_keypoints(kp, scale, scale, (h * scale, w * scale))


@register_kernel(degrade, tv_tensors.BoundingBoxes)
def degrade_bounding_boxes(boxes: tv_tensors.BoundingBoxes, spec: Any, **kwargs: Any) -> tv_tensors.BoundingBoxes:
    boxes = _modcrop(boxes, spec)
    h, w = boxes.canvas_size
    return _scale_boxes(boxes, 1 / spec.scale, 1 / spec.scale, (h // spec.scale, w // spec.scale))


@register_kernel(degrade, tv_tensors.Mask)
def degrade_mask(mask: tv_tensors.Mask, spec: Any, **kwargs: Any) -> tv_tensors.Mask:
    mask = _modcrop(mask, spec)
    h, w = mask.shape[-2:]
    return mask if spec.scale == 1 else _resize_mask(mask, h // spec.scale, w // spec.scale)


def degrade_keypoints(kp: Any, spec: Any, **kwargs: Any) -> Any:
    kp = _modcrop(kp, spec)
    h, w = kp.canvas_size
    return _scale_keypoints(kp, 1 / spec.scale, 1 / spec.scale, (h // spec.scale, w // spec.scale))


if KEYPOINTS is not None:
    register_kernel(super_resolve, KEYPOINTS)(super_resolve_keypoints)
    register_kernel(degrade, KEYPOINTS)(degrade_keypoints)


# ------------------------------------------------------------------------------------------------ images
def _sr_core(upscaler: Upscaler | None) -> Callable[[torch.Tensor, Restore], torch.Tensor]:
    if upscaler is None:
        raise InputError("super_resolve needs an upscaler for images (e.g. SRTransform(...).upscale)")

    def core(x: torch.Tensor, restore: Restore) -> torch.Tensor:
        y = upscaler((x / restore.peak).float())
        return y.double() * restore.peak if restore.integer else y

    return core


def _degrade_core(spec: Any) -> Callable[[torch.Tensor, Restore], torch.Tensor]:
    from ..degradation import degrade as degrade_array

    def core(x: torch.Tensor, restore: Restore) -> torch.Tensor:
        spec.output_size(*x.shape[-2:])
        dtype: type[np.generic]
        if restore.integer:
            dtype = np.uint8 if restore.peak == 255.0 else np.uint16
        else:
            dtype = np.float64 if x.dtype == torch.float64 else np.float32
        outs = []
        for item in x:  # (C, H, W) in the caller's range; integer values are exact in float64
            item = item.detach()  # a tensor that requires grad is degraded as data
            item = item.float() if item.dtype in (torch.float16, torch.bfloat16) else item  # numpy has no bfloat16
            arr = item.permute(1, 2, 0).cpu().numpy()
            arr = arr[..., 0] if arr.shape[-1] == 1 else arr
            arr = np.round(arr).astype(dtype) if restore.integer else arr.astype(dtype)
            lr = degrade_array(arr, spec)
            lr = lr[..., None] if lr.ndim == 2 else lr
            outs.append(torch.from_numpy(np.ascontiguousarray(lr)).permute(2, 0, 1))
        y = torch.stack(outs)
        return y.double() if restore.integer else y.to(x.dtype)

    return core


def _run(decoded: tuple[torch.Tensor, Restore], core: Callable[[torch.Tensor, Restore], torch.Tensor]) -> Any:
    x, restore = decoded
    return restore.to_output(core(x, restore))


@register_kernel(super_resolve, torch.Tensor)
@register_kernel(super_resolve, tv_tensors.Image)
@register_kernel(super_resolve, tv_tensors.Video)
def super_resolve_image(image: torch.Tensor, upscaler: Upscaler | None = None, **kwargs: Any) -> torch.Tensor:
    """(..., C, H, W) uint8 (0-255) or float ([0, 1]) tensor -> the same type and dtype, ``scale`` times larger."""
    return _run(decode_tensor(image), _sr_core(upscaler))


@register_kernel(super_resolve, PIL.Image.Image)
def _super_resolve_image_pil(image: PIL.Image.Image, upscaler: Upscaler | None = None, **kwargs: Any) -> PIL.Image.Image:
    return _run(decode_pil(image), _sr_core(upscaler))


@register_kernel(super_resolve, np.ndarray)
def _super_resolve_image_numpy(
    image: np.ndarray, upscaler: Upscaler | None = None, channel_order: str = "rgb", **kwargs: Any
) -> np.ndarray:
    return _run(decode_numpy(image, channel_order), _sr_core(upscaler))


@register_kernel(degrade, torch.Tensor)
@register_kernel(degrade, tv_tensors.Image)
@register_kernel(degrade, tv_tensors.Video)
def degrade_image(image: torch.Tensor, spec: Any, **kwargs: Any) -> torch.Tensor:
    """(..., C, H, W) uint8 or float tensor -> its LR version, same type and dtype; batches item by item."""
    return _run(decode_tensor(image), _degrade_core(spec))


@register_kernel(degrade, PIL.Image.Image)
def _degrade_image_pil(image: PIL.Image.Image, spec: Any, **kwargs: Any) -> PIL.Image.Image:
    return _run(decode_pil(image), _degrade_core(spec))


@register_kernel(degrade, np.ndarray)
def _degrade_image_numpy(image: np.ndarray, spec: Any, channel_order: str = "rgb", **kwargs: Any) -> np.ndarray:
    return _run(decode_numpy(image, channel_order), _degrade_core(spec))

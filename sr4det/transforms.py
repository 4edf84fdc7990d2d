"""``SRTransform`` and ``Degrade``: super-resolution and its counterpart as torchvision transforms.

Both are :class:`torchvision.transforms.v2.Transform` subclasses, so they compose with v2 transforms and
keep detection targets consistent, and they also work v1-style on a single image:

=============================  ======================================================================
input                          output
=============================  ======================================================================
``PIL.Image``                  ``PIL.Image`` of the same mode; 16-bit ``I;16``, ``I`` (0-65535) and ``F`` (0-1)
                               keep their depth (``I;16B`` comes back ``I;16``); other modes become RGB(A)
tensor (C,H,W) / (..., C,H,W)  same type and dtype; uint8 stays 0-255, float stays in [0, 1]
``tv_tensors.Image``/``Video`` same tv_tensor type and dtype
numpy (H,W), (H,W,C), (N,H,W,C) same dtype (uint8, uint16, or float in [0, 1]); ``channel_order="bgr"``
                               for OpenCV / ultralytics arrays (BGR or BGRA)
``tv_tensors.BoundingBoxes``   every format (incl. rotated) multiplied by the factor, ``canvas_size`` updated
``tv_tensors.Mask``            nearest-neighbour resized
``tv_tensors.KeyPoints``       multiplied by the factor (torchvision >= 0.23)
=============================  ======================================================================

Plain tensors follow torchvision v2's rule: when the sample holds an explicit image (``tv_tensors.Image``,
``Video`` or PIL) plain tensors are passed through untouched; otherwise only the first plain tensor (or
numpy array) is the image. Boxes must therefore be ``tv_tensors.BoundingBoxes``: plain data (tensor, array,
list of numbers) stored under a mapping key containing ``"box"`` (``"boxes"``, ``"bbox"``) raises
:class:`~sr4det.errors.InputError` instead of being passed through unscaled (the trap of torchvision issue
7827), and other plain (N, 4) float tensors that are passed through beside an image trigger a warning.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import InterpolationMode, Transform
from torchvision.transforms.v2 import functional as TF

from .errors import InputError, MissingDependencyError, ScaleError

_KEYPOINTS = getattr(tv_tensors, "KeyPoints", None)  # torchvision >= 0.23
_ROTATED = {"XYWHR", "CXCYWHR"}
_PIL_NATIVE = {"L", "RGB", "RGBA"}


# --------------------------------------------------------------------------------------------- image codecs
class _Restore:
    """How to turn a float (B, C, H, W) result back into the caller's image type."""

    def __init__(self, to_output: Callable[[torch.Tensor], Any], peak: float, integer: bool):
        self.to_output = to_output
        self.peak = peak  # value of "white" in the caller's range: 255, 65535 or 1.0
        self.integer = integer


def _is_pure_tensor(x: Any) -> bool:
    return isinstance(x, torch.Tensor) and not isinstance(x, tv_tensors.TVTensor)


def _tensor_in(t: torch.Tensor, what: str) -> tuple[torch.Tensor, _Restore]:
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
    elif torch.is_floating_point(t):
        peak, integer = 1.0, False
    else:
        raise InputError(f"{what}: dtype {t.dtype} is not supported; use uint8 (0-255) or float (0-1)")
    lead = t.shape[:-3]
    dtype, wrap_like = t.dtype, t if isinstance(t, tv_tensors.TVTensor) else None
    x = t.as_subclass(torch.Tensor).reshape(-1, *t.shape[-3:])

    def out(y: torch.Tensor) -> Any:
        y = y.reshape(*lead, *y.shape[-3:])
        y = _quantize(y, 255.0) if integer else y
        y = y.to(dtype)
        return tv_tensors.wrap(y, like=wrap_like) if wrap_like is not None else y

    return x, _Restore(out, peak, integer)


def _numpy_in(a: np.ndarray, channel_order: str) -> tuple[torch.Tensor, _Restore]:
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

    return x, _Restore(out, peak, integer)


def _pil_deep_in(img: PIL.Image.Image) -> tuple[torch.Tensor, _Restore]:
    """PIL 16-bit (``I;16*``), 32-bit integer (``I``) and float (``F``) gray images, kept at their depth."""
    mode = img.mode
    a = np.asarray(img)
    if mode == "F":
        if a.size and (not np.isfinite(a).all() or a.min() < 0 or a.max() > 1):
            raise InputError(
                f"PIL mode 'F' image with values in [{np.nanmin(a):g}, {np.nanmax(a):g}]: float images must lie in [0, 1] "
                "without NaN/Inf; normalise it (e.g. Image.fromarray(arr / arr.max())) or convert to 'I;16'"
            )
        back = np.float32
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

    return x, _Restore(out, inner.peak, inner.integer)


def _pil_in(img: PIL.Image.Image) -> tuple[torch.Tensor, _Restore]:
    mode = img.mode
    if mode in ("I", "F") or mode.startswith("I;16"):
        return _pil_deep_in(img)
    if mode not in _PIL_NATIVE:
        has_alpha = "A" in mode or "transparency" in img.info
        img = img.convert("RGBA" if has_alpha else "RGB")
    a = np.asarray(img)
    x, inner = _numpy_in(a, "rgb")

    def out(y: torch.Tensor) -> PIL.Image.Image:
        return PIL.Image.fromarray(inner.to_output(y))  # uint8 (H, W) / (H, W, 3) / (H, W, 4) -> L / RGB / RGBA

    return x, _Restore(out, inner.peak, inner.integer)


def _image_in(inpt: Any, channel_order: str) -> tuple[torch.Tensor, _Restore]:
    """Any supported image -> (float tensor (B, C, H, W) in the caller's value range, how to convert back)."""
    if isinstance(inpt, PIL.Image.Image):
        return _pil_in(inpt)
    if isinstance(inpt, np.ndarray):
        return _numpy_in(inpt, channel_order)
    if isinstance(inpt, torch.Tensor):
        x, r = _tensor_in(inpt, type(inpt).__name__)
        return (x.double() if r.integer else x), r
    raise InputError(f"unsupported image type {type(inpt).__name__}")


def _quantize(y: torch.Tensor, peak: float) -> torch.Tensor:
    return y.round().clamp_(0, peak)


# --------------------------------------------------------------------------------------------- targets
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


def _scale_keypoints(kp: torch.Tensor, fx: float, fy: float, canvas: tuple[int, int]):
    raw = kp.as_subclass(torch.Tensor)
    f = torch.tensor([fx, fy], dtype=raw.dtype if raw.is_floating_point() else torch.float64, device=raw.device)
    out = raw * f
    if not raw.is_floating_point():
        out = out.round().to(raw.dtype)
    return tv_tensors.wrap(out, like=kp, canvas_size=canvas)


def _canvas_of(inpt: Any) -> tuple[int, int] | None:
    if isinstance(inpt, tv_tensors.BoundingBoxes) or (_KEYPOINTS is not None and isinstance(inpt, _KEYPOINTS)):
        return tuple(inpt.canvas_size)
    return None


def _image_size(inpt: Any) -> tuple[int, int] | None:
    if isinstance(inpt, PIL.Image.Image):
        return inpt.height, inpt.width
    if isinstance(inpt, np.ndarray):
        return tuple(inpt.shape[:2]) if inpt.ndim in (2, 3) else tuple(inpt.shape[1:3])
    if isinstance(inpt, (tv_tensors.Image, tv_tensors.Video, tv_tensors.Mask)) or _is_pure_tensor(inpt):
        return tuple(inpt.shape[-2:]) if inpt.ndim >= 2 else None
    return None


# --------------------------------------------------------------------------------------------- base transform
class _ResamplingTransform(Transform):
    """Shared plumbing: which inputs are images, targets and pass-through (v2 rules + numpy), and the box trap."""

    _transformed_types = (torch.Tensor, PIL.Image.Image, np.ndarray)

    def __init__(self, channel_order: str = "rgb"):
        super().__init__()
        if channel_order not in ("rgb", "bgr"):
            raise InputError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
        self.channel_order = channel_order

    def forward(self, *inputs: Any) -> Any:
        sample = inputs if len(inputs) > 1 else inputs[0]
        _reject_plain_boxes(sample)
        return super().forward(*inputs)

    def _needs_transform_list(self, flat_inputs: list[Any]) -> list[bool]:
        # v2's heuristic, with numpy arrays counted as plain tensors (v2 itself ignores numpy)
        explicit = any(isinstance(x, (tv_tensors.Image, tv_tensors.Video, PIL.Image.Image)) for x in flat_inputs)
        take_plain = not explicit
        needs = []
        for x in flat_inputs:
            if isinstance(x, (tv_tensors.Image, tv_tensors.Video, PIL.Image.Image, tv_tensors.BoundingBoxes, tv_tensors.Mask)):
                needs.append(True)
            elif _KEYPOINTS is not None and isinstance(x, _KEYPOINTS):
                needs.append(True)
            elif _is_pure_tensor(x) or isinstance(x, np.ndarray):
                needs.append(take_plain)
                if not take_plain and _is_pure_tensor(x) and x.ndim == 2 and x.shape[-1] == 4 and x.is_floating_point():
                    warnings.warn(
                        f"{type(self).__name__}: a plain float tensor of shape {tuple(x.shape)} is passed through "
                        "unchanged; if it holds boxes, wrap it as tv_tensors.BoundingBoxes so it is rescaled",
                        stacklevel=4,
                    )
                take_plain = False
            else:
                needs.append(False)
        return needs

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        sizes = set()
        for x in flat_inputs:
            if isinstance(x, (tv_tensors.BoundingBoxes, tv_tensors.Mask)) or (
                _KEYPOINTS is not None and isinstance(x, _KEYPOINTS)
            ):
                continue
            size = _image_size(x)
            if size is not None:
                sizes.add(size)
        if len(sizes) > 1:
            raise InputError(f"{type(self).__name__}: images in one sample have different sizes {sorted(sizes)}")
        size = next(iter(sizes)) if sizes else None
        for x in flat_inputs:
            canvas = _canvas_of(x) or (tuple(x.shape[-2:]) if isinstance(x, tv_tensors.Mask) else None)
            if size is not None and canvas is not None and canvas != size:
                raise InputError(
                    f"{type(self).__name__}: {type(x).__name__} has canvas/size {canvas} but the image is {size}; "
                    "targets must be in the image's pixel frame"
                )
        return {"size": size}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if isinstance(inpt, tv_tensors.BoundingBoxes):
            return self._boxes(inpt)
        if isinstance(inpt, tv_tensors.Mask):
            return self._mask(inpt)
        if _KEYPOINTS is not None and isinstance(inpt, _KEYPOINTS):
            return self._keypoints(inpt)
        x, restore = _image_in(inpt, self.channel_order)
        return restore.to_output(self._image(x, restore))

    # subclasses implement these
    def _image(self, x: torch.Tensor, restore: _Restore) -> torch.Tensor:
        raise NotImplementedError

    def _boxes(self, boxes: tv_tensors.BoundingBoxes) -> tv_tensors.BoundingBoxes:
        raise NotImplementedError

    def _mask(self, mask: tv_tensors.Mask) -> tv_tensors.Mask:
        raise NotImplementedError

    def _keypoints(self, kp: Any) -> Any:
        raise NotImplementedError


def _is_plain_numbers(value: Any) -> bool:
    """A plain tensor/array, or a (nested) list/tuple of numbers: data v2 passes through untouched."""
    if _is_pure_tensor(value) or isinstance(value, np.ndarray):
        return True
    if isinstance(value, (list, tuple)) and value:
        return all(isinstance(v, (int, float, np.number)) or _is_plain_numbers(v) for v in value)
    return False


def _reject_plain_boxes(sample: Any) -> None:
    """Raise if a mapping holds boxes (a key containing "box") as plain numbers: they would not be scaled."""

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                if isinstance(key, str) and "box" in key.lower() and _is_plain_numbers(value):
                    raise InputError(
                        f"sample[{key!r}] holds boxes as a plain {type(value).__name__}; torchvision v2 passes plain data "
                        "through unscaled (or takes a plain tensor for the image). Wrap it: "
                        "tv_tensors.BoundingBoxes(boxes, format='XYXY', canvas_size=(H, W)); for COCO datasets use "
                        "torchvision.datasets.wrap_dataset_for_transforms_v2"
                    )
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)

    walk(sample)


# --------------------------------------------------------------------------------------------- SRTransform
def _default_device() -> torch.device:
    from torch.utils.data import get_worker_info

    # forked DataLoader workers cannot initialise CUDA; they upscale on CPU
    if torch.cuda.is_available() and get_worker_info() is None:
        return torch.device("cuda")
    return torch.device("cpu")


class SRTransform(_ResamplingTransform):
    """Super-resolve images (and rescale their targets) as a torchvision v1/v2 transform.

    Args:
        model: an :class:`~sr4det.models.SRModel`, a zoo name (``"espcn"``, ``"bicubic"``, see
            :func:`sr4det.list_models`) or a weight-file path (sr4det, spandrel or OpenCV ``.pb``).
        scale: upscaling factor; default 4 for zoo names, the model's own for instances and files (a
            mismatch raises :class:`~sr4det.errors.ScaleError`).
        tile: ``"auto"`` (tile size from free memory), an int tile side in LR pixels, or ``None`` to run the
            whole image at once. Tiling uses :func:`sr4det.tiling.upscale`.
        max_memory: memory budget in bytes for ``tile="auto"`` (None: what the device has free).
        device: where the model runs; None: CUDA when available (CPU inside DataLoader workers).
        pretrained: for zoo names, load pretrained weights (``False``: random init, for tests and training).
        channel_order: ``"rgb"`` or ``"bgr"``; only for numpy arrays (OpenCV / ultralytics use BGR).

    The model loads when the transform is built (so missing weights fail early) and again, lazily, in each
    process that unpickles the transform (DataLoader workers with ``spawn``) or inherits it by ``fork``: the
    pickled state carries the model spec, not the weights. An SRModel instance, or a zoo name with
    ``pretrained=False`` (random weights), travels with its weights instead and is not reloaded.

    Output images are ``scale`` times the input size; float outputs lie in [0, 1], uint8 outputs are rounded.
    """

    def __init__(
        self,
        model: Any = "espcn",
        scale: int | None = None,
        tile: str | int | None = "auto",
        max_memory: int | None = None,
        device: str | torch.device | None = None,
        pretrained: bool = True,
        channel_order: str = "rgb",
    ):
        super().__init__(channel_order)
        from .models import SRModel, list_models

        if tile is not None and tile != "auto" and (not isinstance(tile, int) or tile < 1):
            raise InputError(f"tile must be 'auto', a positive int or None, got {tile!r}")
        if scale is not None and (not isinstance(scale, (int, np.integer)) or scale < 1):
            raise ScaleError(f"scale must be a positive int, got {scale!r}")
        self.tile = tile
        self.max_memory = max_memory
        self.pretrained = bool(pretrained)
        self._device_spec = None if device is None else str(device)
        if isinstance(model, SRModel):
            self._spec: Any = model
            self._owns_model = False
        elif isinstance(model, (str, Path)):
            self._spec = str(model)
            # a zoo name without pretrained weights is a random init: reloading it elsewhere would give other
            # weights, so such a model travels with its weights like an instance
            self._owns_model = self.pretrained or self._spec not in list_models()
        else:
            raise InputError(f"model must be an SRModel, a zoo name or a weight-file path, got {type(model).__name__}")
        self._scale_arg = None if scale is None else int(scale)
        self._sr_model = None
        self._model_pid = None
        loaded = self.model  # load now: a wrong name or missing weights should fail here, not in a worker
        self.scale = int(loaded.scale)
        self.model_name = loaded.card.name

    # the model is kept out of nn.Module's registry (object.__setattr__) so pickling can drop it
    def __setattr__(self, name: str, value: Any) -> None:
        if name == "_sr_model":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    @property
    def device(self) -> torch.device:
        return torch.device(self._device_spec) if self._device_spec else _default_device()

    @property
    def model(self):
        """The SRModel, (re)loaded on first use in each process."""
        if self._sr_model is not None and (not self._owns_model or self._model_pid == os.getpid()):
            return self._sr_model
        from .models.factory import resolve_model

        scale_arg = self.__dict__.get("scale", self._scale_arg)
        try:
            if isinstance(self._spec, str):
                m = resolve_model(self._spec, scale=scale_arg, pretrained=self.pretrained, device=self.device)
            else:
                m = resolve_model(self._spec, scale=scale_arg)
                if self._device_spec is not None:
                    m = m.to(self.device)
        except KeyError as exc:
            raise InputError(str(exc.args[0]) if exc.args else str(exc)) from None
        object.__setattr__(self, "_sr_model", m.eval())
        object.__setattr__(self, "_model_pid", os.getpid())
        return m

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if self._owns_model:
            state["_sr_model"] = None  # reload from the spec in the receiving process
        return state

    def extra_repr(self) -> str:
        spec = self._spec if self._owns_model else f"<SRModel {self.model_name}>"
        return f"model={spec!r}, scale={self.scale}, tile={self.tile!r}, channel_order={self.channel_order!r}"

    def upscale(self, x: torch.Tensor) -> torch.Tensor:
        """Float (B, C, H, W) in [0, 1] -> float32 CPU (B, C, sH, sW) in [0, 1], tiled unless ``tile=None``."""
        model = self.model
        if self.tile is None:
            with torch.inference_mode():
                y = model(x.to(device=model.device, dtype=torch.float32))
            return y.float().cpu().clone()  # clone: a normal tensor, usable by later (autograd-aware) transforms
        try:
            from .tiling import upscale
        except ImportError as exc:
            raise MissingDependencyError(
                f"tiled upscaling (tile={self.tile!r}) needs sr4det.tiling, which could not be imported ({exc}); "
                "use SRTransform(..., tile=None) to run whole images"
            ) from exc
        y = upscale(model, x.float(), tile=self.tile, max_memory=self.max_memory, progress=False)
        return y.float().cpu().clone()

    def _image(self, x: torch.Tensor, restore: _Restore) -> torch.Tensor:
        y = self.upscale((x / restore.peak).float())
        return y.double() * restore.peak if restore.integer else y

    def _boxes(self, boxes):
        h, w = boxes.canvas_size
        return _scale_boxes(boxes, self.scale, self.scale, (h * self.scale, w * self.scale))

    def _keypoints(self, kp):
        h, w = kp.canvas_size
        return _scale_keypoints(kp, self.scale, self.scale, (h * self.scale, w * self.scale))

    def _mask(self, mask):
        h, w = mask.shape[-2:]
        return TF.resize(mask, [h * self.scale, w * self.scale], interpolation=InterpolationMode.NEAREST_EXACT)


# --------------------------------------------------------------------------------------------- Degrade
_METHODS = {"bicubic": "cubic", "bilinear": "linear", "lanczos": "lanczos3", "lanczos2": "lanczos2"}


class Degrade(_ResamplingTransform):
    """Make the low-resolution version of an image (and its targets), exactly as the evaluator does.

    The image goes through :func:`sr4det.degradation.degrade`, the one degradation of sr4det (``compare``,
    ``materialize``, the ultralytics hook and SR training use it too): mod-crop, optional Gaussian blur,
    MATLAB-bicubic shrink by ``scale``, optional Gaussian noise, optional JPEG. The same settings and pixels give
    byte-identical LR images everywhere.

    Args:
        scale: integer downscaling factor (1 keeps the size and only blurs / adds noise / compresses).
        method: ``"bicubic"`` (MATLAB ``imresize``, antialiased, the SR-literature protocol), ``"bilinear"``,
            ``"lanczos"`` (Lanczos-3) or ``"lanczos2"``, all via :func:`sr4det.resize.imresize`.
        blur_sigma: standard deviation (HR pixels) of a Gaussian blur before downscaling (None or 0: none).
        noise_std: standard deviation of additive Gaussian noise, in 8-bit levels (0-255 scale), after
            downscaling; results are clipped to the valid range.
        jpeg_quality: JPEG quality (1-100) applied last (OpenCV encoder, 4:2:0 chroma); the output is the decoded
            8-bit image (converted back to the input's dtype).
        seed: an int (default 0, as ``compare``): noise is a deterministic function of (seed, image pixels), so
            the same image is degraded identically in every run, worker, order and entry point (see
            :mod:`sr4det.degradation`). None: fresh noise on every call from torch's global generator
            (augmentation; DataLoader seeds its workers).
        channel_order: ``"rgb"`` or ``"bgr"`` for numpy inputs (matters for JPEG's colour conversion).

    **Mod-crop:** the image is first cropped at the bottom and right to ``(H - H % scale, W - W % scale)`` so
    that the LR image is exactly ``(H // scale, W // scale)`` and the LR grid aligns with the HR grid (an LR
    pixel covers exactly ``scale x scale`` HR pixels). Boxes, masks and keypoints are cropped the same way
    (boxes are clamped to the cropped canvas), then multiplied by ``1 / scale``. SR by the same factor
    therefore returns the mod-cropped HR size, and boxes map back with ``x scale``.

    For uint8 inputs without blur, noise or JPEG the result equals :func:`sr4det.resize.imresize_uint8` on the
    mod-cropped image (computed in float64, rounded like MATLAB). Images are degraded at their own depth
    (uint8, uint16 or float); tensors of a batch are degraded one by one.
    """

    def __init__(
        self,
        scale: int,
        method: str = "bicubic",
        blur_sigma: float | None = None,
        noise_std: float | None = None,
        jpeg_quality: int | None = None,
        seed: int | None = 0,
        channel_order: str = "rgb",
    ):
        super().__init__(channel_order)
        from .degradation import DegradationSpec

        if isinstance(scale, float) and scale.is_integer():
            scale = int(scale)
        if not isinstance(scale, (int, np.integer)) or isinstance(scale, bool) or scale < 1:
            raise ScaleError(f"Degrade needs a positive integer scale such as 2 or 4, got {scale!r}")
        if method not in _METHODS:
            raise InputError(f"method must be one of {sorted(_METHODS)}, got {method!r}")
        self.spec = DegradationSpec(
            scale=int(scale),
            kernel=_METHODS[method],
            blur_sigma=None if blur_sigma is None else float(blur_sigma),
            noise_std=None if noise_std is None else float(noise_std),
            jpeg_quality=jpeg_quality,
            seed=int(seed) if isinstance(seed, np.integer) else seed,
        )
        self.scale = int(scale)
        self.method = method
        self.blur_sigma = self.spec.blur_sigma
        self.noise_std = self.spec.noise_std
        self.jpeg_quality = None if jpeg_quality is None else int(jpeg_quality)
        self.seed = self.spec.seed

    @classmethod
    def from_spec(cls, spec: Any, channel_order: str = "rgb") -> Degrade:
        """The transform of a :class:`~sr4det.degradation.DegradationSpec` (e.g. ``compare``'s degradation)."""
        methods = {v: k for k, v in _METHODS.items()}
        return cls(
            spec.scale,
            method=methods[spec.kernel],
            blur_sigma=spec.blur_sigma,
            noise_std=spec.noise_std,
            jpeg_quality=spec.jpeg_quality,
            seed=spec.seed,
            channel_order=channel_order,
        )

    @property
    def config(self) -> dict[str, Any]:
        """The settings, for recording alongside results."""
        return {
            "scale": self.scale,
            "method": self.method,
            "blur_sigma": self.blur_sigma,
            "noise_std": self.noise_std,
            "jpeg_quality": self.jpeg_quality,
            "seed": self.seed,
        }

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """LR (H, W) for an HR image of ``(height, width)``."""
        return self.spec.output_size(height, width)

    def _crop_size(self, h: int, w: int) -> tuple[int, int]:
        lh, lw = self.output_size(h, w)
        return lh * self.scale, lw * self.scale

    def _image(self, x: torch.Tensor, restore: _Restore) -> torch.Tensor:
        from .degradation import degrade

        self.output_size(*x.shape[-2:])
        if restore.integer:
            dtype = np.uint8 if restore.peak == 255.0 else np.uint16
        else:
            dtype = np.float64 if x.dtype == torch.float64 else np.float32
        outs = []
        for item in x:  # (C, H, W) in the caller's range; integer values are exact in float64
            arr = item.permute(1, 2, 0).cpu().numpy()
            arr = arr[..., 0] if arr.shape[-1] == 1 else arr
            arr = np.round(arr).astype(dtype) if restore.integer else arr.astype(dtype)
            lr = degrade(arr, self.spec)
            lr = lr[..., None] if lr.ndim == 2 else lr
            outs.append(torch.from_numpy(np.ascontiguousarray(lr)).permute(2, 0, 1))
        y = torch.stack(outs)
        return y.double() if restore.integer else y.to(x.dtype)

    def _crop_target(self, inpt: Any) -> Any:
        h, w = _canvas_of(inpt) or tuple(inpt.shape[-2:])
        ch, cw = self._crop_size(h, w)
        return inpt if (ch, cw) == (h, w) else TF.crop(inpt, 0, 0, ch, cw)

    def _boxes(self, boxes):
        boxes = self._crop_target(boxes)
        h, w = boxes.canvas_size
        return _scale_boxes(boxes, 1 / self.scale, 1 / self.scale, (h // self.scale, w // self.scale))

    def _keypoints(self, kp):
        kp = self._crop_target(kp)
        h, w = kp.canvas_size
        return _scale_keypoints(kp, 1 / self.scale, 1 / self.scale, (h // self.scale, w // self.scale))

    def _mask(self, mask):
        mask = self._crop_target(mask)
        h, w = mask.shape[-2:]
        if self.scale == 1:
            return mask
        return TF.resize(mask, [h // self.scale, w // self.scale], interpolation=InterpolationMode.NEAREST_EXACT)

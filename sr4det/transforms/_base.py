"""What SRTransform and Degrade share: which leaves of a sample are images, targets or pass-through; the checks.

Built on the public hooks of :class:`torchvision.transforms.v2.Transform` (torchvision >= 0.21):
``check_inputs`` (sees every leaf), ``make_params`` (sees the leaves torchvision selected) and ``transform``
(called per selected leaf). ``forward`` is extended, not replaced: it looks at the mapping keys (which the
flat leaves no longer carry) and then hands over to torchvision's ``forward``.

The one torchvision name used that is not public API is the class attribute ``_transformed_types``: it is how
a v2 transform says which leaf types it accepts, and numpy arrays are not among torchvision's defaults. It is
set once, here, and has kept its meaning from torchvision 0.15 to 0.29.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import PIL.Image
import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import Transform

from ..errors import InputError
from ._codec import KEYPOINTS, is_pure_tensor
from .functional import _find_kernel

_EXPLICIT_IMAGES = (tv_tensors.Image, tv_tensors.Video, PIL.Image.Image)
_TARGETS = (tv_tensors.BoundingBoxes, tv_tensors.Mask) + ((KEYPOINTS,) if KEYPOINTS is not None else ())


def _is_plain(x: Any) -> bool:
    """Plain data that may be the image when the sample has no explicit one: pure tensors and numpy arrays."""
    return is_pure_tensor(x) or isinstance(x, np.ndarray)


def _select(flat_inputs: list[Any], functional: Callable[..., Any]) -> list[Any]:
    """torchvision v2's rule for plain tensors, with numpy arrays counted as plain tensors (v2 ignores numpy).

    Explicit images (Image, Video, PIL) and targets are always transformed. Plain tensors / arrays are passed
    through when the sample has an explicit image; otherwise only the first one is the image. Custom tv_tensors
    are transformed when ``functional`` has a kernel registered for them; other leaves pass through.
    """
    take_plain = not any(isinstance(x, _EXPLICIT_IMAGES) for x in flat_inputs)
    selected = []
    for x in flat_inputs:
        if isinstance(x, _EXPLICIT_IMAGES + _TARGETS):
            selected.append(x)
        elif _is_plain(x):
            if take_plain:
                selected.append(x)
            take_plain = False
        elif isinstance(x, tv_tensors.TVTensor) and _find_kernel(functional, type(x)) is not None:
            selected.append(x)
    return selected


def _canvas_of(inpt: Any) -> tuple[int, int] | None:
    if isinstance(inpt, tv_tensors.BoundingBoxes) or (KEYPOINTS is not None and isinstance(inpt, KEYPOINTS)):
        return tuple(inpt.canvas_size)
    return None


def _image_size(inpt: Any) -> tuple[int, int] | None:
    if isinstance(inpt, PIL.Image.Image):
        return inpt.height, inpt.width
    if isinstance(inpt, np.ndarray):
        return tuple(inpt.shape[:2]) if inpt.ndim in (2, 3) else tuple(inpt.shape[1:3])
    if isinstance(inpt, (tv_tensors.Image, tv_tensors.Video, tv_tensors.Mask)) or is_pure_tensor(inpt):
        return tuple(inpt.shape[-2:]) if inpt.ndim >= 2 else None
    return None


def _is_plain_numbers(value: Any) -> bool:
    """A plain tensor/array, or a (nested) list/tuple of numbers: data v2 passes through untouched."""
    if _is_plain(value):
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


class ResamplingTransform(Transform):
    """Base of SRTransform and Degrade: input selection and sample checks; subclasses implement ``transform``.

    ``_functional``: the functional the subclass applies (``staticmethod(F.super_resolve)``, ...); custom
    tv_tensors with a kernel registered on it are transformed too.
    """

    _functional: Callable[..., Any]

    # torchvision offers these leaf types to the selection below (its default lacks numpy); see the module doc
    _transformed_types = (torch.Tensor, PIL.Image.Image, np.ndarray)

    def __init__(self, channel_order: str = "rgb"):
        super().__init__()
        if channel_order not in ("rgb", "bgr"):
            raise InputError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
        self.channel_order = channel_order

    def forward(self, *inputs: Any) -> Any:
        # the box check needs the mapping keys, which the flat leaves of the public hooks do not carry
        sample = inputs if len(inputs) > 1 else inputs[0]
        _reject_plain_boxes(sample)
        return super().forward(*inputs)

    def check_inputs(self, flat_inputs: list[Any]) -> None:
        # every leaf: warn about a plain (N, 4) float tensor that will pass through although it looks like boxes
        take_plain = not any(isinstance(x, _EXPLICIT_IMAGES) for x in flat_inputs)
        for x in flat_inputs:
            if not _is_plain(x):
                continue
            if not take_plain and is_pure_tensor(x) and x.ndim == 2 and x.shape[-1] == 4 and x.is_floating_point():
                warnings.warn(
                    f"{type(self).__name__}: a plain float tensor of shape {tuple(x.shape)} is passed through "
                    "unchanged; if it holds boxes, wrap it as tv_tensors.BoundingBoxes so it is rescaled",
                    stacklevel=4,
                )
            take_plain = False

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        # flat_inputs: the leaves torchvision's heuristic kept (all explicit images, targets and numpy arrays, the
        # first pure tensor when there is no explicit image); _select applies sr4det's rule on top. Leaves are
        # remembered by identity, so `transform` passes the others through.
        selected = _select(flat_inputs, self._functional)
        sizes = set()
        for x in selected:
            if isinstance(x, _TARGETS):
                continue
            size = _image_size(x)
            if size is not None:
                sizes.add(size)
        if len(sizes) > 1:
            raise InputError(f"{type(self).__name__}: images in one sample have different sizes {sorted(sizes)}")
        size = next(iter(sizes)) if sizes else None
        for x in selected:
            canvas = _canvas_of(x) or (tuple(x.shape[-2:]) if isinstance(x, tv_tensors.Mask) else None)
            if size is not None and canvas is not None and canvas != size:
                raise InputError(
                    f"{type(self).__name__}: {type(x).__name__} has canvas/size {canvas} but the image is {size}; "
                    "targets must be in the image's pixel frame"
                )
        return {"size": size, "selected": {id(x) for x in selected}}

    @staticmethod
    def is_selected(inpt: Any, params: dict[str, Any]) -> bool:
        """Whether ``transform`` should change this leaf (False: pass it through)."""
        return id(inpt) in params["selected"]

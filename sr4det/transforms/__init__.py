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

Layout (like torchvision's ``Resize`` over ``F.resize``): :mod:`sr4det.transforms.functional` holds the
functionals ``super_resolve`` and ``degrade`` with one kernel per input type; the transform classes pick the
sample's images and targets and call them.
"""

from __future__ import annotations

from . import functional
from ._degrade import Degrade
from ._sr import SRTransform

__all__ = ["Degrade", "SRTransform", "functional"]

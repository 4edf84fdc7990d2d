"""``SRTransform``: super-resolve images and rescale their targets, as a torchvision v1/v2 transform."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._validators import check_device
from ..errors import InputError, MissingDependencyError, ScaleError
from . import functional as F
from ._base import ResamplingTransform


def _default_device() -> torch.device:
    from torch.utils.data import get_worker_info

    # forked DataLoader workers cannot initialise CUDA; they upscale on CPU
    if torch.cuda.is_available() and get_worker_info() is None:
        return torch.device("cuda")
    return torch.device("cpu")


class SRTransform(ResamplingTransform):
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
        backend, precision: what runs the SR network (:meth:`~sr4det.models.SRModel.set_runtime`): ``"openvino"`` or
            ``"onnxruntime"`` compile it for the CPU (once; cached on disk), ``"torch"`` runs it eagerly; None keeps a
            given SRModel's runtime (torch/fp32 for names and files).

    The model loads when the transform is built (so missing weights fail early) and again, lazily, in each
    process that unpickles the transform (DataLoader workers with ``spawn``) or inherits it by ``fork``: the
    pickled state carries the model spec, not the weights. An SRModel instance, or a zoo name with
    ``pretrained=False`` (random weights), travels with its weights instead and is not reloaded.

    Output images are ``scale`` times the input size; float outputs lie in [0, 1], uint8 outputs are rounded.
    """

    _functional = staticmethod(F.super_resolve)

    def __init__(
        self,
        model: Any = "espcn",
        scale: int | None = None,
        tile: str | int | None = "auto",
        max_memory: int | None = None,
        device: str | torch.device | None = None,
        pretrained: bool = True,
        channel_order: str = "rgb",
        backend: str | None = None,
        precision: str | None = None,
    ):
        super().__init__(channel_order)
        from ..models import SRModel, list_models
        from ..models.runtime import check_runtime

        check_runtime(backend or "torch", precision or "fp32")
        #: backend/precision for SRModel.set_runtime (None entries: a given SRModel keeps its own; names get torch/fp32)
        self._runtime = {k: v for k, v in (("backend", backend), ("precision", precision)) if v is not None}

        if tile is not None and tile != "auto" and (isinstance(tile, bool) or not isinstance(tile, int) or tile < 1):
            raise InputError(f"tile must be 'auto', a positive int or None, got {tile!r}")
        if scale is not None and (not isinstance(scale, (int, np.integer)) or scale < 1):
            raise ScaleError(f"scale must be a positive int, got {scale!r}")
        if max_memory is not None:
            from ..tiling.memory import parse_memory

            parse_memory(max_memory)  # a bad budget is named here, not at the first image
        self.tile = tile
        self.max_memory = max_memory
        self.pretrained = bool(pretrained)
        check_device(device, flag="device")  # before the model loads: a typo or a missing GPU is named here
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

    def _runtime_device(self) -> torch.device:
        """Where a model loaded from a name or file goes: a compiled runtime runs on the CPU unless a device is given."""
        if self._device_spec is None and self._runtime.get("backend", "torch") != "torch":
            return torch.device("cpu")
        return self.device

    @property
    def device(self) -> torch.device:
        return torch.device(self._device_spec) if self._device_spec else _default_device()

    @property
    def model(self):
        """The SRModel, (re)loaded on first use in each process."""
        if self._sr_model is not None and (not self._owns_model or self._model_pid == os.getpid()):
            return self._sr_model
        from ..models.factory import resolve_model

        scale_arg = self.__dict__.get("scale", self._scale_arg)
        try:
            if isinstance(self._spec, str):
                m = resolve_model(
                    self._spec, scale=scale_arg, pretrained=self.pretrained, device=self._runtime_device(), **self._runtime
                )
            else:
                m = resolve_model(self._spec, scale=scale_arg, **self._runtime)
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
            from ..tiling import upscale
        except ImportError as exc:
            raise MissingDependencyError(
                f"tiled upscaling (tile={self.tile!r}) needs sr4det.tiling, which could not be imported ({exc}); "
                "use SRTransform(..., tile=None) to run whole images"
            ) from exc
        y = upscale(model, x.float(), tile=self.tile, max_memory=self.max_memory, progress=False)
        return y.float().cpu().clone()

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if not self.is_selected(inpt, params):
            return inpt
        return F.super_resolve(inpt, self.scale, upscaler=self.upscale, channel_order=self.channel_order)

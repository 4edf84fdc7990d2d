"""``SRModel``: the one contract every super-resolution model in sr4det speaks.

    model(x: float Tensor (B, C, H, W) in [0, 1]) -> float Tensor (B, C, s*H, s*W) in [0, 1]

with C in {1 (gray), 3 (RGB), 4 (RGBA)}. The wrapper hides how the network sees the image: Y-channel
networks get BT.601 luma (chroma is upsampled with bicubic), pre-upsampling networks (SRCNN, VDSR) get
a MATLAB-bicubic enlarged input, gray images are run as RGB, and alpha is upsampled with bicubic.
Inputs are moved to the model's device and dtype; the output keeps the input's dtype.

The network may run compiled (OpenVINO, ONNX Runtime; on CUDA GPUs ONNX Runtime's CUDA or TensorRT provider,
unverified until a GPU is lent) instead of eager torch: :meth:`SRModel.set_runtime`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from .._unit_range import UNIT_RANGE_TOLERANCE
from ..color import rgb_to_ycbcr, ycbcr_to_rgb
from ..errors import InputError, ScaleMismatchError
from ..resize import imresize
from .card import ModelCard

if TYPE_CHECKING:
    from .runtime import CompiledNet


def validate_image_tensor(x: torch.Tensor, what: str = "input") -> None:
    """Raise :class:`InputError` unless ``x`` is a float (B, C, H, W) tensor, C in {1, 3, 4}, values in [0, 1]."""
    if not isinstance(x, torch.Tensor):
        raise InputError(
            f"{what} must be a float torch.Tensor (B, C, H, W) in [0, 1], got {type(x).__name__}; convert a uint8/uint16 "
            "HWC array with sr4det.data.io.to_tensor(array) (or torch.from_numpy(array).permute(2, 0, 1).float() / 255), "
            "or pass arrays to sr4det.upscale / SRTransform, which accept them"
        )
    if not torch.is_floating_point(x):
        raise InputError(f"{what} must be a float tensor in [0, 1], got dtype {x.dtype}; for uint8 images use x.float() / 255")
    if x.ndim != 4:
        raise InputError(f"{what} must have shape (B, C, H, W), got {tuple(x.shape)}")
    if x.shape[1] not in (1, 3, 4):
        raise InputError(f"{what} must have 1 (gray), 3 (RGB) or 4 (RGBA) channels, got {x.shape[1]} (shape {tuple(x.shape)})")
    if x.shape[-1] == 0 or x.shape[-2] == 0 or x.shape[0] == 0:
        raise InputError(f"{what} is empty: shape {tuple(x.shape)}")
    finite = torch.isfinite(x.detach())
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise InputError(
            f"{what} has {bad} NaN/Inf values (shape {tuple(x.shape)}); clean the image first, e.g. x.nan_to_num(0.0).clamp(0, 1)"
        )
    lo, hi = float(x.detach().amin()), float(x.detach().amax())
    if lo < -UNIT_RANGE_TOLERANCE or hi > 1 + UNIT_RANGE_TOLERANCE:
        hint = " (it looks like 0-255 data: divide by 255)" if hi > 2 else ""
        raise InputError(f"{what} values must lie in [0, 1], got [{lo:.4g}, {hi:.4g}]{hint}")


class SRModel(nn.Module):
    """A super-resolution network behind the common contract.

    Args:
        net: the raw network. It receives the *network input*: RGB or Y (card.input_space), at LR size
            (post-upsampling) or already enlarged by MATLAB bicubic (pre-upsampling), and returns the
            same channels at s times the LR size.
        card: the model card (scale-independent facts plus this instance's parameter count).
        scale: the upscaling factor of this instance.

    Attributes:
        scale (int), card (ModelCard).
        backend (str), precision (str): what runs the network (``"torch"``, ``"fp32"`` unless :meth:`set_runtime`
            chose a compiled runtime).
    """

    _anchor: torch.Tensor  # a buffer (registered in __init__); declared so type checkers see a Tensor, not Module

    def __init__(self, net: nn.Module, card: ModelCard, scale: int):
        super().__init__()
        self.net = net
        self.card = card
        self.scale = int(scale)
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)  # tracks device/dtype when net has no params
        self.backend, self.precision = "torch", "fp32"
        self._compiled: CompiledNet | None = None

    def set_runtime(self, backend: str = "torch", precision: str = "fp32", *, threads: int | None = None) -> SRModel:
        """Choose what runs the network, in place (returns ``self``); the contract of ``model(x)`` stays the same.

        Args:
            backend: ``"torch"`` (eager, the default), ``"openvino"`` or ``"onnxruntime"`` (compiled for the CPU;
                converted once and cached on disk, see :mod:`sr4det.models.runtime`), or on a CUDA GPU
                ``"onnxruntime-cuda"`` / ``"tensorrt"`` (ONNX Runtime's CUDA / TensorRT execution provider on the
                model's CUDA device, else the current one; unverified until a GPU is lent).
            precision: ``"fp32"`` (equal to torch within about 1e-5), or ``"bf16"`` / ``"fp16"`` with OpenVINO on a CPU
                that supports them (outputs differ from fp32: measure first), ``"fp16"`` on the GPU backends.
            threads: intra-op threads of the compiled network (default: ``torch.get_num_threads()`` now).

        Interpolation baselines (bicubic, ...) are not networks and stay on torch (``backend`` remains ``"torch"``).
        A compiled network is inference only (no gradients), runs on the CPU (GPU backends: on the GPU), and is a
        snapshot of the weights: ``load_state_dict`` compiles again. Raises :class:`InputError` for an unknown or
        unsupported choice or a GPU backend without a CUDA device, :class:`~sr4det.errors.MissingDependencyError`
        (extra ``export``; ``onnxruntime-gpu`` for the GPU backends) when the runtime is not installed.
        """
        from .runtime import GPU_BACKENDS, check_runtime, compile_net

        check_runtime(backend, precision)
        compile_runtime = getattr(self.net, "compile_runtime", None)  # a network loaded from `sr4det export` files
        if compile_runtime is not None:
            self._compiled = compile_runtime(backend, precision, threads)
            self.backend, self.precision = self._compiled.backend, precision
            return self
        if backend == "torch" or self.card.upsampling == "none":
            self.backend, self.precision, self._compiled = "torch", "fp32", None
            return self
        gpu = backend in GPU_BACKENDS  # converted from a CPU copy; runs on the model's CUDA device (or the current one)
        if self.dtype != torch.float32 or self.device.type not in (("cpu", "cuda") if gpu else ("cpu",)):
            raise InputError(
                f"backend={backend!r} compiles a float32 model on the CPU, but this one is {self.dtype} on {self.device}; "
                "call model.to('cpu', torch.float32) first (the runtime's precision is chosen by precision=)"
            )
        channels = 1 if self.card.input_space == "y" else 3
        self._compiled = compile_net(
            self.net,
            backend=backend,
            precision=precision,
            channels=channels,
            min_size=self.card.min_size,
            size_multiple=self.card.size_multiple,
            threads=threads,
            **({"device_id": self.device.index, "out_scale": 1 if self.card.upsampling == "pre" else self.scale} if gpu else {}),
        )
        self.backend, self.precision = backend, precision
        return self

    @property
    def compiled(self) -> CompiledNet | None:
        """The compiled network :meth:`set_runtime` made (its ``path`` is the converted file), or None on torch."""
        return self._compiled

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        result = super().load_state_dict(state_dict, strict=strict, assign=assign)
        if self._compiled is not None:  # the compiled network is a snapshot of the old weights
            self.set_runtime(self.backend, self.precision, threads=self._compiled.threads)
        return result

    @property
    def device(self) -> torch.device:
        return self._anchor.device

    @property
    def dtype(self) -> torch.dtype:
        for p in self.net.parameters():
            return p.dtype
        return self._anchor.dtype

    def extra_repr(self) -> str:
        runtime = "" if self._compiled is None else f", backend={self.backend!r}, precision={self.precision!r}"
        return f"name={self.card.name!r}, scale={self.scale}, params={self.card.params}{runtime}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Upscale ``x``: float (B, C, H, W) or (C, H, W) in [0, 1], C in {1, 3, 4} -> (B, C, sH, sW) in [0, 1]."""
        if not isinstance(x, torch.Tensor):
            validate_image_tensor(x)  # raises InputError naming the conversion
        squeeze = x.ndim == 3
        if squeeze:
            x = x.unsqueeze(0)
        validate_image_tensor(x)
        out_dtype = x.dtype
        x = x.to(device=self.device, dtype=self.dtype)
        channels = x.shape[1]
        if channels == 3:
            out = self._rgb(x)
        elif channels == 1:
            # gray as RGB: every model sees the input it was trained on; the mean undoes the replication
            out = self._rgb(x.expand(-1, 3, -1, -1)).mean(dim=1, keepdim=True)
        else:
            alpha = imresize(x[:, 3:], scale=self.scale).clamp_(0, 1)
            out = torch.cat([self._rgb(x[:, :3]), alpha], dim=1)
        out = out.to(out_dtype)
        return out.squeeze(0) if squeeze else out

    def _rgb(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        x = self._pad_to_requirements(x)
        card, s = self.card, self.scale
        if card.input_space == "y":
            ycc = rgb_to_ycbcr(x)
            y = ycc[:, :1]
            y_sr = self._checked(self._net(imresize(y, scale=s) if card.upsampling == "pre" else y), y)
            out = ycbcr_to_rgb(torch.cat([y_sr, imresize(ycc[:, 1:], scale=s)], dim=1))
        else:
            out = self._checked(self._net(imresize(x, scale=s) if card.upsampling == "pre" else x), x)
        return out[..., : h * s, : w * s].clamp(0, 1)

    def _net(self, x: torch.Tensor) -> torch.Tensor:
        if self._compiled is None and self.backend != "torch":  # unpickled (a DataLoader worker, a deepcopy): compile here
            self.set_runtime(self.backend, self.precision)
        return self.net(x) if self._compiled is None else self._compiled(x)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_compiled"] = None  # a runtime's compiled network does not pickle; it is compiled again (from the disk cache)
        return state

    def _checked(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``out`` when it is ``scale`` times the LR input ``x``; a network built or trained for another scale
        returns another size, which is named here instead of surfacing as a shape error further on."""
        s = self.scale
        if out.shape[-2:] != (x.shape[-2] * s, x.shape[-1] * s):
            raise ScaleMismatchError(
                f"{self.card.name} returned shape {tuple(out.shape)} for input {tuple(x.shape)} at x{s}; its weights "
                f"are for another scale: load the x{s} weights, or pass the scale the file was trained for"
            )
        return out

    def _pad_to_requirements(self, x: torch.Tensor) -> torch.Tensor:
        mult, min_size = self.card.size_multiple, self.card.min_size
        h, w = x.shape[-2:]
        th = max(min_size, -(-h // mult) * mult)
        tw = max(min_size, -(-w // mult) * mult)
        if (th, tw) == (h, w):
            return x
        # reflect needs pad < side; fall back to replicate for tiny inputs
        mode = "reflect" if th - h < h and tw - w < w else "replicate"
        return F.pad(x, (0, tw - w, 0, th - h), mode=mode)

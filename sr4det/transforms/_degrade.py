"""``Degrade``: the low-resolution version of an image and its targets, as a torchvision v1/v2 transform."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from ..errors import InputError, ScaleError
from . import functional as F
from ._base import ResamplingTransform

_METHODS: dict[str, Literal["cubic", "linear", "lanczos2", "lanczos3"]] = {
    "bicubic": "cubic",
    "bilinear": "linear",
    "lanczos": "lanczos3",
    "lanczos2": "lanczos2",
}


class Degrade(ResamplingTransform):
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
        preset: a named degradation (``"clean"``, ``"camera"``, ``"web"``, ``"video"``:
            :mod:`sr4det.degradation.presets`); ``blur_sigma``, ``noise_std`` and ``jpeg_quality``, when given,
            replace the preset's values. ``Degrade(4, preset="camera")`` makes the LR of ``compare --degradation
            camera`` byte for byte.

    **Mod-crop:** the image is first cropped at the bottom and right to ``(H - H % scale, W - W % scale)`` so
    that the LR image is exactly ``(H // scale, W // scale)`` and the LR grid aligns with the HR grid (an LR
    pixel covers exactly ``scale x scale`` HR pixels). Boxes, masks and keypoints are cropped the same way
    (boxes are clamped to the cropped canvas), then multiplied by ``1 / scale``. SR by the same factor
    therefore returns the mod-cropped HR size, and boxes map back with ``x scale``.

    For uint8 inputs without blur, noise or JPEG the result equals :func:`sr4det.resize.imresize_uint8` on the
    mod-cropped image (computed in float64, rounded like MATLAB). Images are degraded at their own depth
    (uint8, uint16 or float); tensors of a batch are degraded one by one.
    """

    _functional = staticmethod(F.degrade)

    def __init__(
        self,
        scale: int | float,
        method: str = "bicubic",
        blur_sigma: float | None = None,
        noise_std: float | None = None,
        jpeg_quality: int | None = None,
        seed: int | None = 0,
        channel_order: str = "rgb",
        preset: str | None = None,
    ):
        super().__init__(channel_order)
        from dataclasses import replace

        from ..degradation import with_preset

        if isinstance(scale, float) and scale.is_integer():
            scale = int(scale)
        if not isinstance(scale, (int, np.integer)) or isinstance(scale, bool) or scale < 1:
            raise ScaleError(f"Degrade needs a positive integer scale such as 2 or 4, got {scale!r}")
        if method not in _METHODS:
            raise InputError(f"method must be one of {sorted(_METHODS)}, got {method!r}")
        spec = with_preset(
            preset,
            int(scale),
            seed=int(seed) if isinstance(seed, np.integer) else seed,
            blur_sigma=None if blur_sigma is None else float(blur_sigma),
            noise_std=None if noise_std is None else float(noise_std),
            jpeg_quality=jpeg_quality,
        )
        self._set_spec(spec if _METHODS[method] == spec.kernel else replace(spec, kernel=_METHODS[method]))

    def _set_spec(self, spec: Any) -> None:
        methods = {v: k for k, v in _METHODS.items()}
        self.spec = spec
        self.scale = int(spec.scale)
        self.method = methods[spec.kernel]
        self.blur_sigma = spec.blur_sigma
        self.noise_std = spec.noise_std
        self.jpeg_quality = None if spec.jpeg_quality is None else int(spec.jpeg_quality)
        self.seed = spec.seed
        self.preset = spec.preset

    @classmethod
    def coerce(cls, degrade: Degrade | Any | int | None) -> Degrade | None:
        """A ``Degrade`` from a ``Degrade``, a :class:`~sr4det.degradation.DegradationSpec`, an int scale or None."""
        from ..degradation import DegradationSpec

        if isinstance(degrade, (int, np.integer)) and not isinstance(degrade, bool):
            return cls(int(degrade))
        if isinstance(degrade, DegradationSpec):
            return cls.from_spec(degrade)
        if degrade is not None and not isinstance(degrade, cls):
            raise InputError(f"degrade must be a Degrade, a DegradationSpec, an int scale or None, got {type(degrade).__name__}")
        return degrade

    @classmethod
    def from_spec(cls, spec: Any, channel_order: str = "rgb") -> Degrade:
        """The transform of a :class:`~sr4det.degradation.DegradationSpec` (e.g. ``compare``'s degradation): every
        step of the spec is kept (presets' shot noise, earlier JPEG and rescale included)."""
        out = cls(spec.scale, channel_order=channel_order)
        out._set_spec(spec)
        return out

    @property
    def config(self) -> dict[str, Any]:
        """The settings, for recording alongside results."""
        later = {k: v for k, v in self.spec.config().items() if k in ("shot_noise", "pre_jpeg_quality", "rescale", "preset")}
        return {
            "scale": self.scale,
            "method": self.method,
            "blur_sigma": self.blur_sigma,
            "noise_std": self.noise_std,
            "jpeg_quality": self.jpeg_quality,
            "seed": self.seed,
            **later,
        }

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """LR (H, W) for an HR image of ``(height, width)``."""
        return self.spec.output_size(height, width)

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if not self.is_selected(inpt, params):
            return inpt
        return F.degrade(inpt, self.spec, channel_order=self.channel_order)

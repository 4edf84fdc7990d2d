"""The compared conditions and the degradation that makes their low-resolution input.

* ``hr``: the (mod-cropped) original image; the upper bound.
* ``lr``: the degraded image given to the detector as is (the detector's own resize decides); its boxes are
  multiplied by ``scale`` into the HR frame.
* ``bicubic`` and one condition per SR model: LR upscaled x``scale`` back to the HR size.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InputError, ScaleError
from ..resize import imresize_uint8

RESERVED = ("hr", "lr")


@dataclass(frozen=True)
class Degradation:
    """HR uint8 RGB -> LR uint8 RGB, deterministic per image.

    Order: optional Gaussian blur (``blur_sigma`` HR pixels) -> MATLAB-compatible bicubic x1/``scale``
    (antialiased, computed in float and rounded to uint8 as a saved image would be) -> optional Gaussian
    noise (``noise_std`` in 0-255 units, seeded by ``seed`` and the image's key) -> optional JPEG
    (``jpeg_quality`` 1-100, OpenCV's encoder).
    """

    scale: int = 4
    kernel: str = "cubic"
    blur_sigma: float | None = None
    noise_std: float | None = None
    jpeg_quality: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if int(self.scale) < 1 or int(self.scale) != self.scale:
            raise ScaleError(f"scale must be a positive integer, got {self.scale}")
        if self.jpeg_quality is not None and not 1 <= int(self.jpeg_quality) <= 100:
            raise InputError(f"jpeg_quality must lie in 1..100, got {self.jpeg_quality}")
        for name in ("blur_sigma", "noise_std"):
            v = getattr(self, name)
            if v is not None and v < 0:
                raise InputError(f"{name} must be >= 0, got {v}")

    def config(self) -> dict[str, Any]:
        return asdict(self)

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.config(), sort_keys=True).encode()).hexdigest()[:16]

    def __call__(self, hr: np.ndarray, image_key: str = "") -> np.ndarray:
        """Degrade ``hr`` (uint8 (H, W, 3), sides multiples of ``scale``) to uint8 (H/scale, W/scale, 3)."""
        import cv2

        if hr.dtype != np.uint8 or hr.ndim != 3 or hr.shape[2] != 3:
            raise InputError(f"Degradation expects a uint8 (H, W, 3) RGB array, got {hr.dtype} {hr.shape}")
        if hr.shape[0] % self.scale or hr.shape[1] % self.scale:
            raise InputError(f"HR size {hr.shape[:2]} is not a multiple of the scale {self.scale}; mod-crop it first")
        img = hr
        if self.blur_sigma:
            img = cv2.GaussianBlur(img, (0, 0), sigmaX=float(self.blur_sigma), borderType=cv2.BORDER_REFLECT)
        lr = imresize_uint8(img, 1.0 / self.scale, kernel=self.kernel) if self.scale > 1 else img.copy()
        if self.noise_std:
            digest = hashlib.sha256(f"{self.seed}:{image_key}".encode()).digest()
            rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
            lr = np.clip(np.round(lr + rng.normal(0.0, float(self.noise_std), lr.shape)), 0, 255).astype(np.uint8)
        if self.jpeg_quality is not None:
            ok, buf = cv2.imencode(".jpg", lr[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(self.jpeg_quality)])
            lr = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
        return np.ascontiguousarray(lr)


@dataclass(frozen=True)
class SRSpec:
    """One SR condition: ``name`` in the results, and where the model comes from.

    ``source`` is a zoo name (``"bicubic"``, ``"espcn"``: pretrained weights unless the model has none) or a
    weight file (anything :func:`sr4det.load_model` reads).
    """

    name: str
    source: str

    @classmethod
    def parse(cls, text: str) -> SRSpec:
        """``"espcn"``, ``"path/to/CRAFT.pth"`` (named after the file stem) or ``"name=path"``."""
        text = text.strip()
        if not text:
            raise InputError("empty SR model spec")
        if "=" in text:
            name, source = (t.strip() for t in text.split("=", 1))
        else:
            source = text
            name = Path(text).stem if _looks_like_path(text) else text
        if name in RESERVED:
            raise InputError(f"SR condition name {name!r} is reserved (conditions 'hr' and 'lr' always exist)")
        return cls(name, source)

    def load(self, scale: int, device: str | torch.device | None = None):
        """The :class:`~sr4det.models.wrapper.SRModel` for this spec at ``scale``."""
        from ..models import resolve_model

        try:
            return resolve_model(self.source, scale, pretrained=True, device=device)
        except KeyError as exc:
            raise InputError(f"SR condition {self.name!r}: {exc.args[0]}") from None


def _looks_like_path(text: str) -> bool:
    p = Path(text).expanduser()
    return p.exists() or p.suffix.lower() in (".pth", ".pt", ".ckpt", ".safetensors", ".pb", ".bin") or "/" in text


def model_digest(model: torch.nn.Module) -> str:
    """sha256 of a model's class, scale, card name and every state-dict tensor (identifies its outputs)."""
    h = hashlib.sha256()
    card = getattr(model, "card", None)
    h.update(f"{type(model).__name__}:{getattr(model, 'scale', '')}:{getattr(card, 'name', '')}".encode())
    net = getattr(model, "net", model)
    h.update(type(net).__name__.encode())
    for k, v in model.state_dict().items():
        h.update(k.encode())
        t = v.detach().cpu().contiguous()
        h.update(str(t.dtype).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    # parameter-free models (bicubic ...) are told apart by their configuration
    for attr in ("kernel", "scale"):
        if hasattr(net, attr):
            h.update(f"{attr}={getattr(net, attr)}".encode())
    return h.hexdigest()


def tiler():
    """:func:`sr4det.tiling.upscale`, or None while that module does not exist."""
    try:
        from ..tiling import upscale
    except ModuleNotFoundError as exc:
        if exc.name not in ("sr4det.tiling",):
            raise
        return None
    return upscale


def run_sr(model, lr: np.ndarray, tile: str | int | None = "auto") -> tuple[np.ndarray, str]:
    """Upscale a uint8 (h, w, 3) image; returns (uint8 (sh, sw, 3), how) with how = ``"tiler"`` or ``"direct"``.

    Uses :func:`sr4det.tiling.upscale` (memory-aware tiling) when the module exists, else one direct call
    under ``torch.inference_mode``.
    """
    from ..data.io import from_tensor, to_tensor

    x = to_tensor(lr)
    upscale = tiler()
    if upscale is not None:
        y = upscale(model, x, tile=tile)
        how = "tiler"
    else:
        with torch.inference_mode():
            y = model(x.unsqueeze(0))[0]
        how = "direct"
    return from_tensor(y.float().cpu(), np.uint8), how

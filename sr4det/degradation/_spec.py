"""The degradation spec: one fixed, deterministic HR -> LR recipe (:class:`DegradationSpec`) and :func:`degrade`.

Every entry point that shrinks an image calls :func:`degrade` with a :class:`DegradationSpec`:
``sr4det.Degrade`` (torchvision transform), ``sr4det compare`` (the evaluator), ``sr4det materialize``, the
ultralytics hook, SR training pairs (``PairedPatches``, ``DetectionPatches``), the SR benchmark
(``sr4det evaluate-sr``) and ``sr4det mos create``. The same spec and the same pixels give the same bytes
everywhere. Named specs (``clean``, ``camera``, ``web``, ``video``) are in :mod:`sr4det.degradation.presets`.

Steps, in order (each optional step is off when its field is None or 0):

1. **mod-crop**: bottom/right rows and columns are cropped to ``(H - H % scale, W - W % scale)`` so the LR
   grid aligns with the HR grid (an LR pixel covers exactly ``scale x scale`` HR pixels).
2. **blur** (``blur_sigma``, HR pixels): OpenCV Gaussian blur with reflected borders, kernel side
   ``round(6 * sigma + 1) | 1``. uint8 images are blurred in 8 bits (OpenCV's bit-exact path, as the
   evaluator always did), deeper images in float64.
3. **shrink** x1/``scale`` with MATLAB-compatible ``imresize`` (:func:`sr4det.resize.imresize_uint8` for uint8;
   ``kernel`` ``"cubic"`` by default, antialiased), computed in float64 and rounded to the input's grid as a
   saved image would be (uint8/uint16: round half to even and clip; float: clip to [0, 1]).
4. **noise** (in 8-bit levels whatever the dtype), on the colour channels (not alpha), rounded and clipped once:
   ``noise_std`` additive Gaussian (read noise) plus ``shot_noise`` signal-dependent Gaussian noise whose std is
   ``shot_noise * sqrt(v / peak)`` at value ``v`` (photon shot noise: ``shot_noise`` is the std at white).
5. **earlier JPEG** (``pre_jpeg_quality`` 1-100): a first compression, as of an image saved before it was
   resized and saved again.
6. **rescale** (``rescale`` in (0, 1)): the LR image is shrunk to ``rescale`` of its size (OpenCV ``INTER_AREA``)
   and enlarged back (``INTER_LINEAR``), as by a site's thumbnail chain or a stream encoded below display size.
7. **JPEG** (``jpeg_quality`` 1-100): OpenCV's encoder (4:2:0 chroma) on the 8-bit colour channels, then
   decoded; alpha is kept as is.

**Noise seeds.** The noise of one image is drawn from ``numpy.random.default_rng(s)`` with
``s = int.from_bytes(sha256(f"{seed}:{key}")[:8], "little")``, where ``seed`` is the spec's seed and ``key`` is
:func:`pixel_key` of the mod-cropped image (sha256 of its dtype, shape and pixel bytes) unless the caller
passes another key. Noise is therefore a function of (seed, pixels): the same image gets the same noise in
every run, process, DataLoader worker and entry point, whatever its file name or the order images come in;
two different images get independent noise. ``seed=None`` draws ``s`` from torch's global generator instead
(fresh noise on every call, for augmentation; DataLoader seeds its workers).

With no blur, noise, rescale or JPEG the result of a uint8 image is exactly ``imresize_uint8(mod_crop(hr), 1/scale)``,
the SR-literature protocol (published tables and compare's cached results depend on it).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._unit_range import UNIT_RANGE_TOLERANCE
from ..errors import InputError, ScaleError

if TYPE_CHECKING:
    from ..resize import Kernel

_LATER_FIELDS = ("shot_noise", "pre_jpeg_quality", "rescale", "preset")
KERNELS = ("cubic", "linear", "lanczos2", "lanczos3")
NOISE_KEY = "sha256(seed:sha256(dtype,shape,pixels))"  # recorded in cache keys: the noise derivation's version


@dataclass(frozen=True)
class DegradationSpec:
    """What :func:`degrade` does to an HR image (see the module docstring for the steps and noise seeds).

    Args:
        scale: integer shrink factor (1 keeps the size and only blurs / adds noise / compresses).
        kernel: MATLAB ``imresize`` kernel: ``"cubic"`` (default), ``"linear"``, ``"lanczos2"``, ``"lanczos3"``.
        blur_sigma: Gaussian blur sigma in HR pixels before shrinking; None or 0: no blur.
        noise_std: Gaussian noise std in 8-bit levels after shrinking; None or 0: no noise.
        jpeg_quality: JPEG quality 1-100 applied last; None: no JPEG.
        seed: noise seed (int), or None for fresh noise on every call.
        shot_noise: signal-dependent noise, its std at white in 8-bit levels (``shot_noise * sqrt(v / peak)`` at
            value ``v``); None or 0: none.
        pre_jpeg_quality: quality of an earlier JPEG compression (before ``rescale`` and ``jpeg_quality``); None: none.
        rescale: shrink the LR image to this fraction of its size and enlarge it back (0 < rescale < 1); None: none.
        preset: the name of the preset this spec was made from (:func:`sr4det.degradation.preset`); recorded in
            :meth:`config`, not part of :meth:`key` (the pixels alone identify the LR images).
    """

    scale: int = 4
    kernel: Kernel = "cubic"
    blur_sigma: float | None = None
    noise_std: float | None = None
    jpeg_quality: int | None = None
    seed: int | None = 0
    shot_noise: float | None = None
    pre_jpeg_quality: int | None = None
    rescale: float | None = None
    preset: str | None = None

    def __post_init__(self) -> None:
        s = self.scale
        if isinstance(s, bool) or not isinstance(s, (int, np.integer, float)) or not float(s).is_integer() or s < 1:
            raise ScaleError(f"the degradation scale must be a positive integer such as 2 or 4, got {s!r}")
        if self.kernel not in KERNELS:
            raise InputError(f"kernel must be one of {list(KERNELS)}, got {self.kernel!r}")
        for name in ("blur_sigma", "noise_std", "shot_noise"):
            v = getattr(self, name)
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not math.isfinite(v) or v < 0
            ):
                raise InputError(f"{name} must be a finite number >= 0 or None (off), got {v!r}")
        for name in ("jpeg_quality", "pre_jpeg_quality"):
            q = getattr(self, name)
            if q is not None and (
                isinstance(q, bool)
                or not isinstance(q, (int, np.integer, float))
                or not float(q).is_integer()
                or not 1 <= q <= 100
            ):
                raise InputError(f"{name} must be an integer in 1..100 or None (no JPEG), got {q!r}")
        r = self.rescale
        if r is not None and (
            isinstance(r, bool) or not isinstance(r, (int, float, np.number)) or not math.isfinite(r) or not 0 < r < 1
        ):
            raise InputError(f"rescale must be a number in (0, 1) (the fraction the LR image is shrunk to) or None, got {r!r}")
        if self.preset is not None and not isinstance(self.preset, str):
            raise InputError(f"preset must be a preset name (text) or None, got {self.preset!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer))):
            raise InputError(f"seed must be an int or None, got {self.seed!r}")

    def config(self) -> dict[str, Any]:
        """The settings as a JSON-able dict (recorded beside results). Steps added after the first release
        (``shot_noise``, ``pre_jpeg_quality``, ``rescale``) and ``preset`` appear only when set, so the records and
        cache keys of specs without them are those of earlier versions."""
        cfg = asdict(self)
        for name in _LATER_FIELDS:
            if cfg[name] is None:
                del cfg[name]
        return cfg

    def key(self) -> str:
        """Short hash identifying the LR images this spec makes (cache keys; the preset name is not part of it)."""
        cfg = self.config()
        cfg.pop("preset", None)
        if self.noise_std or self.shot_noise:
            cfg["noise_key"] = NOISE_KEY
        return hashlib.sha256(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:16]

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """LR (h, w) for an HR image of ``(height, width)``."""
        s = int(self.scale)
        if height < s or width < s:
            raise InputError(f"image of {height}x{width} is smaller than the scale {s}; use a larger image or a smaller scale")
        return height // s, width // s

    def __call__(self, image: np.ndarray, image_key: str | None = None) -> np.ndarray:
        return degrade(image, self, image_key)


def pixel_key(image: np.ndarray) -> str:
    """sha256 (hex) of an array's dtype, shape and pixel bytes: the default per-image noise key."""
    h = hashlib.sha256()
    h.update(f"{image.dtype.str}:{tuple(image.shape)}:".encode())
    h.update(np.ascontiguousarray(image).tobytes())
    return h.hexdigest()


def noise_seed(seed: int, key: str) -> int:
    """The per-image noise seed: ``int.from_bytes(sha256(f"{seed}:{key}")[:8], "little")``."""
    return int.from_bytes(hashlib.sha256(f"{int(seed)}:{key}".encode()).digest()[:8], "little")


def _peak(dtype: np.dtype) -> float:
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    return 1.0


def _to_grid(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """float64 values in the dtype's range -> that dtype (integers rounded half to even and clipped)."""
    if np.issubdtype(dtype, np.integer):
        return np.clip(np.round(x), 0, _peak(dtype)).astype(dtype)
    return np.clip(x, 0.0, 1.0).astype(dtype)


def degrade(image: np.ndarray, spec: DegradationSpec, image_key: str | None = None) -> np.ndarray:
    """HR image -> LR image (see the module docstring).

    Args:
        image: (H, W) gray or (H, W, C) with C in 1, 3 (RGB), 4 (RGBA); uint8, uint16 or float in [0, 1].
        spec: the degradation.
        image_key: the noise key of this image (default: :func:`pixel_key` of the mod-cropped image).

    Returns:
        ``(H // scale, W // scale[, C])`` array of the input's dtype.

    Raises:
        InputError: not an array; another dtype, shape or channel count; float pixels that are NaN/Inf or outside
            [0, 1] (a 1e-3 overshoot is tolerated); an image smaller than the scale.
    """
    import cv2
    import torch

    from ..resize import imresize, imresize_uint8

    if not isinstance(image, np.ndarray):
        raise InputError(f"degrade expects a numpy array (H, W[, C]), got {type(image).__name__}")
    if image.dtype == np.float16:
        image = image.astype(np.float32)
    if image.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise InputError(f"degrade: dtype {image.dtype} is not supported; use uint8, uint16 or float in [0, 1]")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise InputError(f"degrade expects (H, W) or (H, W, C) with 1, 3 or 4 channels, got shape {image.shape}")
    if image.dtype.kind == "f":
        _check_float_range(image)
    s = int(spec.scale)
    lh, lw = spec.output_size(*image.shape[:2])
    img = np.ascontiguousarray(image[: lh * s, : lw * s])
    dtype, peak = img.dtype, _peak(img.dtype)
    noisy_spec = bool(spec.noise_std or spec.shot_noise)
    key = pixel_key(img) if image_key is None and noisy_spec and spec.seed is not None else image_key

    if spec.blur_sigma:
        sigma = float(spec.blur_sigma)
        if dtype == np.uint8:
            img = cv2.GaussianBlur(img, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT)
        else:
            k = int(round(sigma * 6 + 1)) | 1  # the side OpenCV picks for 8-bit images
            img = cv2.GaussianBlur(img.astype(np.float64), (k, k), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
        if img.ndim == 2 and image.ndim == 3:
            img = img[..., None]  # OpenCV drops a single channel axis
    if s == 1:
        lr = img.copy() if img.dtype == dtype else _to_grid(img, dtype)
    elif dtype == np.uint8:
        lr = imresize_uint8(img, 1.0 / s, kernel=spec.kernel)
    else:
        t = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float64))
        t = t.permute(2, 0, 1) if t.ndim == 3 else t
        out = imresize(t, scale=1.0 / s, kernel=spec.kernel)
        out = out.permute(1, 2, 0) if t.ndim == 3 else out
        lr = _to_grid(out.numpy(), dtype)

    colour = lr.shape[2] if lr.ndim == 3 and lr.shape[2] != 4 else 3 if lr.ndim == 3 else None
    if spec.noise_std or spec.shot_noise:
        if spec.seed is None:
            rng = np.random.default_rng(int(torch.randint(0, 2**63 - 1, (1,)).item()))
        else:
            assert key is not None  # set above whenever the noise is seeded
            rng = np.random.default_rng(noise_seed(spec.seed, key))
        part = lr if colour is None else lr[..., :colour]
        values = part.astype(np.float64)
        level = peak / 255.0  # one 8-bit level in the image's units
        noisy = values
        if spec.noise_std:  # drawn first, as before shot noise existed: Gaussian-only specs keep their bytes
            z = rng.standard_normal(part.shape)
            noisy = noisy + (z * float(spec.noise_std) if peak == 255.0 else z * (float(spec.noise_std) * peak / 255.0))
        if spec.shot_noise:
            std = float(spec.shot_noise) * level * np.sqrt(np.clip(values, 0.0, None) / peak)
            noisy = noisy + rng.standard_normal(part.shape) * std
        noisy = _to_grid(noisy, dtype)
        if colour is None or colour == lr.shape[2]:
            lr = noisy
        else:
            lr = np.concatenate([noisy, lr[..., colour:]], axis=2)
    if spec.pre_jpeg_quality is not None:
        lr = _jpeg(lr, int(spec.pre_jpeg_quality), peak, colour)
    if spec.rescale is not None:
        lr = _rescale(lr, float(spec.rescale))
    if spec.jpeg_quality is not None:
        lr = _jpeg(lr, int(spec.jpeg_quality), peak, colour)
    return np.ascontiguousarray(lr)


def _rescale(lr: np.ndarray, factor: float) -> np.ndarray:
    """Shrink to ``factor`` of the size (area averaging) and enlarge back (bilinear): detail below the smaller
    grid is lost, the size is kept. Values stay on the input's grid (integers rounded by OpenCV)."""
    import cv2

    h, w = lr.shape[:2]
    small = (max(1, round(w * factor)), max(1, round(h * factor)))
    work = lr if lr.dtype != np.float64 else lr.astype(np.float32)
    out = cv2.resize(cv2.resize(work, small, interpolation=cv2.INTER_AREA), (w, h), interpolation=cv2.INTER_LINEAR)
    if out.ndim == 2 and lr.ndim == 3:
        out = out[..., None]
    return out.astype(lr.dtype)


def _check_float_range(image: np.ndarray) -> None:
    """Float images must be finite and in [0, 1]: the shrink would clip anything else silently (NaN even spreads)."""
    finite = np.isfinite(image)
    if not finite.all():
        raise InputError(
            f"degrade: the image has {int((~finite).sum())} NaN/Inf values (shape {image.shape}); clean it first, "
            "e.g. np.nan_to_num(x, nan=0.0).clip(0, 1)"
        )
    if image.size:
        lo, hi = float(image.min()), float(image.max())
        if lo < -UNIT_RANGE_TOLERANCE or hi > 1 + UNIT_RANGE_TOLERANCE:
            hint = " (it looks like 0-255 data: divide by 255, or pass uint8)" if hi > 2 else ""
            raise InputError(f"degrade: float image values must lie in [0, 1], got [{lo:.4g}, {hi:.4g}]{hint}")


def _jpeg(lr: np.ndarray, quality: int, peak: float, colour: int | None) -> np.ndarray:
    """JPEG round trip (OpenCV, 8-bit) of the colour channels; alpha kept."""
    import cv2

    part = lr if colour is None else lr[..., :colour]
    u8 = part if lr.dtype == np.uint8 else np.clip(np.round(part.astype(np.float64) / peak * 255.0), 0, 255).astype(np.uint8)
    if u8.ndim == 3 and u8.shape[2] == 3:
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(u8[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
        dec = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
        if dec is not None:
            dec = dec[..., ::-1]
    else:
        gray = u8 if u8.ndim == 2 else u8[..., 0]
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(gray), [cv2.IMWRITE_JPEG_QUALITY, quality])
        dec = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else None
        if dec is not None and u8.ndim == 3:
            dec = dec[..., None]
    if dec is None:
        raise InputError(f"JPEG encoding of a {lr.dtype} {lr.shape} image failed")
    if lr.dtype == np.uint8:
        out = np.ascontiguousarray(dec)
    elif np.issubdtype(lr.dtype, np.integer):
        out = np.round(dec.astype(np.float64) / 255.0 * peak).astype(lr.dtype)
    else:
        out = (dec.astype(np.float64) / 255.0).astype(lr.dtype)
    if colour is not None and colour != lr.shape[2]:
        out = np.concatenate([out, lr[..., colour:]], axis=2)
    return out

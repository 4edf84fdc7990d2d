"""Random degradations for training: a seeded sampler of blur, resize, noise and JPEG chains (Real-ESRGAN style).

A network trained on clean bicubic pairs sharpens the noise and JPEG blocks of real low-resolution images into false
edges; one trained on many random degradations learns to remove them. :class:`RandomDegradation` draws, per image,
one of three recipes:

* **clean** (probability ``p_clean``): MATLAB bicubic x1/scale, the evaluation protocol, so that clean input is not
  forgotten;
* **first order** (``p_first_order``): one camera-like pass: blur -> shrink to the LR size (MATLAB cubic, area,
  bilinear or bicubic) -> noise -> JPEG;
* **second order** (the rest; Wang et al., "Real-ESRGAN", ICCVW 2021, §3.2): two passes of blur -> resize -> noise
  (-> JPEG), then the final resize to the LR size with an optional sinc (ringing) filter and a last JPEG, in random
  order.

Blur kernels are isotropic or anisotropic Gaussians (rotated), generalised Gaussians (plateau or heavy-tailed,
``exp(-0.5 * q^beta)``) or circular sinc low-passes; noise is Gaussian or Poisson (shot) noise, in colour or grey.
Ranges follow Real-ESRGAN's x4 settings, narrowed towards camera-like input (first-stage Gaussian noise 1-20 8-bit
levels instead of 1-30, JPEG 30/40-95) and with blur widths proportional to the scale (Real-ESRGAN's at x4). They
were fixed before any evaluation and are recorded by :meth:`RandomDegradation.config` in the weights' card.

The sampler is a pure function of ``(image, rng)``: the same generator state gives the same LR bytes, so training
with it is reproducible and resumable (the trainer checkpoints its generator).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..errors import InputError, ScaleError

_MODES = ("area", "bilinear", "bicubic")
_KERNEL_TYPES = ("iso", "aniso", "generalized", "sinc")


@dataclass(frozen=True)
class RandomDegradation:
    """A seeded random degradation sampler (see the module docstring); uint8 RGB HR in, uint8 LR out.

    Args:
        scale: integer shrink factor; the LR image is exactly ``(H // scale, W // scale)``.
        p_clean: probability of the clean MATLAB-bicubic recipe.
        p_first_order: probability of a single camera-like pass; the rest is second order.
        blur_sigma, blur_sigma2: first/second-stage blur sigma ranges in HR pixels at x4 (scaled by ``scale / 4``).
        noise_std, noise_std2: Gaussian noise std ranges (8-bit levels) of the two stages.
        poisson, poisson2: Poisson noise scale ranges of the two stages (1 = the noise of 255 photons at white).
        jpeg, jpeg2: JPEG quality ranges of the first stage and of the final compression.
    """

    scale: int = 4
    p_clean: float = 0.15
    p_first_order: float = 0.35
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    blur_sigma2: tuple[float, float] = (0.2, 1.5)
    noise_std: tuple[float, float] = (1.0, 20.0)
    noise_std2: tuple[float, float] = (1.0, 15.0)
    poisson: tuple[float, float] = (0.05, 2.5)
    poisson2: tuple[float, float] = (0.05, 2.0)
    jpeg: tuple[int, int] = (40, 95)
    jpeg2: tuple[int, int] = (30, 95)

    def __post_init__(self) -> None:
        s = self.scale
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1:
            raise ScaleError(f"the degradation scale must be a positive integer such as 2 or 4, got {s!r}")
        if not (0 <= self.p_clean <= 1 and 0 <= self.p_first_order <= 1 and self.p_clean + self.p_first_order <= 1):
            raise InputError(
                f"p_clean ({self.p_clean}) and p_first_order ({self.p_first_order}) must be probabilities summing to <= 1"
            )
        for name in ("blur_sigma", "blur_sigma2", "noise_std", "noise_std2", "poisson", "poisson2", "jpeg", "jpeg2"):
            lo, hi = getattr(self, name)
            if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo <= hi):
                raise InputError(f"{name} must be a range (low, high) with 0 <= low <= high, got {(lo, hi)}")
        for name in ("jpeg", "jpeg2"):
            lo, hi = getattr(self, name)
            if not 1 <= lo <= hi <= 100:
                raise InputError(f"{name} must be a JPEG quality range within 1..100, got {(lo, hi)}")

    def config(self) -> dict[str, Any]:
        """JSON-able settings (recorded in training configs and model cards)."""
        return {"type": "random", **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}}

    def describe(self) -> str:
        """One line for a model card's ``degradations`` field."""
        return (
            f"random (Real-ESRGAN-style, x{self.scale}): {self.p_clean:.0%} clean bicubic, {self.p_first_order:.0%} "
            f"one pass, {1 - self.p_clean - self.p_first_order:.0%} two passes; Gaussian/generalised/sinc blur "
            f"sigma {self.blur_sigma[0]:g}-{self.blur_sigma[1]:g} (x4 HR px), Gaussian noise {self.noise_std[0]:g}-"
            f"{self.noise_std[1]:g} or Poisson, JPEG {self.jpeg2[0]}-{self.jpeg[1]}"
        )

    def sample(self, rng: np.random.Generator) -> list[dict[str, Any]]:
        """Draw one recipe: a list of steps (JSON-able dicts) that :meth:`apply` runs."""
        u = rng.random()
        if u < self.p_clean:
            return [{"op": "shrink", "mode": "matlab"}]
        f = self.scale / 4.0
        steps: list[dict[str, Any]] = []
        if u < self.p_clean + self.p_first_order:
            if rng.random() < 0.8:
                steps.append(_blur_step(rng, self.blur_sigma, f))
            steps.append({"op": "shrink", "mode": str(rng.choice(("matlab", *_MODES)))})
            if rng.random() < 0.7:
                steps.append(_noise_step(rng, self.noise_std2, self.poisson2))
            if rng.random() < 0.8:
                steps.append({"op": "jpeg", "quality": int(rng.integers(self.jpeg2[0], self.jpeg2[1] + 1))})
            return steps
        # second order: stage 1 on the HR grid, stage 2, then the final resize and JPEG in random order
        steps.append(_blur_step(rng, self.blur_sigma, f))
        steps.append(_resize_step(rng, (0.3, 1.5), (0.2, 0.6, 0.2)))
        steps.append(_noise_step(rng, self.noise_std, self.poisson))
        steps.append({"op": "jpeg", "quality": int(rng.integers(self.jpeg[0], self.jpeg[1] + 1))})
        if rng.random() < 0.8:
            steps.append(_blur_step(rng, self.blur_sigma2, f))
        steps.append(_resize_step(rng, (0.3, 1.2), (0.3, 0.4, 0.3)))
        steps.append(_noise_step(rng, self.noise_std2, self.poisson2))
        final = [{"op": "shrink", "mode": str(rng.choice(_MODES))}]
        if rng.random() < 0.2:
            final.append(_sinc_step(rng))
        jpeg = [{"op": "jpeg", "quality": int(rng.integers(self.jpeg2[0], self.jpeg2[1] + 1))}]
        steps += final + jpeg if rng.random() < 0.5 else jpeg + final
        return steps

    def apply(self, hr: np.ndarray, steps: list[dict[str, Any]], rng: np.random.Generator) -> np.ndarray:
        """Run a recipe of :meth:`sample` on ``hr`` (uint8 (H, W, 3), H and W multiples of ``scale``); noise is
        drawn from ``rng``. Returns uint8 ``(H // scale, W // scale, 3)``."""
        if not isinstance(hr, np.ndarray) or hr.dtype != np.uint8 or hr.ndim != 3 or hr.shape[2] != 3:
            got = f"{hr.dtype} {hr.shape}" if isinstance(hr, np.ndarray) else type(hr).__name__
            raise InputError(f"RandomDegradation expects a uint8 RGB array (H, W, 3), got {got}")
        s = int(self.scale)
        h, w = hr.shape[0] // s, hr.shape[1] // s
        if h < 1 or w < 1:
            raise InputError(f"image of {hr.shape[1]}x{hr.shape[0]} is smaller than the scale {s}")
        x: np.ndarray = np.ascontiguousarray(hr[: h * s, : w * s])
        for step in steps:
            x = _run(step, x, (h, w), rng)
        if x.shape[:2] != (h, w):  # recipes always end at the LR size; this guards hand-written ones
            x = _resize(x, (h, w), "area")
        return _to_uint8(x)

    def __call__(self, hr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Sample a recipe and run it: uint8 (H, W, 3) -> uint8 (H // scale, W // scale, 3)."""
        return self.apply(hr, self.sample(rng), rng)


# ------------------------------------------------------------------------------------------------ steps


def _blur_step(rng: np.random.Generator, sigma: tuple[float, float], f: float) -> dict[str, Any]:
    kind = str(rng.choice(_KERNEL_TYPES, p=(0.45, 0.25, 0.2, 0.1)))
    if kind == "sinc":
        return _sinc_step(rng)
    lo, hi = sigma[0] * f, sigma[1] * f
    sx = float(rng.uniform(lo, hi))
    sy = sx if kind == "iso" else float(rng.uniform(lo, hi))
    step = {"op": "blur", "kind": kind, "sigma": [sx, sy], "theta": float(rng.uniform(0, math.pi))}
    if kind == "generalized":
        step["beta"] = float(rng.uniform(0.5, 1.0) if rng.random() < 0.5 else rng.uniform(1.0, 4.0))
    step["size"] = int(2 * math.ceil(3 * max(sx, sy, 0.5)) + 1)
    return step


def _sinc_step(rng: np.random.Generator) -> dict[str, Any]:
    size = int(rng.choice(np.arange(7, 22, 2)))
    omega = float(rng.uniform(math.pi / 3, math.pi) if size < 13 else rng.uniform(math.pi / 5, math.pi))
    return {"op": "sinc", "omega": omega, "size": size}


def _resize_step(rng: np.random.Generator, span: tuple[float, float], p_up_down_keep: tuple[float, ...]) -> dict[str, Any]:
    way = int(rng.choice(3, p=p_up_down_keep))
    factor = float(rng.uniform(1.0, span[1])) if way == 0 else float(rng.uniform(span[0], 1.0)) if way == 1 else 1.0
    return {"op": "resize", "factor": factor, "mode": str(rng.choice(_MODES))}


def _noise_step(rng: np.random.Generator, std: tuple[float, float], poisson: tuple[float, float]) -> dict[str, Any]:
    gray = bool(rng.random() < 0.4)
    if rng.random() < 0.5:
        return {"op": "noise", "kind": "gaussian", "std": float(rng.uniform(*std)), "gray": gray}
    return {"op": "noise", "kind": "poisson", "scale": float(rng.uniform(*poisson)), "gray": gray}


def _run(step: dict[str, Any], x: np.ndarray, lr_size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    import cv2

    op = step["op"]
    if op == "shrink":
        h, w = x.shape[:2]
        s = h // lr_size[0]
        if step["mode"] == "matlab" and (h, w) == (lr_size[0] * s, lr_size[1] * s):
            from ..resize import imresize_uint8

            return imresize_uint8(_to_uint8(x), 1.0 / s)  # bit-identical to DegradationSpec(scale)'s clean LR
        return _resize(x, lr_size, "area" if step["mode"] == "matlab" else step["mode"])
    if op == "resize":
        h, w = x.shape[:2]
        size = (max(1, round(h * step["factor"])), max(1, round(w * step["factor"])))
        return x if size == (h, w) else _resize(x, size, step["mode"])
    if op in ("blur", "sinc"):
        k = _sinc_kernel(step["omega"], step["size"]) if op == "sinc" else _gauss_kernel(step)
        return cv2.filter2D(x.astype(np.float32), -1, k, borderType=cv2.BORDER_REFLECT_101)
    if op == "noise":
        xf = x.astype(np.float32)
        shape = xf.shape[:2] + (1,) if step["gray"] else xf.shape
        if step["kind"] == "gaussian":
            noise = rng.standard_normal(shape).astype(np.float32) * step["std"]
        else:  # Poisson: photon counts of 255 / scale^2 at white (scale 1: 255 photons)
            lam = np.clip(xf if not step["gray"] else xf.mean(axis=2, keepdims=True), 0, 255) / (step["scale"] ** 2)
            noise = (rng.poisson(lam).astype(np.float32) - lam) * (step["scale"] ** 2)
        return xf + noise
    if op == "jpeg":
        u8 = _to_uint8(x)
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(u8[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(step["quality"])])
        dec = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
        if dec is None:
            raise InputError(f"JPEG encoding of a {u8.shape} image failed")
        return dec[..., ::-1]
    raise InputError(f"unknown degradation step {op!r}")


def _resize(x: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    import cv2

    flag = {"area": cv2.INTER_AREA, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}[mode]
    return cv2.resize(x.astype(np.float32), (size[1], size[0]), interpolation=flag)


def _gauss_kernel(step: dict[str, Any]) -> np.ndarray:
    """Rotated anisotropic (generalised) Gaussian, normalised to sum 1."""
    size, (sx, sy), theta = int(step["size"]), step["sigma"], step["theta"]
    r = np.arange(size, dtype=np.float64) - size // 2
    xx, yy = np.meshgrid(r, r)
    c, s = math.cos(theta), math.sin(theta)
    u, v = c * xx + s * yy, -s * xx + c * yy
    q = (u / max(sx, 1e-3)) ** 2 + (v / max(sy, 1e-3)) ** 2
    k = np.exp(-0.5 * q ** step.get("beta", 1.0))
    return (k / k.sum()).astype(np.float32)


def _bessel_j1(x: np.ndarray) -> np.ndarray:
    """J1 by its integral form, (1/pi) * integral_0^pi cos(t - x sin t) dt (Simpson, 129 points): < 1e-9 off here."""
    t = np.linspace(0.0, math.pi, 129)
    wts = np.ones_like(t)
    wts[1:-1:2], wts[2:-1:2] = 4.0, 2.0
    vals = np.cos(t[None, :] - x.reshape(-1, 1) * np.sin(t)[None, :])
    return ((vals * wts).sum(axis=1) * (t[1] - t[0]) / 3.0 / math.pi).reshape(x.shape)


def _sinc_kernel(omega: float, size: int) -> np.ndarray:
    """Circular low-pass (2-D sinc) with cut-off ``omega`` (radians per pixel), normalised to sum 1."""
    r = np.arange(size, dtype=np.float64) - size // 2
    xx, yy = np.meshgrid(r, r)
    d = np.hypot(xx, yy)
    k = np.empty_like(d)
    nz = d > 0
    k[nz] = omega * _bessel_j1(omega * d[nz]) / (2 * math.pi * d[nz])
    k[~nz] = omega**2 / (4 * math.pi)
    return (k / k.sum()).astype(np.float32)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return x if x.dtype == np.uint8 else np.clip(np.round(x), 0, 255).astype(np.uint8)

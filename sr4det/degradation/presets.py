"""Named degradations: what a low-resolution image from a real source looks like, as fixed, deterministic specs.

Each preset is a :class:`~sr4det.degradation.DegradationSpec` at a given scale (blur widths grow with the scale: an
optical blur is a fraction of an LR pixel, i.e. ``k * scale`` HR pixels). The same preset, scale, seed and pixels
give the same LR bytes from every entry point (``compare --degradation``, ``materialize``, ``Degrade``,
``evaluate-sr``, ``mos create``, training pairs).

=========  ==========================================================================================================
name       recipe (HR pixels for blur, 8-bit levels for noise)
=========  ==========================================================================================================
clean      MATLAB bicubic x1/scale only: the SR literature's protocol (the default everywhere)
camera     optics + sensor + in-camera JPEG: Gaussian blur 0.3*scale, read noise 3, shot noise 5 (std at white), JPEG 70
web        a photo saved, resized and saved again: blur 0.25*scale, JPEG 60, thumbnail rescale 0.75, JPEG 50
video      a frame of a low-bitrate stream: blur 0.3*scale, read noise 2, encoded at half size (rescale 0.5), JPEG 30
           (intra-frame compression only: JPEG stands in for the codec's I-frames; no motion)
=========  ==========================================================================================================

These are evaluation conditions, not training targets: the robust shipped SR is trained on
:class:`~sr4det.degradation.RandomDegradation`, whose ranges were fixed without looking at these presets' scores.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._suggest import did_you_mean
from ..errors import InputError
from ._spec import DegradationSpec

_PRESETS: dict[str, tuple[str, Callable[[int], dict[str, Any]]]] = {
    "clean": ("MATLAB bicubic x1/scale only (the SR literature's protocol)", lambda s: {}),
    "camera": (
        "optical blur 0.3*scale + read noise 3 + shot noise 5 + JPEG 70",
        lambda s: {"blur_sigma": 0.3 * s, "noise_std": 3.0, "shot_noise": 5.0, "jpeg_quality": 70},
    ),
    "web": (
        "blur 0.25*scale + JPEG 60, rescaled 0.75 and back, JPEG 50",
        lambda s: {"blur_sigma": 0.25 * s, "pre_jpeg_quality": 60, "rescale": 0.75, "jpeg_quality": 50},
    ),
    "video": (
        "blur 0.3*scale + read noise 2, encoded at half size (rescale 0.5), JPEG 30",
        lambda s: {"blur_sigma": 0.3 * s, "noise_std": 2.0, "rescale": 0.5, "jpeg_quality": 30},
    ),
}


def list_presets() -> list[str]:
    """The preset names, e.g. ``['clean', 'camera', 'web', 'video']``."""
    return list(_PRESETS)


def describe_preset(name: str) -> str:
    """One line saying what the preset does."""
    return _PRESETS[_checked(name)][0]


def preset(name: str, scale: int = 4, *, seed: int | None = 0) -> DegradationSpec:
    """The :class:`DegradationSpec` of a named preset at ``scale`` (noise ``seed`` as in the spec).

    Raises:
        InputError: an unknown name (the message lists the names).
    """
    name = _checked(name)
    DegradationSpec(scale=scale)  # a bad scale is a ScaleError before the recipe uses it
    fields = _PRESETS[name][1](int(scale))
    return DegradationSpec(scale=scale, seed=seed, preset=name, **fields)


def with_preset(name: str | None, scale: int, *, seed: int | None = 0, **overrides: Any) -> DegradationSpec:
    """A preset (or ``clean`` for None) with fields given explicitly (not None) replacing the preset's values: the
    rule of every command that takes ``--degradation`` beside ``--blur-sigma`` / ``--noise-std`` / ``--jpeg-quality``.
    A spec with overrides keeps no preset name (it is not that preset any more)."""
    base = preset(name or "clean", scale, seed=seed)
    given = {k: v for k, v in overrides.items() if v is not None}
    if not given:
        return base if name else DegradationSpec(scale=scale, seed=seed)
    fields = {**base.config(), **given, "preset": None}
    fields.pop("scale", None), fields.pop("seed", None)
    return DegradationSpec(scale=scale, seed=seed, **fields)


def _checked(name: object) -> str:
    if not isinstance(name, str) or name not in _PRESETS:
        hint = did_you_mean(str(name), _PRESETS) if isinstance(name, str) else ""
        raise InputError(f"unknown degradation preset {name!r}{hint}; choose one of {list(_PRESETS)}")
    return name

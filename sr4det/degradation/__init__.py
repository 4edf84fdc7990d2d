"""The one degradation module: how sr4det makes every low-resolution image.

* :class:`DegradationSpec` and :func:`degrade` (:mod:`._spec`): one fixed, deterministic HR -> LR recipe (blur,
  MATLAB-bicubic shrink, noise, JPEG ...). Every entry point that shrinks an image uses it: ``sr4det.Degrade``,
  ``sr4det compare``, ``sr4det materialize``, the ultralytics hook, SR training pairs, ``sr4det evaluate-sr`` and
  ``sr4det mos create``; the same spec and pixels give the same bytes everywhere.
* :func:`preset` (:mod:`.presets`): named specs that look like real sources: ``clean`` (the default), ``camera``,
  ``web``, ``video``.
* :class:`RandomDegradation` (:mod:`.random`): a seeded sampler of random blur / resize / noise / JPEG chains for
  training SR that survives real input.
"""

from ._spec import KERNELS, NOISE_KEY, DegradationSpec, degrade, noise_seed, pixel_key
from .presets import describe_preset, list_presets, preset, with_preset
from .random import RandomDegradation

__all__ = [
    "KERNELS",
    "NOISE_KEY",
    "DegradationSpec",
    "RandomDegradation",
    "degrade",
    "describe_preset",
    "list_presets",
    "noise_seed",
    "pixel_key",
    "preset",
    "with_preset",
]

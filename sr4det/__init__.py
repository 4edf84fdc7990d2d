"""sr4det: super-resolution in front of object detectors, and an honest measure of what it buys.

Public API (everything else is internal)::

    import sr4det
    model = sr4det.create_model("espcn", scale=4, pretrained=True)   # SRModel
    sr = sr4det.upscale(model, image, tile="auto")                    # memory-aware tiling
    t = sr4det.SRTransform(model)                                     # torchvision v1/v2 transform
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    ArchitectureMismatchError,
    DataError,
    DetectorError,
    InputError,
    MissingDependencyError,
    OutputExistsError,
    ScaleError,
    SR4DetError,
    TileOOMError,
    UnknownModelError,
    WeightsError,
    WeightsNotAvailableError,
)
from .models import ModelCard, SRModel, create_model, get_card, list_models, load_model, register_model, resolve_model

# heavier parts load on first use so `import sr4det` stays fast
_LAZY = {
    "upscale": ("sr4det.tiling", "upscale"),
    "SRTransform": ("sr4det.transforms", "SRTransform"),
    "Degrade": ("sr4det.transforms", "Degrade"),
    "DegradationSpec": ("sr4det.degradation", "DegradationSpec"),
    "degrade": ("sr4det.degradation", "degrade"),
}

if TYPE_CHECKING:
    from .degradation import DegradationSpec, degrade
    from .tiling import upscale
    from .transforms import Degrade, SRTransform


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'sr4det' has no attribute {name!r}")


__all__ = [
    "ArchitectureMismatchError",
    "DataError",
    "Degrade",
    "DegradationSpec",
    "DetectorError",
    "InputError",
    "MissingDependencyError",
    "ModelCard",
    "OutputExistsError",
    "SR4DetError",
    "SRModel",
    "SRTransform",
    "ScaleError",
    "TileOOMError",
    "UnknownModelError",
    "WeightsError",
    "WeightsNotAvailableError",
    "__version__",
    "create_model",
    "degrade",
    "get_card",
    "list_models",
    "load_model",
    "register_model",
    "resolve_model",
    "upscale",
]

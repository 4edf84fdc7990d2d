"""The SR model zoo: architectures, registry, the ``SRModel`` contract and weight loading.

Layered like timm: :mod:`.registry` (names -> builders and cards, pure), :mod:`.weights` (weight-file I/O),
:mod:`.thirdparty` (spandrel, OpenCV), :mod:`.factory` (``create_model`` / ``load_model`` / ``resolve_model``).
"""

from . import carn, edsr, espcn, fsrcnn, imdn, interpolate, pan, rfdn, rrdbnet, srcnn, srresnet, vdsr  # noqa: F401 - registers architectures
from .card import ModelCard, PublishedWeights
from .factory import create_model, load_model, resolve_model
from .registry import build_network, detect_architecture, get_card, list_models, register_model
from .srresnet import SRGANDiscriminator
from .weights import read_weights, save_weights
from .wrapper import SRModel, validate_image_tensor

__all__ = [
    "ModelCard",
    "PublishedWeights",
    "SRModel",
    "SRGANDiscriminator",
    "build_network",
    "create_model",
    "detect_architecture",
    "get_card",
    "list_models",
    "load_model",
    "read_weights",
    "register_model",
    "resolve_model",
    "save_weights",
    "validate_image_tensor",
]

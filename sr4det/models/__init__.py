"""The SR model zoo: architectures, registry, the ``SRModel`` contract and weight loading."""

from . import carn, edsr, espcn, fsrcnn, imdn, interpolate, pan, rfdn, rrdbnet, srcnn, srresnet, vdsr  # noqa: F401 - registers architectures
from .card import ModelCard, PublishedWeights
from .loading import load_model, read_weights, save_weights
from .registry import build_network, create_model, detect_architecture, get_card, list_models, register_model, resolve_model
from .srresnet import SRGANDiscriminator
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

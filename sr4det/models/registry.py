"""The model registry: names -> builders and cards. Pure: no file I/O, no weights.

Architectures register a builder and a :class:`ModelCard` (which also *declares* their shipped and published
weights); :mod:`sr4det.models.factory` builds models from it (:func:`~sr4det.models.factory.create_model`).
Modelled on timm's registry: one decorator per architecture file, no if/elif chains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .._suggest import did_you_mean
from ..errors import InputError, ScaleError, UnknownModelError
from ._detect import Detected
from .card import ModelCard

Factory = Callable[..., nn.Module]
Detector = Callable[[dict[str, torch.Tensor]], "Detected | None"]


@dataclass(frozen=True)
class _Entry:
    factory: Factory
    card: ModelCard
    default_kwargs: dict[str, Any]
    detect: Detector | None = None


_REGISTRY: dict[str, _Entry] = {}


def register_model(card: ModelCard, *, detect: Detector | None = None, **default_kwargs: Any) -> Callable[[Factory], Factory]:
    """Register ``factory(scale=..., **kwargs) -> nn.Module`` under ``card.name``.

    ``default_kwargs`` let one factory register several variants (e.g. FSRCNN and FSRCNN-s).
    ``detect(state_dict)`` recognises a plain (third-party) state dict of this architecture by its keys
    (see :mod:`sr4det.models._detect`), so :func:`~sr4det.load_model` needs no ``arch=`` for it.
    The returned network maps the model's *network input* (see :class:`~sr4det.models.wrapper.SRModel`)
    to its output and may expose ``receptive_field`` (LR pixels) for exact tiling.
    """

    def decorator(factory: Factory) -> Factory:
        if card.name in _REGISTRY:
            raise ValueError(f"model {card.name!r} is already registered")
        _REGISTRY[card.name] = _Entry(factory, card, dict(default_kwargs), detect)
        return factory

    return decorator


def list_models(pattern: str | None = None, pretrained: bool = False) -> list[str]:
    """Sorted names of registered models, optionally filtered by a ``fnmatch`` pattern (``"*rcnn*"``).

    ``pretrained=True`` keeps only the models whose card declares weights, shipped or published
    (:attr:`ModelCard.pretrained_scales`); interpolation baselines have none to declare.
    """
    names = sorted(n for n, e in _REGISTRY.items() if not pretrained or e.card.pretrained_scales)
    if pattern:
        import fnmatch

        names = [n for n in names if fnmatch.fnmatch(n, pattern)]
    return names


def get_card(name: str) -> ModelCard:
    """The static card of a registered architecture."""
    return _entry(name).card


def detect_architecture(state_dict: dict[str, torch.Tensor]) -> Detected | None:
    """The zoo architecture whose key signature ``state_dict`` carries, or None (then try spandrel).

    Raises:
        ArchitectureMismatchError: the signature keys are there but the file is incomplete or inconsistent.
    """
    for entry in _REGISTRY.values():
        if entry.detect is not None and (found := entry.detect(state_dict)) is not None:
            return found
    return None


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):  # TypeError: an unhashable name (a list, a dict)
        raise UnknownModelError(
            f"unknown model {name!r}{did_you_mean(name, _REGISTRY)}; available: {', '.join(list_models())}"
        ) from None


def build_network(name: str, scale: int, **kwargs: Any) -> tuple[nn.Module, ModelCard]:
    """Instantiate the raw network (no wrapper) and its per-instance card."""
    entry = _entry(name)
    if scale not in entry.card.scales:
        raise ScaleError(f"{name} supports scales {list(entry.card.scales)}, not {scale}")
    options = {**entry.default_kwargs, **kwargs}
    accepted = _accepted_options(entry.factory)
    unknown = sorted(set(options) - accepted) if accepted is not None else []
    if unknown:
        raise InputError(f"{name} has no option(s) {', '.join(map(repr, unknown))}; {_describe_options(accepted)}")
    try:
        net = entry.factory(scale=scale, **options)
    except TypeError as exc:  # options the signature check could not see (a factory forwarding **kwargs elsewhere)
        if "keyword argument" not in str(exc):
            raise
        raise InputError(f"{name}: {exc}; check the architecture options passed as keyword arguments") from exc
    rf = getattr(net, "receptive_field", entry.card.receptive_field)
    eo = getattr(net, "effective_overlap", entry.card.effective_overlap)
    mult = getattr(net, "size_multiple", entry.card.size_multiple)
    card = entry.card.replace(
        params=sum(p.numel() for p in net.parameters()), receptive_field=rf, effective_overlap=eo, size_multiple=mult
    )
    return net, card


def _accepted_options(factory: Factory) -> set[str] | None:
    """Keyword options a factory takes (besides ``scale``): its own parameters, plus those of the one nn.Module
    class it forwards ``**kwargs`` to; None when they cannot be told (then the factory call itself decides)."""
    import inspect

    def named(sig: inspect.Signature) -> set[str]:
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        return {p.name for p in sig.parameters.values() if p.kind in kinds} - {"scale", "self"}

    def has_var_kw(sig: inspect.Signature) -> bool:
        return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())

    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return None
    names = named(sig)
    if not has_var_kw(sig):
        return names
    code, ns = getattr(factory, "__code__", None), getattr(factory, "__globals__", {})
    targets = {ns[n] for n in (code.co_names if code else ()) if isinstance(ns.get(n), type) and issubclass(ns[n], nn.Module)}
    if len(targets) != 1:
        return None
    try:
        target = inspect.signature(next(iter(targets)))
    except (TypeError, ValueError):
        return None
    return None if has_var_kw(target) else names | named(target)


def _describe_options(accepted: set[str] | None) -> str:
    return f"accepted options: {', '.join(sorted(accepted))}" if accepted else "it takes no options besides scale"

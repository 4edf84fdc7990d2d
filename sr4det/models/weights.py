"""Weight files on disk: read (sr4det's own format or a plain state dict), verify (finite values, sha256), save,
the shipped folder, the download cache, ``$SR4DET_WEIGHTS_PATH``, the shared folder's state dicts and downloads of
published weights.

Pure I/O: nothing here knows the registry. :mod:`sr4det.models.factory` turns what is read into models.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._files import atomic_path, atomic_write, cache_root, sha256_file
from ..errors import ArchitectureMismatchError, WeightsError, WeightsNotAvailableError
from .card import ModelCard, PublishedWeights

WEIGHTS_FORMAT = "sr4det-weights-v1"
SHIPPED_DIR = Path(__file__).with_name("weights")
_WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model", "net", "generator", "netG")


@dataclass
class WeightFile:
    """The content of a weight file: tensors plus what sr4det knows about them."""

    state_dict: dict[str, torch.Tensor]
    arch: str | None = None
    scale: int | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def cache_dir() -> Path:
    """Where downloaded weights live: ``$SR4DET_CACHE`` or ``~/.cache/sr4det``, sub-folder ``weights``."""
    return cache_root() / "weights"


def save_weights(
    path: str | Path,
    net: nn.Module,
    *,
    arch: str,
    scale: int,
    kwargs: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    half: bool = False,
) -> Path:
    """Write ``net``'s weights in sr4det's format (atomically: temp file + rename).

    ``half=True`` stores floating tensors as fp16 (halves the size; they are cast back on load).
    """
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().clone() for k, v in net.state_dict().items()}
    payload = {
        "format": WEIGHTS_FORMAT,
        "arch": arch,
        "scale": int(scale),
        "kwargs": dict(kwargs or {}),
        "meta": dict(meta or {}),
        "state_dict": state,
    }
    return atomic_torch_save(payload, path)


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temp file beside ``path``, then rename: a crash never leaves a half-written file.

    Serialised in memory first and written by Python (:func:`~sr4det._files.atomic_write`): torch's own file writer
    reports a full disk as a ``RuntimeError`` without errno, this way it is a :class:`~sr4det.errors.DiskFullError`
    naming ``path``."""
    import io

    path = Path(path)
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write(path, buf.getvalue())
    return path


def read_weights(path: str | Path) -> WeightFile:
    """Read a checkpoint into a :class:`WeightFile`; unwraps ``params_ema``/``state_dict``/... and ``module.``.

    Raises:
        WeightsNotAvailableError: the file does not exist.
        WeightsError: unreadable (truncated, not a checkpoint), no tensors, or NaN/Inf values.
    """
    path = Path(path)
    if path.is_dir():
        raise WeightsError(
            f"{path} is a folder, not a weight file; pass the .pth/.pt/.safetensors file inside it "
            "(an ultralytics export folder is a detector: --detector)"
        )
    if not path.is_file():
        raise WeightsNotAvailableError(f"weight file not found: {path}")
    if path.stat().st_size == 0:
        raise WeightsError(f"{path} is empty (0 bytes)")
    unreadable: tuple[type[BaseException], ...] = (
        RuntimeError,
        EOFError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        OSError,
        ValueError,
        KeyError,
    )
    try:
        if path.suffix == ".safetensors":
            from safetensors import SafetensorError
            from safetensors.torch import load_file

            unreadable = (*unreadable, SafetensorError)  # its own type, not a RuntimeError/ValueError
            raw: Any = load_file(str(path))
        else:
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except unreadable as exc:
        if isinstance(exc, pickle.UnpicklingError) and "weights_only" in str(exc):
            # a readable pickle of Python objects (torch.save(model), an optimizer, a custom class): sr4det never
            # unpickles code, so torch's advice to pass weights_only=False is not the fix
            raise WeightsError(
                f"cannot read {path}: it pickles Python objects other than tensors (e.g. a whole model saved with "
                "torch.save(model)), which sr4det does not unpickle. Re-save the weights only: "
                "torch.save(model.state_dict(), path), or sr4det.models.save_weights(path, net, arch=..., scale=...)"
            ) from exc
        raise WeightsError(
            f"cannot read {path}: {exc.__class__.__name__}: {exc}. The file is truncated, corrupt or not a PyTorch/safetensors checkpoint"
        ) from exc
    if isinstance(raw, dict) and raw.get("format") == WEIGHTS_FORMAT:
        wf = _sr4det_weight_file(raw, path)
    else:
        wf = WeightFile(_find_state_dict(raw, path))
    _check_finite(wf.state_dict, path)
    return wf


def _sr4det_weight_file(raw: dict[str, Any], path: Path) -> WeightFile:
    """A dict in sr4det's own format, checked field by field (a hand-edited or foreign file names what is wrong)."""
    sd = raw.get("state_dict")
    if not isinstance(sd, dict) or not sd or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in sd.items()):
        what = (
            "no 'state_dict'" if sd is None else f"a 'state_dict' that is not a non-empty dict of tensors ({type(sd).__name__})"
        )
        raise WeightsError(
            f"{path} says it is in {WEIGHTS_FORMAT} format but has {what}; the file is damaged or was not written by "
            "sr4det.save_weights: re-export it with save_weights(path, net, arch=..., scale=...)"
        )
    for key, kind in (("kwargs", dict), ("meta", dict)):
        if raw.get(key) is not None and not isinstance(raw[key], kind):
            raise WeightsError(f"{path}: {WEIGHTS_FORMAT} field {key!r} must be a dict, got {type(raw[key]).__name__}")
    arch, scale = raw.get("arch"), raw.get("scale")
    if arch is not None and not isinstance(arch, str):
        raise WeightsError(f"{path}: {WEIGHTS_FORMAT} field 'arch' must be a model name, got {arch!r}")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int) or scale < 1):
        raise WeightsError(f"{path}: {WEIGHTS_FORMAT} field 'scale' must be a positive int, got {scale!r}")
    return WeightFile(_to_float_tensors(sd), arch, scale, dict(raw.get("kwargs") or {}), dict(raw.get("meta") or {}))


def objective_from_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """Card fields (``objective``, ``trained_with``, ``degradations``) that a weight file's training metadata states,
    or ``{}``."""
    degradation = meta.get("degradation")
    seen = {"degradations": degradation} if isinstance(degradation, str) and not degradation.startswith("MATLAB bicubic") else {}
    if "objective" in meta:
        detector = meta.get("detector")
        return {"objective": meta["objective"], "trained_with": _detector_label(detector) if detector else None, **seen}
    losses = meta.get("losses")
    if not isinstance(losses, dict):
        return {}
    if float(losses.get("adversarial") or 0) > 0:
        return {"objective": "gan", **seen}
    feature = losses.get("feature") or [None, 0]
    return {"objective": "feature" if float(feature[1] or 0) > 0 else "pixel", **seen}


def _detector_label(name: str) -> str:
    """``"yolo11n_int8_openvino_model"`` -> ``"yolo11n"``: the architecture a detector file holds."""
    return re.split(r"[_.]", Path(str(name)).name, maxsplit=1)[0]


def _to_float_tensors(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: (v.float() if v.dtype in (torch.float16, torch.bfloat16) else v) for k, v in sd.items()}


def _find_state_dict(raw: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(raw, dict):
        for key in _WRAPPER_KEYS:
            inner = raw.get(key)
            if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                raw = inner
                break
    if not isinstance(raw, dict) or not raw or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise WeightsError(f"{path} holds no state dict of tensors (top level is {type(raw).__name__})")
    prefix = "module."
    if all(k.startswith(prefix) for k in raw):
        raw = {k[len(prefix) :]: v for k, v in raw.items()}
    return dict(raw)


def _check_finite(sd: dict[str, torch.Tensor], path: Path) -> None:
    for key, tensor in sd.items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            bad = int((~torch.isfinite(tensor)).sum())
            raise WeightsError(f"{path}: tensor {key!r} has {bad} NaN/Inf values; the weights are corrupt")


#: the key prefix of ``SRModel.state_dict()`` (the wrapper holds the network as ``.net``)
WRAPPED_PREFIX = "net."


def load_state_into(net: nn.Module, state_dict: dict[str, torch.Tensor], *, name: str, source: str) -> None:
    """Load ``state_dict`` strictly into ``net``; raise :class:`ArchitectureMismatchError` listing what differs."""
    expected = net.state_dict()
    if set(state_dict) != set(expected) and state_dict and all(k.startswith(WRAPPED_PREFIX) for k in state_dict):
        inner = {k[len(WRAPPED_PREFIX) :]: v for k, v in state_dict.items()}
        if set(inner) == set(expected):  # SRModel.state_dict() (torch.save(model.state_dict())): the network is .net
            state_dict = inner
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [
        f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches (e.g. {'; '.join(shapes[:3])})")
        raise ArchitectureMismatchError(
            f"{source} does not match architecture {name!r}: {'; '.join(parts)}. "
            "Wrong architecture, scale or width options? sr4det.load_model(path) detects third-party architectures."
        )
    integer = [
        f"{k} ({state_dict[k].dtype})"
        for k, v in expected.items()
        if v.is_floating_point() and not state_dict[k].is_floating_point()
    ]
    if integer:  # copy_ would cast them silently: weights rounded to integers (a network that outputs black)
        raise WeightsError(
            f"{source}: {len(integer)} tensor(s) of {name!r} are stored as integers where the network has floating-point "
            f"weights (e.g. {', '.join(integer[:3])}): a quantised or corrupted state dict, not float weights; export "
            "the float weights (e.g. torch.save({k: v.float() for k, v in model.state_dict().items()}, path))"
        )
    cast = {k: v.to(expected[k].dtype) if v.is_floating_point() else v for k, v in state_dict.items()}
    net.load_state_dict(cast, strict=True)


def verify_sha256(path: Path, expected: str) -> None:
    """Raise :class:`WeightsError` unless the file's sha256 starts with ``expected`` (full hash or >= 8-hex prefix)."""
    actual = sha256_file(path)
    if not actual.startswith(expected.lower()):
        raise WeightsError(f"sha256 mismatch for {path}: expected {expected}, got {actual}; delete the file and fetch it again")


def shipped_weights(card: ModelCard, scale: int) -> Path | None:
    """Path of the weights ``card`` declares as shipped inside the package at ``scale`` (``card.shipped``), or None."""
    filename = card.shipped.get(scale)
    if filename is None:
        return None
    path = SHIPPED_DIR / filename
    return path if path.is_file() else None


def _offline() -> bool:
    return os.environ.get("SR4DET_OFFLINE", "") not in ("", "0") or os.environ.get("YOLO_OFFLINE", "") not in ("", "0")


def download_published(pub: PublishedWeights, *, what: str) -> Path:
    """Return the cached file for ``pub``, downloading it (sha256-checked) when missing and not offline."""
    name = pub.filename or pub.url.rsplit("/", 1)[-1]
    target = cache_dir() / name
    if target.is_file():
        verify_sha256(target, pub.sha256)
        return target
    searched = ", ".join(str(d) for d in weight_search_dirs())
    how = (
        f"looked for {name} in {searched}. Put {name} in a folder and list it in ${WEIGHTS_PATH_ENV} "
        f"(e.g. export {WEIGHTS_PATH_ENV}=../shared/weights/sr/state_dict; ${SHARED_ENV}/weights/sr/state_dict is "
        f"searched by itself), or download {pub.url} and save it as {target}"
    )
    missing = [str(d) for d in weight_search_dirs()[:-1] if not d.is_dir()]
    if missing:  # a typo in $SR4DET_WEIGHTS_PATH is why a file put there was not found
        how += f"; note: ${WEIGHTS_PATH_ENV} lists {missing}, which {'is' if len(missing) == 1 else 'are'} not a folder"
    if _offline():
        raise WeightsNotAvailableError(f"{what}: weights not found and downloads are off (offline): {how}")
    try:
        with atomic_path(target, suffix=".part") as tmp:
            torch.hub.download_url_to_file(pub.url, tmp, progress=True)
            verify_sha256(Path(tmp), pub.sha256)
    except WeightsError:
        raise
    except Exception as exc:  # network errors come in many types (URLError, HTTPError, timeouts, SSL)
        raise WeightsNotAvailableError(f"{what}: download failed ({exc}); {how}") from exc
    return target


WEIGHTS_PATH_ENV = "SR4DET_WEIGHTS_PATH"
#: the project's shared data folder (tests/conftest.py, pipelines/_shared.py: the same rule) and, in it, the
#: published state dicts
SHARED_ENV = "SR4DET_SHARED"
SHARED_STATE_DICTS = ("weights", "sr", "state_dict")


def shared_state_dict_dir() -> Path | None:
    """The shared folder's published state dicts, ``$SR4DET_SHARED/weights/sr/state_dict`` (else
    ``<checkout>/../shared/...`` when sr4det runs from a source checkout), if that folder exists; else None."""
    env = os.environ.get(SHARED_ENV)
    if env:
        root = Path(env).expanduser()
    else:
        checkout = Path(__file__).resolve().parents[2]
        if not (checkout / "pyproject.toml").is_file():  # an installed package: no checkout beside it
            return None
        root = checkout.parent / "shared"
    folder = root.joinpath(*SHARED_STATE_DICTS)
    return folder if folder.is_dir() else None


def weight_search_dirs() -> list[Path]:
    """Folders searched for published weight files before downloading: ``$SR4DET_WEIGHTS_PATH``
    (``os.pathsep``-separated, in order), the shared folder's state dicts (:func:`shared_state_dict_dir`, when it
    exists), then the download cache (:func:`cache_dir`)."""
    dirs = [Path(p).expanduser() for p in os.environ.get(WEIGHTS_PATH_ENV, "").split(os.pathsep) if p]
    shared = shared_state_dict_dir()
    return [*dirs, *([shared] if shared is not None and shared not in dirs else []), cache_dir()]


def find_local_published(pub: PublishedWeights) -> Path | None:
    """The first file named like ``pub`` in :func:`weight_search_dirs` whose sha256 matches, else None.

    A same-named file with another hash is an error (:class:`WeightsError`), not silently skipped.
    """
    name = pub.filename or pub.url.rsplit("/", 1)[-1]
    for folder in weight_search_dirs():
        candidate = folder / name
        if candidate.is_file():
            verify_sha256(candidate, pub.sha256)
            return candidate
    return None


def resolve_pretrained(card: ModelCard, scale: int) -> tuple[Path, str]:
    """Find pretrained weights for ``card.name`` at ``scale``: shipped first, then a published file already on
    disk (:func:`weight_search_dirs`), then a download (sha256-checked)."""
    shipped = shipped_weights(card, scale)
    if shipped is not None:
        return shipped, "sr4det (shipped)"
    pub = card.published.get(scale)
    if pub is not None and (local := find_local_published(pub)) is not None:
        return local, pub.url
    if pub is None:
        have = sorted(s for s in card.shipped if shipped_weights(card, s) is not None)
        raise WeightsNotAvailableError(
            f"no pretrained weights for {card.name} x{scale}: shipped scales {have or 'none'}, "
            f"published scales {sorted(card.published) or 'none'}. Train them with pipelines/train_sr.py or pass weights=PATH"
        )
    return download_published(pub, what=f"{card.name} x{scale}"), pub.url

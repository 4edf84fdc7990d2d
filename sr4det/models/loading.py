"""Reading weight files: sr4det's own, third-party files through spandrel, OpenCV ``dnn_superres`` graphs,
and pretrained weights shipped in the package or downloaded with a sha256 check.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .._files import atomic_path, cache_root
from ..errors import (  # noqa: F401 - ArchitectureMismatchError is re-exported for the registry
    ArchitectureMismatchError,
    InputError,
    MissingDependencyError,
    ScaleError,
    ScaleMismatchError,
    WeightsError,
    WeightsNotAvailableError,
)
from .card import ModelCard, PublishedWeights

if TYPE_CHECKING:
    from .wrapper import SRModel

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
    """``torch.save`` to a temp file beside ``path``, then rename: a crash never leaves a half-written file."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return path


def read_weights(path: str | Path) -> WeightFile:
    """Read a checkpoint into a :class:`WeightFile`; unwraps ``params_ema``/``state_dict``/... and ``module.``.

    Raises:
        WeightsNotAvailableError: the file does not exist.
        WeightsError: unreadable (truncated, not a checkpoint), no tensors, or NaN/Inf values.
    """
    path = Path(path)
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


def read_weights_for(path: str | Path, name: str, scale: int) -> WeightFile:
    """:func:`read_weights`, checked to be ``name`` weights for ``scale``; ``kwargs`` filled in from the file.

    Third-party state dicts of zoo architectures are recognised by their keys, which also give the
    width/depth options to build the network with.

    Raises:
        ArchitectureMismatchError: the file holds another architecture.
        ScaleError (:class:`ScaleMismatchError` for recognised state dicts): the file is for another scale.
    """
    wf = read_weights(path)
    if wf.arch is None and (found := _detect(wf.state_dict)) is not None:
        if found.arch != name:
            raise ArchitectureMismatchError(
                f"{path} holds {found.arch} weights, not {name}; sr4det.load_model(path) loads it as {found.arch}"
            )
        check_detected_scale(found, scale, path)
        wf.kwargs = {**found.kwargs, **wf.kwargs}
    if wf.arch not in (None, name):
        raise ArchitectureMismatchError(f"{path} holds {wf.arch} weights, not {name}")
    if wf.scale not in (None, scale):
        raise ScaleError(f"{path} holds x{wf.scale} weights, not x{scale}")
    return wf


def objective_from_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """Card fields (``objective``, ``trained_with``) that a weight file's training metadata states, or ``{}``."""
    if "objective" in meta:
        detector = meta.get("detector")
        return {"objective": meta["objective"], "trained_with": _detector_label(detector) if detector else None}
    losses = meta.get("losses")
    if not isinstance(losses, dict):
        return {}
    if float(losses.get("adversarial") or 0) > 0:
        return {"objective": "gan"}
    feature = losses.get("feature") or [None, 0]
    return {"objective": "feature" if float(feature[1] or 0) > 0 else "pixel"}


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


def load_state_into(net: nn.Module, state_dict: dict[str, torch.Tensor], *, name: str, source: str) -> None:
    """Load ``state_dict`` strictly into ``net``; raise :class:`ArchitectureMismatchError` listing what differs."""
    expected = net.state_dict()
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
    cast = {k: v.to(expected[k].dtype) if v.is_floating_point() else v for k, v in state_dict.items()}
    net.load_state_dict(cast, strict=True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_sha256(path: Path, expected: str) -> None:
    """Raise :class:`WeightsError` unless the file's sha256 starts with ``expected`` (full hash or >= 8-hex prefix)."""
    actual = _sha256(path)
    if not actual.startswith(expected.lower()):
        raise WeightsError(f"sha256 mismatch for {path}: expected {expected}, got {actual}; delete the file and fetch it again")


def shipped_weights(name: str, scale: int) -> Path | None:
    """Path of weights shipped inside the package for ``name`` at ``scale``, or None."""
    path = SHIPPED_DIR / f"{name}_x{scale}.pt"
    return path if path.is_file() else None


def _offline() -> bool:
    return os.environ.get("SR4DET_OFFLINE", "") not in ("", "0") or os.environ.get("YOLO_OFFLINE", "") not in ("", "0")


def download_published(pub: PublishedWeights, *, what: str) -> Path:
    """Return the cached file for ``pub``, downloading it (sha256-checked) when missing and not offline."""
    target = cache_dir() / (pub.filename or pub.url.rsplit("/", 1)[-1])
    if target.is_file():
        verify_sha256(target, pub.sha256)
        return target
    how = f"download {pub.url} and save it as {target} (or put it in a folder listed in ${WEIGHTS_PATH_ENV})"
    if _offline():
        raise WeightsNotAvailableError(f"{what}: weights are not cached and downloads are off (offline); {how}")
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


def weight_search_dirs() -> list[Path]:
    """Folders searched for published weight files before downloading: ``$SR4DET_WEIGHTS_PATH``
    (``os.pathsep``-separated, in order), then the download cache (:func:`cache_dir`)."""
    dirs = [Path(p).expanduser() for p in os.environ.get(WEIGHTS_PATH_ENV, "").split(os.pathsep) if p]
    return [*dirs, cache_dir()]


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
    shipped = shipped_weights(card.name, scale)
    if shipped is not None:
        return shipped, "sr4det (shipped)"
    pub = card.published.get(scale)
    if pub is not None and (local := find_local_published(pub)) is not None:
        return local, pub.url
    if pub is None:
        have = sorted(int(p.stem.rsplit("_x", 1)[1]) for p in SHIPPED_DIR.glob(f"{card.name}_x*.pt"))
        raise WeightsNotAvailableError(
            f"no pretrained weights for {card.name} x{scale}: shipped scales {have or 'none'}, "
            f"published scales {sorted(card.published) or 'none'}. Train them with pipelines/train_sr.py or pass weights=PATH"
        )
    return download_published(pub, what=f"{card.name} x{scale}"), pub.url


def load_model(
    path: str | Path,
    *,
    scale: int | None = None,
    arch: str | None = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
) -> SRModel:
    """Load any supported weight file as an :class:`~sr4det.models.wrapper.SRModel` (eval mode).

    * sr4det files (saved by :func:`save_weights`, e.g. shipped or trained weights): architecture from the file.
    * ``arch=`` one of :func:`~sr4det.list_models`: a plain state dict for that zoo architecture
      (the scale is tried from the card when not given).
    * published state dicts of zoo architectures, recognised by their keys (IMDN, RFDN, PAN, CARN-M; a
      DataParallel ``module.`` prefix is stripped); a multi-scale file (CARN-M) loads at its largest scale
      unless ``scale`` is given.
    * anything spandrel recognises (ESRGAN, SwinIR, HAT, CRAFT, Real-ESRGAN compact, ...; .pth/.pt/.ckpt/.safetensors).
    * OpenCV ``dnn_superres`` graphs (``ESPCN_x4.pb`` ...), when opencv-contrib is installed.

    Raises:
        ScaleError: the file's scale differs from ``scale``.
        WeightsError / ArchitectureMismatchError: unreadable, NaN, unknown or mismatched weights.
    """
    path = Path(path)
    if path.suffix.lower() == ".pb":
        model = _load_opencv(path, scale)
    else:
        wf = read_weights(path)
        if wf.arch is not None:
            model = _load_zoo(wf, wf.arch, wf.scale, scale, path)
        elif arch is not None:
            model = _load_zoo(wf, arch, None, scale, path)
        elif (found := _detect(wf.state_dict)) is not None:
            wf.kwargs = {**found.kwargs, **wf.kwargs}
            model = _load_zoo(wf, found.arch, check_detected_scale(found, scale, path), scale, path)
        else:
            model = _load_spandrel(wf, scale, path)
    return model.to(device=device, dtype=dtype).eval()


def _detect(state_dict: dict[str, torch.Tensor]):
    from .registry import detect_architecture

    return detect_architecture(state_dict)


def check_detected_scale(found, scale: int | None, path: str | Path) -> int:
    """The scale to build a detected file at: ``scale`` if the file holds it, else the largest it holds.

    Raises:
        ScaleMismatchError: ``scale`` is given and the file's upsampler is for other scales.
    """
    if scale is None:
        return max(found.scales)
    if scale not in found.scales:
        held = "/".join(f"x{s}" for s in found.scales)
        raise ScaleMismatchError(
            f"{path} holds {found.arch} weights for {held} (read from its upsampling layers), not x{scale}; "
            f"pass scale={found.scales[-1]} or use the {found.arch} file trained for x{scale}"
        )
    return scale


def _load_zoo(wf: WeightFile, arch: str, file_scale: int | None, scale: int | None, path: Path):
    from .registry import build_network, get_card
    from .wrapper import SRModel

    if file_scale is not None and scale is not None and file_scale != scale:
        raise ScaleError(f"{path} holds a x{file_scale} {arch} model, not x{scale}")
    candidates = [file_scale or scale] if (file_scale or scale) else list(get_card(arch).scales)
    error: Exception | None = None
    for s in candidates:
        net, card = build_network(arch, s, **wf.kwargs)
        try:
            load_state_into(net, wf.state_dict, name=f"{arch} x{s}", source=str(path))
        except ArchitectureMismatchError as exc:
            error = exc
            continue
        return SRModel(net, card.replace(weights_source=str(path), **objective_from_meta(wf.meta)), s)
    assert error is not None
    raise error


class _SpandrelNet(nn.Module):
    """Adapter so a spandrel descriptor runs inside :class:`SRModel` (RGB, post-upsampling)."""

    def __init__(self, descriptor):
        super().__init__()
        self.model = descriptor.model
        self._descriptor = descriptor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._descriptor(x)


# spandrel architectures that are purely convolutional (no attention, windows or global pooling):
# tiles with enough overlap are exact for them
_LOCAL_SPANDREL_ARCHS = {"ESRGAN", "Compact", "SPAN", "DnCNN", "DRUNet"}


def _load_spandrel(wf: WeightFile, scale: int | None, path: Path):
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError

    from .wrapper import SRModel

    try:
        descriptor = ModelLoader().load_from_state_dict(wf.state_dict)
    except UnsupportedModelError as exc:
        raise WeightsError(
            f"{path}: not an sr4det weight file and not recognised by spandrel ({exc}). "
            "If it is a state dict of an sr4det architecture, pass arch=NAME (see sr4det.list_models())"
        ) from exc
    except (KeyError, RuntimeError, ValueError) as exc:
        raise ArchitectureMismatchError(f"{path}: spandrel detected an architecture but could not load it: {exc}") from exc
    if not isinstance(descriptor, ImageModelDescriptor):
        raise WeightsError(
            f"{path} is a {descriptor.architecture.name} model for {descriptor.purpose}, not image super-resolution"
        )
    if descriptor.input_channels != 3 or descriptor.output_channels != 3:
        raise InputError(
            f"{path}: {descriptor.architecture.name} takes {descriptor.input_channels} and returns "
            f"{descriptor.output_channels} channels; sr4det needs RGB -> RGB models"
        )
    if scale is not None and descriptor.scale != scale:
        raise ScaleError(f"{path} is a x{descriptor.scale} {descriptor.architecture.name} model, not x{scale}")
    req = descriptor.size_requirements
    arch_id = str(descriptor.architecture.id)
    card = ModelCard(
        name=descriptor.architecture.name,
        scales=(descriptor.scale,),
        input_space="rgb",
        upsampling="post",
        receptive_field=None,
        non_local=arch_id not in _LOCAL_SPANDREL_ARCHS,
        size_multiple=max(1, req.multiple_of),
        min_size=max(1, req.minimum),
        supports_half=bool(descriptor.supports_half),
        supports_bf16=bool(descriptor.supports_bfloat16),
        params=sum(p.numel() for p in descriptor.model.parameters()),
        weights_source=str(path),
        license="see the weights' source",
        paper=f"spandrel architecture {arch_id}",
    )
    return SRModel(_SpandrelNet(descriptor), card, descriptor.scale)


_OPENCV_NAME = re.compile(r"(?P<algo>ESPCN|FSRCNN-small|FSRCNN|LapSRN|EDSR)_x(?P<scale>\d+)", re.IGNORECASE)
_OPENCV_RADIUS = {"espcn": 5, "fsrcnn": 10, "lapsrn": 32, "edsr": 40}


class _OpenCVNet(nn.Module):
    """Runs an OpenCV ``dnn_superres`` graph per image (uint8 BGR inside, as OpenCV expects)."""

    def __init__(self, path: Path, algo: str, scale: int):
        super().__init__()
        import cv2

        self._impl = cv2.dnn_superres.DnnSuperResImpl_create()
        self._impl.readModel(str(path))
        self._impl.setModel(algo, scale)
        self._path, self._algo, self._scale = path, algo, scale

    def __getstate__(self):  # cv2 objects do not pickle; rebuild from the path
        state = self.__dict__.copy()
        state.pop("_impl")
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        import cv2

        self._impl = cv2.dnn_superres.DnnSuperResImpl_create()
        self._impl.readModel(str(self._path))
        self._impl.setModel(self._algo, self._scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import numpy as np

        outs = []
        for img in x:
            bgr = (img.detach().float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).flip(-1).cpu().numpy()
            up = self._impl.upsample(np.ascontiguousarray(bgr))
            outs.append(torch.from_numpy(up[..., ::-1].copy()).permute(2, 0, 1).float() / 255)
        return torch.stack(outs).to(device=x.device, dtype=x.dtype)


def _load_opencv(path: Path, scale: int | None):
    from .wrapper import SRModel

    try:
        import cv2

        cv2.dnn_superres  # noqa: B018 - attribute exists only in opencv-contrib
    except (ImportError, AttributeError) as exc:
        raise MissingDependencyError(
            f"{path} is an OpenCV dnn_superres graph; it needs opencv-contrib-python-headless "
            "(pip install opencv-contrib-python-headless, which replaces opencv-python's cv2)"
        ) from exc
    if not path.is_file():
        raise WeightsNotAvailableError(f"weight file not found: {path}")
    match = _OPENCV_NAME.search(path.name)
    if match is None:
        raise WeightsError(f"cannot tell the OpenCV model from the file name {path.name!r}; expected e.g. ESPCN_x4.pb")
    algo = match["algo"].lower().split("-")[0]
    file_scale = int(match["scale"])
    if scale is not None and scale != file_scale:
        raise ScaleError(f"{path} is a x{file_scale} model, not x{scale}")
    try:
        net = _OpenCVNet(path, algo, file_scale)
    except cv2.error as exc:
        raise WeightsError(f"OpenCV could not read {path}: {exc}") from exc
    card = ModelCard(
        name=f"opencv-{match['algo'].lower()}",
        scales=(file_scale,),
        upsampling="post",
        receptive_field=_OPENCV_RADIUS[algo],
        supports_half=False,
        supports_bf16=False,
        weights_source=str(path),
        license="Apache-2.0 (OpenCV dnn_superres model zoo)",
        paper=f"OpenCV dnn_superres {match['algo']}",
    )
    return SRModel(net, card, file_scale)

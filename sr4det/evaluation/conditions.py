"""The compared conditions and the degradation that makes their low-resolution input.

* ``hr``: the (mod-cropped) original image; the upper bound.
* ``lr``: the degraded image given to the detector as is (the detector's own resize decides); its boxes are
  multiplied by ``scale`` into the HR frame.
* ``bicubic`` and one condition per SR model: LR upscaled x``scale`` back to the HR size.

Any of them can bring its own detector (``SR@LABEL=DETECTOR``, see :meth:`SRSpec.parse`): the same input scored
with another detector, e.g. one fine-tuned on degraded images, under the condition name ``SR@LABEL``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from ..degradation import DegradationSpec
from ..errors import InputError

RESERVED = ("hr", "lr")
#: label of the run's own detector (``--detector``) in results.json; not available to conditions
MAIN_DETECTOR = "main"
#: a detector label: letters, digits, ``_`` and ``-``
LABEL_RE = re.compile(r"[A-Za-z0-9_-]+")
# SR@LABEL or SR@LABEL=DETECTOR (SR itself may be NAME=WEIGHTS); the first "@" followed by a valid label and then
# "=" or the end
_WITH_DETECTOR = re.compile(r"(?P<sr>.+?)@\s*(?P<label>[A-Za-z0-9_-]+)\s*(?:=(?P<det>.*))?", re.S)


Degradation = DegradationSpec
"""The evaluator's LR maker: :class:`sr4det.degradation.DegradationSpec` (the one degradation of sr4det).

Noise is keyed on the pixels of the mod-cropped HR image (not on its file), so ``compare``'s LR images equal
those of ``Degrade``, ``materialize`` and the ultralytics hook for the same spec.
"""


@dataclass(frozen=True)
class SRSpec:
    """One condition of the ``sr`` list: ``name`` in the results, where the model comes from, and its detector.

    ``source`` is a zoo name (``"bicubic"``, ``"espcn"``: pretrained weights unless the model has none) or a
    weight file (anything :func:`sr4det.load_model` reads); with a detector label it may also be ``"hr"`` or
    ``"lr"`` (those inputs scored with that detector). ``detector``: the label of the condition's own detector
    (None: the run's detector); ``detector_source``: where that detector comes from when the spec says it
    (``SR@LABEL=DETECTOR``), else None (the label is defined elsewhere: ``detectors={LABEL: ...}``).
    """

    name: str
    source: str
    detector: str | None = None
    detector_source: str | None = None

    @property
    def input(self) -> str:
        """``"hr"``, ``"lr"`` or ``"sr"``: which image the detector sees."""
        return self.source if self.detector is not None and self.source in RESERVED else "sr"

    @classmethod
    def parse(cls, text: str) -> SRSpec:
        """Parse one entry of ``--sr`` / the ``sr`` list.

        * ``"espcn"``, ``"path/to/CRAFT.pth"`` (named after the file stem) or ``"name=path"``: an SR model scored with
          the run's detector (as before detectors per condition existed).
        * ``"SR@LABEL=DETECTOR"``: ``SR`` (a zoo name, a weight file, ``hr`` or ``lr``) scored with the detector
          ``DETECTOR`` (a path or official name, as ``--detector``), under the name ``SR@LABEL``
          (``bicubic@adapted=runs/adapted.pt`` -> condition ``bicubic@adapted``).
        * ``"name=path@LABEL=DETECTOR"``: the same for named SR weights (condition ``name@LABEL``).
        * ``"SR@LABEL"`` / ``"name=path@LABEL"``: the detector of label ``LABEL`` given elsewhere (another entry's
          ``@LABEL=DETECTOR`` or the ``detectors`` option).

        ``@`` starts a detector label only when a label (letters, digits, ``_``, ``-``) follows it and then ``=`` or
        the end; an existing file whose name contains ``@`` stays a weight file.
        """
        text = text.strip()
        if not text:
            raise InputError("empty SR model spec")
        m = _WITH_DETECTOR.fullmatch(text)
        if m is None or _existing(text) or ("=" in text and _existing(text.split("=", 1)[1].strip())):
            return cls._parse_sr(text)
        label, det = m["label"], m["det"]
        if label == MAIN_DETECTOR:
            raise InputError(
                f"{text!r}: the detector label {MAIN_DETECTOR!r} is reserved for the run's --detector; "
                "pick another label (plain SR names already use that detector)"
            )
        if det is not None and not det.strip():
            raise InputError(
                f"{text!r}: nothing after '='; write SR@{label}=DETECTOR with the detector's path, or "
                f"SR@{label} with {label!r} defined elsewhere"
            )
        sr = m["sr"].strip()
        if sr in RESERVED:
            base = cls(sr, sr)
        else:
            base = cls._parse_sr(sr)
            if base.source in RESERVED:
                raise InputError(f"{text!r}: {base.source!r} is an input, not SR weights; write {base.source}@{label}=DETECTOR")
        return cls(f"{base.name}@{label}", base.source, label, None if det is None else det.strip())

    @classmethod
    def _parse_sr(cls, text: str) -> SRSpec:
        """``"espcn"``, ``"path/to/CRAFT.pth"`` (named after the file stem) or ``"name=path"``."""
        if "=" in text:
            name, source = (t.strip() for t in text.split("=", 1))
        else:
            source = text
            name = Path(text).stem if _looks_like_path(text) else text
        if not name or not source:
            raise InputError(f"SR model spec {text!r}: write NAME=WEIGHTS, a zoo name or a weight file")
        if "@" in name and not ("=" not in text and _looks_like_path(text)):
            raise InputError(
                f"SR model spec {text!r}: '@' starts a detector label (SR@LABEL=DETECTOR, LABEL of letters, "
                "digits, '_' and '-'); condition names may not contain it otherwise"
            )
        if name in RESERVED:
            raise InputError(
                f"SR condition name {name!r} is reserved (conditions 'hr' and 'lr' always exist; "
                f"{name}@LABEL=DETECTOR scores {name} with another detector)"
            )
        return cls(name, source)

    def load(self, scale: int, device: str | torch.device | None = None, runtime: tuple[str, str] = ("torch", "fp32")):
        """The :class:`~sr4det.models.wrapper.SRModel` for this spec at ``scale``, its network run by ``runtime``
        (backend, precision: :meth:`~sr4det.models.wrapper.SRModel.set_runtime`)."""
        from ..models import resolve_model

        backend, precision = runtime
        try:
            return resolve_model(self.source, scale, pretrained=True, device=device, backend=backend, precision=precision)
        except KeyError as exc:
            raise InputError(f"SR condition {self.name!r}: {exc.args[0]}") from None


def _existing(text: str) -> bool:
    try:
        return "@" in text and Path(text.strip()).expanduser().exists()
    except OSError:
        return False


def _looks_like_path(text: str) -> bool:
    p = Path(text).expanduser()
    return p.exists() or p.suffix.lower() in (".pth", ".pt", ".ckpt", ".safetensors", ".pb", ".bin") or "/" in text


def model_digest(model: torch.nn.Module) -> str:
    """sha256 of a model's class, scale, card name and every state-dict tensor (identifies its outputs)."""
    h = hashlib.sha256()
    card = getattr(model, "card", None)
    h.update(f"{type(model).__name__}:{getattr(model, 'scale', '')}:{getattr(card, 'name', '')}".encode())
    net = getattr(model, "net", model)
    h.update(type(net).__name__.encode())
    for k, v in model.state_dict().items():
        h.update(k.encode())
        t = v.detach().cpu().contiguous()
        h.update(str(t.dtype).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    # parameter-free models (bicubic ...) are told apart by their configuration
    for attr in ("kernel", "scale"):
        if hasattr(net, attr):
            h.update(f"{attr}={getattr(net, attr)}".encode())
    # a compiled runtime (not torch fp32) computes other outputs (fp32: within about 1e-5); torch digests are unchanged
    if getattr(model, "backend", "torch") != "torch":
        h.update(f"runtime={model.backend}/{model.precision}".encode())
    return h.hexdigest()


def run_sr(model, lr: np.ndarray, tile: str | int | None = "auto") -> tuple[np.ndarray, str]:
    """Upscale a uint8 (h, w, 3) image with :func:`sr4det.tiling.upscale` (memory-aware tiling); returns
    (uint8 (sh, sw, 3), how) with how = ``"tiler"`` (recorded in the SR cache entries)."""
    from ..data.io import from_tensor, to_tensor
    from ..tiling import upscale

    y = upscale(model, to_tensor(lr), tile=tile)
    return from_tensor(y.float().cpu(), np.uint8), "tiler"


# --------------------------------------------------------------------------------------------- conditions


@dataclass
class Condition:
    """One compared condition: what image the detector sees for each dataset image, and its cache key.

    ``detector``: a detector of this condition's own (None: the run's detector); the cache keys its detections
    by that detector's identity. ``detector_label``: its name in results.json (default: the part of ``name``
    after ``@``, else ``name``).
    """

    name: str
    detector: object | None = None
    detector_label: str | None = None

    kind: ClassVar[str] = ""
    #: boxes of this condition's detections are multiplied by the scale into the HR frame
    low_resolution: ClassVar[bool] = False

    def load(self, scale: int, device: str | torch.device | None = None) -> dict:
        """Prepare (e.g. load a model); returns the extra entries of this condition in ``results.json``."""
        return {}

    def release(self) -> None:
        """Free what :meth:`load` took (before the next condition's peak-memory window)."""

    def key(self, hr_key: str, lr_key: str, *, tile: object) -> str:
        """Content key of the image the detector sees."""
        raise NotImplementedError

    def render(self, hr: np.ndarray, degradation: DegradationSpec) -> np.ndarray:
        """The detector's input for ``hr`` (SR conditions are rendered by the runner, which times them)."""
        raise NotImplementedError


@dataclass
class HRCondition(Condition):
    """The mod-cropped original: the upper bound."""

    kind: ClassVar[str] = "hr"

    def key(self, hr_key, lr_key, *, tile):
        return hr_key

    def render(self, hr, degradation):
        return hr


@dataclass
class LRCondition(Condition):
    """The degraded image as is; the detector's own resize decides."""

    kind: ClassVar[str] = "lr"
    low_resolution: ClassVar[bool] = True

    def key(self, hr_key, lr_key, *, tile):
        return lr_key

    def render(self, hr, degradation):
        return degradation(hr)


@dataclass
class SRCondition(Condition):
    """LR upscaled back to the HR size by an SR model (``bicubic`` and the other interpolations included)."""

    spec: SRSpec | None = None
    kind: ClassVar[str] = "sr"

    def __post_init__(self) -> None:
        if self.spec is None:
            self.spec = SRSpec(self.name, self.name)
        self.model = None
        self.digest: str | None = None
        #: (backend, precision) that runs the SR network (SRModel.set_runtime); set by compare(backend=...)
        self.runtime: tuple[str, str] = ("torch", "fp32")

    def load(self, scale, device=None):
        compiled = {} if self.runtime == ("torch", "fp32") else {"runtime": self.runtime}
        self.model = self.spec.load(scale, device=device, **compiled)
        self.digest = model_digest(self.model)
        card = getattr(self.model, "card", None)
        backend = getattr(self.model, "backend", "torch")
        return {
            "model": self.spec.source,
            "params": getattr(card, "params", None),
            "weights_source": getattr(card, "weights_source", None),
            "model_digest": self.digest[:16],
            **({} if backend == "torch" else {"runtime": f"{backend}/{self.model.precision}"}),
        }

    def release(self):
        import gc

        self.model = None
        gc.collect()

    def key(self, hr_key, lr_key, *, tile, digest: str | None = None):
        """``digest``: a model digest remembered from an earlier run (:meth:`fingerprint`), to forecast the key
        before :meth:`load`."""
        from .cache import sr_key

        digest = digest or self.digest
        assert digest is not None, "load() first"
        return sr_key(lr_key, digest, tile)

    def fingerprint(self, scale: int) -> str | None:
        """What identifies this condition's weights without loading them (the file's path, size and modification
        time, or the zoo name with its pretrained file's), or None when that is unknown: the key under which the
        cache remembers the model digest, so that cached entries can be counted before any model loads."""
        from .._version import __version__
        from ..models.registry import get_card
        from ..models.weights import resolve_pretrained

        assert self.spec is not None  # set in __post_init__
        src = Path(self.spec.source).expanduser()
        try:
            file: Path | None = src
            if not src.is_file():
                card = get_card(self.spec.source)
                file = resolve_pretrained(card, scale)[0] if card.pretrained_scales else None
            stat = "" if file is None else f"{file.resolve()}:{file.stat().st_size}:{file.stat().st_mtime_ns}"
        except Exception:  # unknown name, no local weights, a download needed: known only after loading
            return None
        return f"{self.spec.source}|x{scale}|{self.runtime}|{stat}|{__version__}"

    def upscale(self, lr: np.ndarray, tile: str | int | None) -> tuple[np.ndarray, str]:
        """uint8 ``lr`` (h, w, 3) -> (uint8 (sh, sw, 3), ``"tiler"``): see :func:`run_sr`."""
        return run_sr(self.model, lr, tile)


def standard_conditions(sr: list[SRSpec], detectors: dict[str, object] | None = None) -> list[Condition]:
    """``hr``, ``lr`` and one condition per spec, in the order of the results. A spec with a detector label gets
    ``detectors[label]`` (see :func:`~.condition_detectors.resolve_detectors`) as its own detector."""
    out: list[Condition] = [HRCondition("hr"), LRCondition("lr")]
    for s in sr:
        det = None
        if s.detector is not None:
            if detectors is None or s.detector not in detectors:
                raise InputError(
                    f"condition {s.name!r}: no detector {s.detector!r}; resolve the labels first "
                    "(resolve_detectors) or write SR@LABEL=DETECTOR"
                )
            det = detectors[s.detector]
        if s.input == "hr":
            out.append(HRCondition(s.name, det, s.detector))
        elif s.input == "lr":
            out.append(LRCondition(s.name, det, s.detector))
        else:
            out.append(SRCondition(s.name, det, s.detector, spec=s))
    return out

"""Conditions that bring their own detector (``SR@LABEL=DETECTOR``): labels resolved to detectors (each distinct
weights path loaded once), checked against the run's detector before any work, and described for results.json.

A comparison scores every condition's detections against the same ground truth through one class map (built
from the run's detector), so every detector of a run must have the same class list; a label that no entry
defines, a detector that does not load, or a class list that differs is a typed error raised before any image
is read or any cache entry written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import DetectorError, DetectorMismatchError, InputError, SR4DetError
from .cache import detector_identity, weights_digest
from .conditions import LABEL_RE, MAIN_DETECTOR, Condition, SRSpec

__all__ = [
    "check_class_lists",
    "default_loader",
    "detector_label",
    "detector_record",
    "detector_sources",
    "parse_detectors",
    "resolve_detectors",
    "split_sr",
]

_FIX = (
    "give a .pt file, an OpenVINO export folder, an .onnx file or an official name after '=' "
    "(SR@LABEL=DETECTOR), or define the label in `detectors` (--detectors LABEL=PATH)"
)

Loader = Callable[[str], Any]


def check_label(label: Any) -> str:
    if not isinstance(label, str) or not LABEL_RE.fullmatch(label):
        raise InputError(f"detector label {label!r}: use letters, digits, '_' and '-' only")
    if label == MAIN_DETECTOR:
        raise InputError(f"the detector label {MAIN_DETECTOR!r} is reserved for the run's --detector; pick another label")
    return label


def detector_sources(specs: Sequence[SRSpec], detectors: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """label -> where the detector comes from (a path / official name, or a detector object), for the labels the
    specs use: from their ``@LABEL=DETECTOR`` and from ``detectors``. Raises :class:`InputError` for a label
    that nothing defines, or that is defined as two different detectors."""
    given = {check_label(k): v for k, v in (detectors or {}).items()}
    sources: dict[str, Any] = {}
    for s in specs:
        if s.detector is None:
            continue
        label = check_label(s.detector)
        src = s.detector_source
        if src is not None:
            prev = sources.get(label, given.get(label))
            if prev is not None and not (isinstance(prev, str) and _same_path(prev, src)):
                raise InputError(
                    f"detector label {label!r} is given two detectors ({_describe(prev)} and {src}); "
                    f"give each detector its own label, or write {s.name} without '=' to reuse the first"
                )
            sources[label] = src
        elif label in given:
            sources.setdefault(label, given[label])
    unknown = [s.name for s in specs if s.detector is not None and s.detector not in sources]
    if unknown:
        s = next(x for x in specs if x.name == unknown[0])
        raise InputError(
            f"condition {s.name!r} names the unknown detector {s.detector!r}: no entry defines it; write "
            f"{s.name}=DETECTOR (a .pt file, OpenVINO folder, .onnx file or official name), or define it with "
            f"--detectors {s.detector}=PATH (YAML: `detectors: {{{s.detector}: PATH}}`)"
            + (f"; defined labels: {sorted(set(given) | set(sources))}" if given or sources else "")
        )
    return sources


def default_loader(main: Any) -> Loader:
    """Build an :class:`~sr4det.integrations.ultralytics.detector.UltralyticsDetector` from a path, with the run's detector
    settings (imgsz, conf, iou, max_det, half, device) when that detector is an ultralytics one."""
    cfg = getattr(main, "config", None)
    kw: dict[str, Any] = {}
    if isinstance(cfg, dict) and cfg.get("type") == "ultralytics":
        kw = {k: cfg[k] for k in ("imgsz", "conf", "iou", "max_det", "half") if k in cfg}
        kw["device"] = getattr(main, "device", None)

    def load(source: str):
        from ..detectors import UltralyticsDetector

        return UltralyticsDetector(source, **kw)

    return load


def resolve_detectors(
    specs: Sequence[SRSpec], main: Any, detectors: Mapping[str, Any] | None = None, loader: Loader | None = None
) -> dict[str, Any]:
    """label -> detector for every label the specs use; each distinct weights path is loaded once (the run's own
    detector is reused when a label points at its weights). Every check (unknown labels, loading, class lists)
    happens here, before any work. ``loader(path)`` builds a detector (default :func:`default_loader`)."""
    sources = detector_sources(specs, detectors)
    if not sources:
        return {}
    loader = loader or default_loader(main)
    users = {label: [s.name for s in specs if s.detector == label] for label in sources}
    loaded: dict[str, Any] = {}
    main_weights = _weights(main)
    if main_weights is not None and Path(main_weights).expanduser().exists():
        loaded[_path_key(main_weights)] = main
    out: dict[str, Any] = {}
    for label, src in sources.items():
        if not isinstance(src, (str, Path)):
            if not callable(src) or not hasattr(src, "names"):
                raise InputError(
                    f"detector {label!r}: expected a path or a Detector (callable with `names`), got {type(src).__name__}"
                )
            out[label] = src
            continue
        key = _path_key(str(src))
        if key not in loaded:
            loaded[key] = _load(loader, label, str(src), users[label])
        out[label] = loaded[key]
    for label, det in out.items():
        _check_names(main, det, label, users[label])
    return out


def check_class_lists(main: Any, conditions: Sequence[Condition]) -> None:
    """A :class:`DetectorMismatchError` when a condition's own detector has another class list than ``main``."""
    for c in conditions:
        if c.detector is not None and c.detector is not main:
            _check_names(main, c.detector, detector_label(c), [c.name])


def detector_label(cond: Condition) -> str:
    """The name of a condition's detector in results.json: ``main`` for the run's, else its label."""
    if cond.detector is None:
        return MAIN_DETECTOR
    if cond.detector_label:
        return cond.detector_label
    return cond.name.rsplit("@", 1)[1] if "@" in cond.name else cond.name


def detector_record(detector: Any) -> dict[str, Any]:
    """What results.json says about one detector: where its weights are, their digest, its settings, and the
    identity that keys its detections in the cache."""
    cfg = getattr(detector, "config", None)
    path = _weights(detector)
    return {
        "type": type(detector).__name__,
        "path": path,
        "weights_sha256": weights_digest(path),
        "settings": dict(cfg) if isinstance(cfg, dict) else repr(detector),
        "cache_identity": detector_identity(detector),
    }


# --------------------------------------------------------------------------------------------- helpers


def _load(loader: Loader, label: str, source: str, conditions: list[str]):
    where = f"detector {label!r} ({source}) of {', '.join(conditions)}"
    try:
        det = loader(source)
    except SR4DetError as exc:
        raise _retyped(exc, f"{where} does not load: {exc}; {_FIX}") from exc
    except Exception as exc:  # a loader's own failure
        raise DetectorError(f"{where} does not load: {type(exc).__name__}: {exc}; {_FIX}") from exc
    if not callable(det) or not hasattr(det, "names"):
        raise DetectorError(f"{where}: the loader returned a {type(det).__name__}, not a detector")
    return det


def _retyped(exc: SR4DetError, message: str) -> SR4DetError:
    """The same error type with more context (falls back to DetectorError for types with other constructors)."""
    try:
        return type(exc)(message)
    except TypeError:
        return DetectorError(message)


def _names(det: Any) -> dict[int, str]:
    try:
        return {int(k): str(v) for k, v in dict(det.names).items()}
    except (AttributeError, TypeError, ValueError) as exc:
        raise DetectorError(f"{det!r} has no class list (`names`: class index -> name): {exc}") from None


def _check_names(main: Any, det: Any, label: str, conditions: list[str]) -> None:
    a, b = _names(main), _names(det)
    if a == b:
        return
    diff = sorted(set(a) | set(b))
    first = next(k for k in diff if a.get(k) != b.get(k))
    src = _weights(det) or repr(det)
    raise DetectorMismatchError(
        f"detector {label!r} ({src}) of {', '.join(conditions)} has another class list than the run's detector: "
        f"{len(b)} vs {len(a)} classes, first difference at class {first}: {b.get(first)!r} vs {a.get(first)!r}. "
        "Every detector of one comparison must predict the same classes (all conditions are scored through one class "
        f"map); use a detector trained on the same classes, or score it in a run of its own (--detector {src})"
    )


def _weights(det: Any) -> str | None:
    """The weights path (or name) in a detector's ``config``, if any."""
    cfg = getattr(det, "config", None)
    w = cfg.get("weights") if isinstance(cfg, dict) else None
    return w if isinstance(w, str) and w else None


def _path_key(source: str) -> str:
    p = Path(source).expanduser()
    try:
        return str(p.resolve()) if p.exists() else source.strip()
    except OSError:
        return source.strip()


def _same_path(a: str, b: str) -> bool:
    return _path_key(a) == _path_key(b)


def _describe(src: Any) -> str:
    return src if isinstance(src, str) else f"a {type(src).__name__} object"


def split_sr(value: str | Sequence[str]) -> list[str]:
    """``"a,b"`` or ``["a", "b"]`` -> ``["a", "b"]`` (blanks dropped)."""
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple)) and all(v is None or isinstance(v, str) for v in value):
        items = list(value)
    else:
        raise InputError(
            f"expected a comma-separated text or a list of texts (e.g. sr: [bicubic, espcn]), got {value!r} "
            f"({type(value).__name__})"
        )
    return [s.strip() for s in items if s and s.strip()]


def parse_detectors(value: str | Mapping[str, str] | Sequence[str] | None) -> dict[str, str]:
    """``"a=x.pt,b=y"``, ``["a=x.pt"]`` or ``{"a": "x.pt"}`` -> ``{"a": "x.pt"}`` (labels of ``SR@LABEL`` entries)."""
    if not value:
        return {}
    if isinstance(value, Mapping):
        items = [(str(k).strip(), v) for k, v in value.items()]
    else:
        items = []
        for entry in split_sr(value):
            label, eq, path = entry.partition("=")
            if not eq:
                raise InputError(f"detectors entry {entry!r}: write LABEL=PATH (e.g. adapted=runs/adapted.pt)")
            items.append((label.strip(), path))
    out: dict[str, str] = {}
    for label, path in items:
        if not isinstance(path, str) or not path.strip():
            raise InputError(f"detector {label!r}: give its path (a .pt file, OpenVINO folder, .onnx file or official name)")
        if label in out and out[label] != path.strip():
            raise InputError(f"detector label {label!r} is given twice ({out[label]} and {path.strip()})")
        out[label] = path.strip()
    for label in out:
        check_label(label)
    return out

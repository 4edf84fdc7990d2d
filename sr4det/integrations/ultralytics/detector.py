"""``UltralyticsDetector``: YOLO models (``.pt``, exported OpenVINO folders, ONNX files) behind the Detector contract."""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..._files import sr4det_offline
from ..._pickle_scan import check_pickle
from ...detectors.base import Detections, as_rgb_batch
from ...errors import DetectorError, InputError, MissingDependencyError, WeightsNotAvailableError
from .offline import import_ultralytics

log = logging.getLogger(__name__)

_OFFICIAL_SUFFIXES = (".pt",)


@contextlib.contextmanager
def _keep_torch_threads():
    """Undo ultralytics' changes to torch's intra-op threads: importing it and its select_device() set them to
    min(8, cores - 1) on the CPU, which would silently override ``--threads`` / torchrun's per-rank share for
    everything that runs after the first detection."""
    import torch

    threads = torch.get_num_threads()
    try:
        yield
    finally:
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


def _load_yolo(weights: str | Path, trust_pickle: bool = False):
    with _keep_torch_threads():
        return _load_yolo_unguarded(weights, trust_pickle)


def _load_yolo_unguarded(weights: str | Path, trust_pickle: bool = False):
    import_ultralytics()
    from ultralytics import YOLO

    path = Path(weights).expanduser()
    if path.is_file() and path.suffix.lower() == ".pt":  # a full pickle: scanned before ultralytics unpickles it
        check_pickle(path, trust=trust_pickle)
    elif not path.exists() and path.suffix in _OFFICIAL_SUFFIXES and _in_weights_dir(path.name):
        from ultralytics.utils import SETTINGS

        check_pickle(Path(SETTINGS["weights_dir"]) / path.name, trust=trust_pickle)
    if not path.exists():
        official = path.parent == Path(".") and path.suffix in _OFFICIAL_SUFFIXES
        if not official:
            raise WeightsNotAvailableError(f"detector weights not found: {path}")
        if sr4det_offline() and not _in_weights_dir(path.name):
            raise WeightsNotAvailableError(
                f"{weights} is not a local file and downloads are off (SR4DET_OFFLINE is set); "
                "download it once online or pass the path of a local .pt, OpenVINO folder or .onnx file"
            )
        # an official ultralytics name: YOLO() downloads it from the ultralytics release assets
    try:
        return YOLO(str(path) if path.exists() else str(weights), task="detect")
    except ImportError as exc:  # e.g. openvino / onnxruntime not installed
        raise MissingDependencyError(
            f"cannot load {weights}: {exc}. OpenVINO folders and ONNX files need pip install 'sr4det[export]'"
        ) from exc
    except Exception as exc:
        raise DetectorError(f"ultralytics could not load {weights}: {type(exc).__name__}: {exc}") from exc


def _class_names(model: Any, source: str, build: Any = None) -> dict[int, str]:
    """``{index: name}`` of a loaded YOLO. For an export (OpenVINO folder, .onnx) this is the first time ultralytics
    builds the backend, so a broken export fails here: as a DetectorError naming the export, not a traceback.

    ``build``: called first for an export, to build the predictor that predictions use (ultralytics' ``.names``
    alone would load the export into a throwaway predictor: two loads, two "Loading ..." lines)."""
    try:
        if build is not None and not hasattr(getattr(model, "model", None), "names"):
            try:
                build()
            except DetectorError as exc:  # raised by our own prediction: report its cause as the load failure
                raise exc.__cause__ or exc from None
        return {int(k): str(v) for k, v in dict(model.names).items()}
    except ImportError as exc:
        raise MissingDependencyError(
            f"cannot load {source}: {exc}. OpenVINO folders and ONNX files need pip install 'sr4det[export]'"
        ) from exc
    except Exception as exc:  # ultralytics / OpenVINO / onnxruntime raise their own types for broken exports
        path = Path(source)
        hint = (
            f"; {path} has no metadata.yaml (class names, image size): export it again with ultralytics "
            "(yolo export model=best.pt format=openvino) instead of copying parts of a folder"
            if path.is_dir() and not (path / "metadata.yaml").is_file()
            else "; the export may be truncated or from another ultralytics version: export it again"
        )
        raise DetectorError(f"ultralytics could not load {source}: {type(exc).__name__}: {exc}{hint}") from exc


def _in_weights_dir(name: str) -> bool:
    """Whether ultralytics would find ``name`` in its settings' ``weights_dir`` without downloading."""
    from ultralytics.utils import SETTINGS

    return (Path(SETTINGS["weights_dir"]) / name).is_file()


class UltralyticsDetector:
    """An ultralytics YOLO detection model as a :class:`~sr4det.detectors.base.Detector`.

    Args:
        weights: a ``.pt`` file, an exported OpenVINO folder (``*_openvino_model``), an ``.onnx`` file, an
            official name such as ``"yolov8n.pt"`` (downloaded by ultralytics unless ``SR4DET_OFFLINE`` is
            set), or an already built ``ultralytics.YOLO`` object.
        imgsz: inference size (letterboxed square for exported models; exported models need their export size).
        conf: confidence threshold (0.001, the default, is the mAP-evaluation setting; ``yolo predict`` shows 0.25).
        iou: NMS IoU threshold.
        max_det: maximum detections per image.
        device: ``None`` (ultralytics' choice), ``"cpu"``, ``"cuda:0"``, ``0``, ...
        half: FP16 inference (GPU ``.pt`` models only).
        batch_size: images per ``predict`` call; long lists are split into chunks of this size.
        trust_pickle: load a ``.pt`` whose pickle imports globals off sr4det's allow-list (a full pickle can run code:
            only for files you trust; see :mod:`sr4det._pickle_scan`). Default: refuse with UnsafePickleError.

    Call with a list of uint8 RGB (H, W, 3) arrays, PIL images or paths (or one of them); returns one
    :class:`Detections` per image, boxes xyxy in
    that image's own pixel frame, labels in the model's class space (``.names``). ``.config`` records the
    settings (for results files).
    """

    def __init__(
        self,
        weights: Any,
        imgsz: int = 640,
        conf: float = 0.001,
        iou: float = 0.7,
        max_det: int = 300,
        device: Any = None,
        half: bool = False,
        *,
        batch_size: int = 8,
        trust_pickle: bool = False,
    ):
        if not 0 <= conf <= 1 or not 0 <= iou <= 1:
            raise InputError(f"conf and iou must lie in [0, 1], got conf={conf}, iou={iou}")
        if int(max_det) < 1 or int(batch_size) < 1 or int(imgsz) < 32:
            raise InputError(f"need max_det >= 1, batch_size >= 1, imgsz >= 32; got {max_det}, {batch_size}, {imgsz}")
        if isinstance(weights, (str, Path)):
            self.model = _load_yolo(weights, trust_pickle)
            source = str(weights)
        else:
            import_ultralytics()
            from ultralytics import YOLO

            if not isinstance(weights, YOLO):
                raise InputError(f"weights must be a path, an official name or an ultralytics YOLO, got {type(weights).__name__}")
            self.model = weights
            source = str(getattr(weights, "ckpt_path", None) or getattr(weights, "model_name", None) or "YOLO object")
        if getattr(self.model, "task", "detect") != "detect":
            raise DetectorError(f"{source} is a {self.model.task!r} model; UltralyticsDetector needs a detection model")
        self.imgsz = int(imgsz)
        self.conf = float(conf)
        self.iou = float(iou)
        self.max_det = int(max_det)
        self.device = device
        self.half = bool(half)
        self.batch_size = int(batch_size)
        self._precision = _precision_kwargs(self.half)
        self._threads_matched = False
        self.names: dict[int, str] = {}
        self.config: dict[str, Any] = {
            "type": "ultralytics",
            "weights": source,
            "imgsz": self.imgsz,
            "conf": self.conf,
            "iou": self.iou,
            "max_det": self.max_det,
            "device": None if device is None else str(device),
            "half": self.half,
            "ultralytics": _ultralytics_version(),
        }
        with _keep_torch_threads():  # an export's names come from the predictor, built (loaded) once here
            self.names = _class_names(self.model, source, build=self._backend)

    def _match_openvino_threads(self) -> None:
        """Run an OpenVINO export on torch's intra-op thread count.

        OpenVINO's CPU plugin uses every core by default, whatever torch was told; N torchrun ranks on one node would
        each run N x oversubscribed (``sr4det.evaluation.distributed.setup`` gives each rank cores / N threads).
        Recompiles the model once with ``INFERENCE_NUM_THREADS`` (outputs are unchanged). Other formats, or an
        ultralytics version whose OpenVINO backend looks different, are left as they are.
        """
        import torch

        try:
            backend = getattr(self._backend(), "backend", None)
            compile_fn = getattr(backend, "compile_model", None)
            if backend is None or type(backend).__name__ != "OpenVINOBackend" or not isinstance(compile_fn, functools.partial):
                return
            threads = torch.get_num_threads()
            if int(backend.ov_compiled_model.get_property("INFERENCE_NUM_THREADS")) == threads:
                return
            weights = Path(self.config["weights"])
            xml = weights if weights.is_file() else next(weights.glob("*.xml"))
            kwargs = dict(compile_fn.keywords)
            kwargs["config"] = {**kwargs.get("config", {}), "INFERENCE_NUM_THREADS": threads}
            recompile = functools.partial(compile_fn.func, *compile_fn.args, **kwargs)
            core = compile_fn.func.__self__  # type: ignore[attr-defined]  # a bound method of openvino.Core
            backend.ov_compiled_model = recompile(core.read_model(model=str(xml), weights=str(xml.with_suffix(".bin"))))
            backend.compile_model = recompile
        except Exception as exc:  # an optimisation only: never fail a detection over it
            log.debug("OpenVINO thread count not matched to torch's: %s", exc)

    @property
    def fixed_imgsz(self) -> int | None:
        """The size a static exported model always runs at (ultralytics then ignores ``imgsz``), or None when the
        model takes any ``imgsz`` (``.pt`` models, dynamic exports). Loads the model (one tiny prediction) if needed."""
        backend = self._backend()
        if getattr(backend, "format", "pt") == "pt" or getattr(backend, "dynamic", False) or not hasattr(backend, "imgsz"):
            return None
        size = backend.imgsz
        return int(max(size) if isinstance(size, (list, tuple)) else size)

    def _backend(self):
        predictor = getattr(self.model, "predictor", None)
        if predictor is None or getattr(predictor, "model", None) is None:
            self([np.zeros((32, 32, 3), np.uint8)])  # ultralytics builds its backend on the first prediction
        return self.model.predictor.model

    def with_imgsz(self, imgsz: int) -> UltralyticsDetector:
        """The same model (shared, not reloaded) with another inference size; an InputError for a static export."""
        fixed = self.fixed_imgsz
        if fixed is not None and int(imgsz) != fixed:
            raise InputError(
                f"{self.config['weights']} is a static export that always runs at imgsz {fixed}; "
                f"export it with dynamic=True (or use the .pt model) to run at imgsz {imgsz}"
            )
        if int(imgsz) < 32:
            raise InputError(f"imgsz must be >= 32, got {imgsz}")
        out = copy.copy(self)
        out.imgsz = int(imgsz)
        out.config = {**self.config, "imgsz": int(imgsz)}
        return out

    def __repr__(self) -> str:
        return f"UltralyticsDetector({self.config['weights']!r}, imgsz={self.imgsz}, conf={self.conf}, iou={self.iou})"

    def __call__(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect objects. ``images``: uint8 RGB (H, W, 3) arrays, PIL images or paths (a single one is also accepted)."""
        rgb = as_rgb_batch(images)
        with _keep_torch_threads():
            return self._detect(rgb)

    def _detect(self, rgb: list[np.ndarray]) -> list[Detections]:
        if not self._threads_matched:
            self._threads_matched = True  # first, as _backend() may call back into here
            self._match_openvino_threads()
        out: list[Detections] = []
        for start in range(0, len(rgb), self.batch_size):
            # ultralytics treats numpy input as OpenCV BGR
            chunk = [np.ascontiguousarray(im[:, :, ::-1]) for im in rgb[start : start + self.batch_size]]
            try:
                results = self.model.predict(
                    chunk,
                    imgsz=self.imgsz,
                    conf=self.conf,
                    iou=self.iou,
                    max_det=self.max_det,
                    device=self.device,
                    verbose=False,
                    **self._precision,
                )
            except Exception as exc:
                raise DetectorError(f"{self!r} failed: {type(exc).__name__}: {exc}") from exc
            for im, r in zip(chunk, results, strict=True):
                b = r.boxes
                out.append(
                    Detections(
                        boxes=b.xyxy.cpu().numpy(),
                        scores=b.conf.cpu().numpy(),
                        labels=b.cls.cpu().numpy().astype(np.int64),
                        names=dict(self.names),
                        image_size=(int(im.shape[0]), int(im.shape[1])),
                    )
                )
        return out


def _precision_kwargs(half: bool) -> dict[str, Any]:
    """ultralytics >= 8.4 replaced the ``half`` flag by ``quantize`` (16 = FP16, None = FP32); older has only ``half``."""
    from ultralytics.cfg import DEFAULT_CFG_DICT

    if "quantize" in DEFAULT_CFG_DICT:
        return {"quantize": 16 if half else None}
    return {"half": half}


def _ultralytics_version() -> str:
    try:
        from importlib.metadata import version

        return version("ultralytics")
    except Exception:  # metadata missing in odd installs; the version is informative only
        return "unknown"

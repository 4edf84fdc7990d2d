"""``CompareConfig``: the options of a comparison, listed once (default and help), built by the CLI
(``sr4det compare``), the YAML config of ``pipelines/coco_map_compare.py`` and the Python API
(:func:`sr4det.commands.compare.run_compare`, or ``CompareConfig(...).run()``)."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, ScaleError

#: older names of options, accepted by the YAML config and run_compare()
ALIASES = {"blur": "blur_sigma", "noise": "noise_std", "jpeg": "jpeg_quality"}


def _opt(default: Any, help: str, *, flags: Sequence[str] = (), cli: bool = True, **argparse_kw: Any):
    """A field with its command-line form: ``flags`` besides ``--field-name``; ``cli=False``: not a plain flag."""
    meta = {"help": help, "flags": tuple(flags), "cli": cli, "argparse": argparse_kw}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def split_sr(value: str | Sequence[str]) -> list[str]:
    """``"a,b"`` or ``["a", "b"]`` -> ``["a", "b"]`` (blanks dropped)."""
    items = value.split(",") if isinstance(value, str) else list(value)
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
    from .condition_detectors import check_label

    for label in out:
        check_label(label)
    return out


@dataclass
class CompareConfig:
    """Every option of ``sr4det compare``; the field order is the order of ``--help``."""

    data: str = _opt(None, "COCO instances .json, ultralytics dataset .yaml, or a folder holding one", required=True)
    detector: str = _opt(None, "ultralytics weights: .pt, OpenVINO folder, .onnx or an official name", required=True)
    out: str = _opt(None, "output folder", flags=("-o", "--output"), required=True)
    images: str | None = _opt(None, "image folder of a COCO json (default: guessed)")
    split: str = _opt("val", "split of a dataset yaml (default val)")
    imgsz: int = _opt(640, "detector input size", type=int)
    conf: float = _opt(0.001, "detector confidence threshold", type=float)
    iou: float = _opt(0.7, "detector NMS IoU", type=float)
    max_det: int = _opt(300, "detections per image", type=int)
    scale: int = _opt(4, "SR factor; LR = HR downscaled by it", flags=("-s",), type=int)
    sr: str | list[str] = _opt(
        "bicubic",
        "comma-separated SR models: zoo names, weight files, or name=path; "
        "SR@LABEL=DETECTOR (also hr@LABEL=..., lr@LABEL=...) scores that input with its "
        "own detector as condition SR@LABEL",
    )
    detectors: str | dict[str, str] | None = _opt(
        None,
        "comma-separated LABEL=PATH: detectors that --sr entries SR@LABEL use "
        "(same settings as --detector; same class list required)",
    )
    conditions: str | list[str] = _opt([], "more entries of `sr` (YAML: a `conditions:` list beside `sr:`)", cli=False)
    limit: int | None = _opt(None, "only the first N images", type=int)
    device: str | None = _opt(
        None,
        "device for SR and detector (cpu, cuda:0); default: the libraries' choice "
        "(under torchrun: cuda:LOCAL_RANK when CUDA exists)",
    )
    backend: str = _opt("pycocotools", "COCO metrics implementation", choices=("pycocotools", "faster-coco-eval"))
    class_map: str = _opt(
        "names",
        "detector class -> dataset category: by name (default), index i -> id i, or i -> i-th smallest id",
        choices=("names", "index", "sorted"),
    )
    bootstrap: int = _opt(1000, "bootstrap resamples (0: no intervals)", type=int)
    seed: int = _opt(0, "seed of the bootstrap and of the LR noise (a function of seed and pixels)", type=int)
    cache: str | None | bool = _opt(None, "cache folder (default $SR4DET_CACHE/compare); False: no cache (--no-cache)")
    tile: int | str | None = _opt("auto", "SR tile size in LR pixels, 'auto' or 'none'")
    blur_sigma: float | None = _opt(None, "Gaussian blur sigma (HR pixels) before downscaling", cli=False)
    noise_std: float | None = _opt(None, "Gaussian noise std in 8-bit levels after downscaling", cli=False)
    jpeg_quality: int | None = _opt(None, "JPEG quality (1-100) of the LR image", cli=False)
    mos: str | None = _opt(None, "MOS study (sr4det mos create) whose MOS per method goes beside the conditions")
    save_images: str | None = _opt(None, "also write each SR condition's images to DIR/<condition>/ (e.g. for a MOS study)")
    threads: int | None = _opt(
        None, "torch intra-op threads per process (default: torch's; under torchrun cores / processes per node)", type=int
    )
    progress: bool = _opt(True, "progress bars (--quiet: none; under torchrun rank 0 only)", cli=False)
    extra_config: dict[str, Any] = _opt({}, "extra entries of results.json's config", cli=False)

    # ----------------------------------------------------------------------------------- builders

    @classmethod
    def option_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add every option to ``parser`` (``--max-det`` for ``max_det`` ...), with its default and help."""
        from .._options import add_degradation_args

        for f in dataclasses.fields(cls):
            if not f.metadata["cli"]:
                continue
            kw = dict(f.metadata["argparse"])
            if not kw.get("required"):
                kw["default"] = f.default
            parser.add_argument(f"--{f.name.replace('_', '-')}", *f.metadata["flags"], dest=f.name, help=f.metadata["help"], **kw)
        parser.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
        add_degradation_args(parser)
        parser.add_argument("--quiet", action="store_true", help="no progress bars")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> CompareConfig:
        """From the namespace of a parser set up by :meth:`add_arguments`."""
        values = {name: getattr(args, name) for name in cls.option_names() if hasattr(args, name)}
        values["cache"] = False if getattr(args, "no_cache", False) else values.get("cache")
        values["progress"] = not getattr(args, "quiet", False)
        return cls(**values).checked()

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, what: str = "options", ignore: Sequence[str] = ()) -> CompareConfig:
        """From a dict (a YAML config, keyword arguments); ``blur``/``noise``/``jpeg`` are accepted as the older names
        of ``blur_sigma``/``noise_std``/``jpeg_quality``. Unknown keys are an :class:`InputError` naming the allowed ones."""
        names = set(cls.option_names())
        unknown = sorted(set(values) - names - set(ALIASES) - set(ignore))
        if unknown:
            raise InputError(f"{what}: unknown keys {unknown}; allowed: {sorted(names | set(ALIASES))}")
        out = {k: v for k, v in values.items() if k in names}
        for old, new in ALIASES.items():
            if values.get(old) is not None:
                if out.get(new) is not None and out[new] != values[old]:
                    raise InputError(f"{old}={values[old]!r} and {new}={out[new]!r} disagree; give only {new}")
                out[new] = values[old]
        return cls(**out).checked()

    def replace(self, **changes: Any) -> CompareConfig:
        return dataclasses.replace(self, **changes).checked()

    # ----------------------------------------------------------------------------------- checks

    def checked(self) -> CompareConfig:
        """Normalise (``sr`` to a list, ``tile`` parsed) and reject bad values before any work."""
        from ..tiling.plan import parse_tile

        for name in ("data", "detector", "out"):
            if getattr(self, name) in (None, ""):
                raise InputError(f"compare needs `{name}`")
        if isinstance(self.scale, bool) or not isinstance(self.scale, int) or self.scale < 1:
            raise ScaleError(f"scale must be a positive integer such as 2 or 4, got {self.scale!r}")
        self.sr = split_sr(self.sr) + split_sr(self.conditions)
        self.conditions = []
        self.detectors = parse_detectors(self.detectors)
        self.specs()  # bad SR@LABEL=DETECTOR syntax and unknown detector labels fail here, before anything loads
        if isinstance(self.tile, str) or self.tile is None:
            self.tile = parse_tile(str(self.tile))
        if self.bootstrap < 0:
            raise InputError(f"bootstrap must be >= 0, got {self.bootstrap}")
        if self.limit is not None:
            from ..data.ground_truth import check_limit

            check_limit(self.limit, "limit (--limit)")
        if self.cache not in (None, False, True, ""):
            from .cache import check_cache_dir

            check_cache_dir(str(self.cache), create=False)  # a file in the way fails now, not after the detector loads
        if self.threads is not None and self.threads < 1:
            raise InputError(f"threads must be >= 1, got {self.threads}")
        self.degradation()  # bad degradation options fail here
        return self

    def specs(self) -> list:
        """The parsed ``sr`` entries (:meth:`~.conditions.SRSpec.parse`), their detector labels checked against
        ``detectors`` (nothing is loaded)."""
        from .condition_detectors import detector_sources
        from .conditions import SRSpec

        specs = [SRSpec.parse(s) for s in self.sr]
        detector_sources(specs, parse_detectors(self.detectors))  # a no-op on what checked() already parsed
        return specs

    def degradation(self):
        from .conditions import Degradation

        return Degradation(
            scale=self.scale, seed=self.seed, blur_sigma=self.blur_sigma, noise_std=self.noise_std, jpeg_quality=self.jpeg_quality
        )

    # ----------------------------------------------------------------------------------- run

    def run(self) -> dict[str, Any]:
        """Load the data and the ultralytics detector, run :func:`sr4det.evaluation.compare`, write ``out``.

        Under torchrun the process group is set up first, so each rank builds its detector on its own device.
        """
        from .._options import check_device
        from ..data.datasets import load_dataset
        from ..detectors.ultralytics import UltralyticsDetector
        from .api import compare
        from .distributed import setup

        check_device(self.device)
        ctx = setup(self.threads)
        try:
            device = ctx.device(self.device)
            gt = load_dataset(self.data, images=self.images, split=self.split)
            settings: dict[str, Any] = {
                "imgsz": self.imgsz,
                "conf": self.conf,
                "iou": self.iou,
                "max_det": self.max_det,
                "device": device,
            }
            det = UltralyticsDetector(self.detector, **settings)
            return compare(
                gt,
                det,
                sr=self.sr,
                scale=self.scale,
                out_dir=Path(self.out),
                degradation=self.degradation(),
                backend=self.backend,
                class_map=self.class_map,
                n_resamples=self.bootstrap,
                seed=self.seed,
                cache_dir=self.cache,
                tile=self.tile,
                device=self.device,
                limit=self.limit,
                progress=self.progress,
                extra_config=self.extra_config or None,
                mos=self.mos,
                save_images=self.save_images,
                dist=ctx,
                detectors=parse_detectors(self.detectors) or None,
                detector_loader=lambda path: UltralyticsDetector(path, **settings),
            )
        finally:
            ctx.close()

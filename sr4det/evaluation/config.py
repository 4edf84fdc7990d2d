"""``CompareConfig``: the options of a comparison, listed once (default and help), built by the CLI
(``sr4det compare``) and the YAML config of ``pipelines/coco_map_compare.py`` (``CompareConfig.from_mapping(yaml)
.run()``); :meth:`CompareConfig.settings` is the frozen :class:`~.settings.Settings` a comparison runs with."""

from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from dataclasses import InitVar, dataclass, field
from typing import TYPE_CHECKING, Any

from .._suggest import did_you_mean
from ..errors import InputError, ScaleError
from ..models.runtime import BACKENDS, GPU_BACKENDS, PRECISIONS
from ._renamed import RENAMED, BackendOption, RuntimeChoices, renamed_options
from .coco import BACKENDS as COCO_EVALS
from .condition_detectors import parse_detectors, split_sr
from .settings import pair_texts

if TYPE_CHECKING:
    from .settings import Settings

#: older names of options, accepted by the YAML config and CompareConfig.from_mapping
ALIASES = {"blur": "blur_sigma", "noise": "noise_std", "jpeg": "jpeg_quality"}


def _opt(default: Any, help: str, *, flags: Sequence[str] = (), cli: bool = True, **argparse_kw: Any):
    """A field with its command-line form: ``flags`` besides ``--field-name``; ``cli=False``: not a plain flag."""
    meta = {"help": help, "flags": tuple(flags), "cli": cli, "argparse": argparse_kw}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class CompareConfig:
    """Every option of ``sr4det compare``; the field order is the order of ``--help``."""

    data: str = _opt(None, "COCO instances .json, ultralytics dataset .yaml, or a folder holding one", required=True)
    detector: str = _opt(None, "ultralytics weights: .pt, OpenVINO folder, .onnx or an official name", required=True)
    out: str = _opt(None, "output folder", flags=("-o", "--output"), required=True)
    overwrite: bool = _opt(
        False,
        "replace the results.json of another comparison (other data, scale, detector, ...) in the output folder "
        "(default: refuse; rerunning the same comparison, or adding conditions, always reuses it)",
        action="store_true",
    )
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
    native: bool = _opt(
        False,
        "native-resolution mode: no synthetic degradation; conditions `native` (the image as is) and the --sr models "
        "upscaling it x--scale, boxes mapped back to the native frame (large images: use with --slice)",
        action="store_true",
    )
    slice: str | None = _opt(
        None,
        "native mode: detect on overlapping SIZE x SIZE slices (SAHI), e.g. 640 or 640:0.2 (overlap); adds the unsliced "
        "reference `native@whole`",
    )
    merge: str = _opt("nms:iou:0.5", "how slice boxes are merged: KIND[:METRIC[:THRESHOLD]], nms|greedynmm|nmm, iou|ios")
    max_dets: int = _opt(100, "COCO detections per image that count (maxDets; 100 truncates crowded frames)", type=int)
    limit: int | None = _opt(None, "only the first N images", type=int)
    device: str | None = _opt(
        None,
        "device for SR and detector (cpu, cuda:0); default: the libraries' choice "
        "(under torchrun: cuda:LOCAL_RANK when CUDA exists)",
    )
    coco_eval: str = _opt(
        "pycocotools",
        "COCO metrics implementation (identical numbers; results.json records it as config.backend)",
        choices=COCO_EVALS,
    )
    class_map: str = _opt(
        "names",
        "detector class -> dataset category: by name (default), index i -> id i, or i -> i-th smallest id",
        choices=("names", "index", "sorted"),
    )
    bootstrap: int = _opt(1000, "bootstrap resamples (0: no intervals)", type=int)
    ci_level: float = _opt(
        0.95,
        "level of the paired-bootstrap intervals; e.g. 0.9875 keeps a 95%% family-wise level over 4 comparisons (Bonferroni)",
        type=float,
    )
    seed: int = _opt(0, "seed of the bootstrap and of the LR noise (a function of seed and pixels)", type=int)
    cache: str | None | bool = _opt(None, "cache folder (default $SR4DET_CACHE/compare); False: no cache (--no-cache)")
    tile: int | str | None = _opt("auto", "SR tile size in LR pixels, 'auto' or 'none'")
    degradation: str | None = _opt(
        None, "named degradation of the LR images: clean (default), camera, web, video (sr4det.degradation)", cli=False
    )
    blur_sigma: float | None = _opt(None, "Gaussian blur sigma (HR pixels) before downscaling", cli=False)
    noise_std: float | None = _opt(None, "Gaussian noise std in 8-bit levels after downscaling", cli=False)
    jpeg_quality: int | None = _opt(None, "JPEG quality (1-100) of the LR image", cli=False)
    mos: str | None = _opt(None, "MOS study (sr4det mos create) whose MOS per method goes beside the conditions")
    save_images: str | None = _opt(None, "also write each SR condition's images to DIR/<condition>/ (e.g. for a MOS study)")
    threads: int | None = _opt(
        None, "torch intra-op threads per process (default: torch's; under torchrun cores / processes per node)", type=int
    )
    backend: str = _opt("torch", "what runs the SR networks (as in every command)", choices=BACKENDS)
    precision: str = _opt("fp32", "precision of a compiled SR runtime (as in every command)", choices=PRECISIONS)
    pairs: str | list[str] | None = _opt(
        None, "head-to-head A:B (repeatable or comma-separated): A minus B, same images", flags=("--pair",), action="append"
    )
    progress: bool = _opt(True, "progress bars (--quiet: none; under torchrun rank 0 only)", cli=False)
    extra_config: dict[str, Any] = _opt({}, "extra entries of results.json's config", cli=False)
    #: deprecated keywords (YAML keys) of ``backend``/``precision``; a COCO implementation given as ``backend`` is
    #: ``coco_eval`` (:mod:`._renamed`: moved there with a FutureWarning)
    sr_runtime: InitVar[str | None] = None
    sr_precision: InitVar[str | None] = None

    def __post_init__(self, sr_runtime: str | None, sr_precision: str | None) -> None:
        self.backend, self.precision, self.coco_eval = renamed_options(
            self.backend, self.precision, self.coco_eval, sr_runtime=sr_runtime, sr_precision=sr_precision, stacklevel=4
        )

    # ----------------------------------------------------------------------------------- builders

    @classmethod
    def option_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """Add every option to ``parser`` (``--max-det`` for ``max_det`` ...), with its default and help; the options
        every ``sr4det`` command shares (``--scale``, ``--tile``, ``--seed`` ...) as :mod:`sr4det._options` declares them."""
        from .._options import OPTIONS, Switch, add_degradation_args, add_hidden_alias, add_option

        for f in dataclasses.fields(cls):
            if not f.metadata["cli"]:
                continue
            if f.name in OPTIONS:  # scale, tile, device, threads, seed, overwrite, backend, precision
                old_values = {"choices": RuntimeChoices(BACKENDS), "action": BackendOption} if f.name == "backend" else {}
                add_option(parser, f.name, default=f.default, **old_values)
                continue
            kw = dict(f.metadata["argparse"])
            if kw.get("action") == "store_true":
                kw["action"] = Switch
            if not kw.get("required"):
                kw["default"] = f.default
            parser.add_argument(f"--{f.name.replace('_', '-')}", *f.metadata["flags"], dest=f.name, help=f.metadata["help"], **kw)
        parser.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
        add_degradation_args(parser)
        add_option(parser, "quiet")
        add_hidden_alias(parser, "--sr-runtime", "backend", replaced_by="--backend", choices=BACKENDS)
        add_hidden_alias(parser, "--sr-precision", "precision", replaced_by="--precision", choices=PRECISIONS)

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
        of ``blur_sigma``/``noise_std``/``jpeg_quality``, ``sr_runtime``/``sr_precision`` (deprecated, with a warning)
        of ``backend``/``precision``. Unknown keys are an :class:`InputError` naming the allowed ones."""
        names = set(cls.option_names())
        unknown = sorted(map(str, set(values) - names - set(ALIASES) - set(RENAMED) - set(ignore)))
        if unknown:
            allowed = names | set(ALIASES)
            hints = "".join(f"; {key!r}{did_you_mean(key, allowed)}" for key in unknown if did_you_mean(key, allowed))
            raise InputError(f"{what}: unknown keys {unknown}{hints}; allowed: {sorted(allowed)}")
        out = {k: v for k, v in values.items() if k in names or k in RENAMED}
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
        from .._validators import check_scale, check_threads, check_tile

        for name in ("data", "detector", "out"):
            if getattr(self, name) in (None, ""):
                raise InputError(f"compare needs `{name}`")
        if not isinstance(self.scale, int):  # "4" from YAML is not a scale; checked with the CLI's own validator
            raise ScaleError(f"scale must be a positive integer such as 2 or 4, got {self.scale!r}")
        check_scale(self.scale, "scale")
        self.sr = split_sr(self.sr) + split_sr(self.conditions)
        self.conditions = []
        self.detectors = parse_detectors(self.detectors)
        self._check_sr_names(self.specs())  # bad SR@LABEL=DETECTOR syntax, unknown labels and names fail here
        self.tile = check_tile(self.tile)
        self._check_types()
        if self.bootstrap < 0:
            raise InputError(f"bootstrap must be >= 0, got {self.bootstrap}")
        if self.limit is not None:
            from ..data.ground_truth import check_limit

            check_limit(self.limit, "limit (--limit)")
        if self.cache not in (None, False, True, ""):
            from .cache import check_cache_dir

            check_cache_dir(str(self.cache), create=False)  # a file in the way fails now, not after the detector loads
        if self.threads is not None:
            check_threads(self.threads, "threads")
        self.degradation_spec()  # bad degradation options fail here
        self._check_native()
        self.pairs = pair_texts(self.pairs, None if self.native else ["hr", "lr", "bicubic", *(s.name for s in self.specs())])
        return self

    def _check_native(self) -> None:
        """--slice, --merge and --native fit together (slicing is a native-mode setting; see evaluation/native.py)."""
        from .native import Slicing

        if not isinstance(self.native, bool):
            raise InputError(f"native must be true or false, got {self.native!r}")
        if self.slice is not None:
            if not self.native:
                raise InputError("--slice applies to native-resolution comparisons: add --native (or drop --slice)")
            Slicing.parse(self.slice, self.merge)
        elif self.merge != "nms:iou:0.5":
            raise InputError(f"--merge {self.merge} merges the boxes of slices: add --native --slice SIZE[:OVERLAP]")
        if self.native and (
            any(v is not None for v in (self.blur_sigma, self.noise_std, self.jpeg_quality))
            or self.degradation not in (None, "clean")
        ):
            raise InputError(
                "native mode has no synthetic degradation: drop --degradation / --blur-sigma / --noise-std / --jpeg-quality"
            )
        if self.native and self.save_images is not None:
            raise InputError("--save-images writes SR conditions of the LR protocol; native mode does not write images")
        if self.native:
            labelled = [s.name for s in self.specs() if s.detector is not None or s.input != "sr"]
            if labelled:
                raise InputError(
                    f"native mode: {labelled[0]!r} is not an SR model; the conditions are 'native' (always) and SR models "
                    "(zoo names, weight files, name=path); detectors per condition (SR@LABEL) are not supported here"
                )

    @staticmethod
    def _check_sr_names(specs: list) -> None:
        """An SR entry that is neither a zoo name nor anything path-like (``espcm``) is a typo: named now, with the
        nearest zoo names, rather than after the data and the detector have loaded."""
        from ..models import list_models
        from .conditions import _looks_like_path

        names = list_models()
        for spec in specs:
            if spec.input == "sr" and spec.source not in names and not _looks_like_path(spec.source):
                raise InputError(
                    f"SR condition {spec.name!r}: {spec.source!r} is neither a model name nor an existing weight file"
                    f"{did_you_mean(spec.source, names)}; models: {', '.join(names)}"
                )

    def _check_types(self) -> None:
        """Each option's type and range, so a YAML typo (``conf: low``, ``bootstrap: "100"``, ``imgsz: 0``) fails here
        with the option's name instead of as a TypeError deep in the run (or not at all)."""

        def fail(name: str, want: str) -> None:
            value = getattr(self, name)
            numeric = "number" in want or "integer" in want
            hint = (
                " (YAML reads a quoted value, and 1e-3 without a dot, as text: write 0.001 or 1.0e-3)"
                if numeric and isinstance(value, str)
                else ""
            )
            raise InputError(f"{name} must be {want}, got {value!r} ({type(value).__name__}){hint}")

        def is_int(v: Any) -> bool:
            return isinstance(v, numbers.Integral) and not isinstance(v, bool)

        def is_number(v: Any) -> bool:
            return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)

        def is_path(v: Any) -> bool:
            return isinstance(v, (str, os.PathLike))

        for name in ("data", "detector", "out"):
            if not is_path(getattr(self, name)):
                fail(name, "a path (text)")
        for name in ("images", "mos", "save_images"):
            if getattr(self, name) is not None and not is_path(getattr(self, name)):
                fail(name, "a path (text) or None")
        if not isinstance(self.split, str) or not self.split:
            fail("split", "a split name such as 'val'")
        if not is_int(self.imgsz) or self.imgsz < 32:
            fail("imgsz", "an integer >= 32 (the detector input size, e.g. 640)")
        for name in ("conf", "iou"):
            if not is_number(getattr(self, name)) or not 0 <= getattr(self, name) <= 1:
                fail(name, "a number in [0, 1]")
        if not is_int(self.max_det) or self.max_det < 1:
            fail("max_det", "an integer >= 1")
        if not is_int(self.max_dets) or self.max_dets < 1:
            fail("max_dets", "an integer >= 1 (COCO's default is 100)")
        if not is_number(self.ci_level) or not 0.5 <= self.ci_level < 1:
            fail("ci_level", "a number in [0.5, 1), e.g. 0.95")
        for name in ("bootstrap", "seed"):
            if not is_int(getattr(self, name)):
                fail(name, "an integer")
        if self.threads is not None and not is_int(self.threads):
            fail("threads", "an integer >= 1 or None")
        if self.device is not None and not isinstance(self.device, str):
            fail("device", "a device name such as 'cpu' or 'cuda:0' (text), or None")
        runtimes = BACKENDS + GPU_BACKENDS
        for name, choices in (("coco_eval", COCO_EVALS), ("class_map", ("names", "index", "sorted")), ("backend", runtimes)):
            value = getattr(self, name)
            if value not in choices:
                raise InputError(f"{name} must be one of {list(choices)}, got {value!r}{did_you_mean(value, choices)}")
        from ..models.runtime import check_runtime

        check_runtime(self.backend, self.precision)
        if not (self.cache is None or isinstance(self.cache, bool) or is_path(self.cache)):
            fail("cache", "a folder (text), False (no cache) or None (the default folder)")
        for name in ("progress", "overwrite"):
            if not isinstance(getattr(self, name), bool):
                fail(name, "true or false")
        if not isinstance(self.extra_config, dict):
            fail("extra_config", "a mapping")

    def specs(self) -> list:
        """The parsed ``sr`` entries (:meth:`~.conditions.SRSpec.parse`), their detector labels checked against
        ``detectors`` (nothing is loaded)."""
        from .condition_detectors import detector_sources
        from .conditions import SRSpec

        specs = [SRSpec.parse(s) for s in self.sr]
        detector_sources(specs, parse_detectors(self.detectors))  # a no-op on what checked() already parsed
        return specs

    def degradation_spec(self):
        """The :class:`~sr4det.degradation.DegradationSpec` of ``degradation`` (a preset) with ``blur_sigma``,
        ``noise_std`` and ``jpeg_quality``, where set, replacing the preset's values."""
        from ..degradation import with_preset

        return with_preset(
            self.degradation,
            self.scale,
            seed=self.seed,
            blur_sigma=self.blur_sigma,
            noise_std=self.noise_std,
            jpeg_quality=self.jpeg_quality,
        )

    # ----------------------------------------------------------------------------------- run

    def settings(self, **changes: Any) -> Settings:
        """The frozen :class:`~.settings.Settings` these options run with (``changes``: fields replaced, e.g. the
        native mode's ``scale=1``)."""
        from .settings import Settings

        values: dict[str, Any] = {
            "scale": self.scale,
            "degradation": self.degradation_spec(),
            "coco_eval": self.coco_eval,
            "n_resamples": self.bootstrap,
            "seed": self.seed,
            "confidence": self.ci_level,
            "tile": self.tile,
            "device": self.device,
            "limit": self.limit,
            "progress": self.progress,
            "extra_config": self.extra_config or None,
            "mos": self.mos,
            "save_images": self.save_images,
            "max_dets": self.max_dets,
            "pairs": self.pairs,
        }
        return Settings(**{**values, **changes})

    def run(self) -> dict[str, Any]:
        """Load the data and the ultralytics detector, run the comparison, write ``out``; returns the results dict
        (:func:`~.api.run_from_config`). Under torchrun the process group is set up first, so each rank builds its
        detector on its own device."""
        from .api import run_from_config

        return run_from_config(self.checked())

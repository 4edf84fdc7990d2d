"""Building a MOS study: HR scenes, their LR versions, each method's upscaled output, all in one SQLite file.

The degradation is sr4det's one degradation (:mod:`sr4det.degradation`, the evaluator's): HR mod-cropped to a
multiple of the scale, then MATLAB ``imresize`` bicubic down, rounded to uint8 (plus blur, noise or JPEG if the
study asks for them, exactly as ``sr4det compare`` makes them). Every method then sees exactly the same LR image.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from .._files import atomic_path
from .._run_folder import locked_file
from ..data.io import from_tensor, list_images, read_image, to_tensor
from ..degradation import DegradationSpec
from ..errors import DataError, InputError
from .storage import ANCHORS, connect, init_schema, transaction

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")


@dataclass
class MethodSpec:
    """One method of a study: a display ``name`` and how to get its output.

    ``kind`` is ``"zoo"`` (``target`` is a zoo name), ``"weights"`` (``target`` is a weight file for
    :func:`sr4det.load_model`), ``"outputs"`` (``target`` is a folder of ready-made outputs named like
    the HR files) or ``"hr"`` (the original).
    """

    name: str
    kind: str
    target: str


def parse_methods(spec: str | Sequence[str]) -> list[MethodSpec]:
    """Parse ``"bicubic,espcn,mine=runs/best.pt,weights/edsr_x4.pt"`` into method specs.

    An item is a zoo name, a weight file (named by its stem), or ``NAME=ZOO_OR_PATH``. A path to a folder
    is taken as ready-made outputs (file stems must match the HR images). ``hr`` and ``bicubic`` are
    added as anchors if missing.

    Raises:
        InputError: unknown name, missing file, bad or duplicate display name.
    """
    from ..models import list_models

    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s and s.strip()]
    zoo = set(list_models())
    out: list[MethodSpec] = []
    for item in items:
        name, sep, target = item.partition("=")
        if not sep:
            name, target = "", item
        target = target.strip()
        if target == "hr":
            kind, default_name = "hr", "hr"
        elif target in zoo:
            kind, default_name = "zoo", target
        elif Path(target).is_dir():
            kind, default_name = "outputs", Path(target).name
        elif Path(target).is_file():
            kind, default_name = "weights", Path(target).stem
        else:
            raise InputError(
                f"unknown method {target!r}: not a zoo model ({', '.join(sorted(zoo))}), weight file or output folder"
            )
        name = name.strip() or default_name
        if not _NAME_RE.match(name):
            raise InputError(f"bad method name {name!r}: use letters, digits and _.+- (at most 64 characters)")
        if name == "hr" and kind != "hr":
            raise InputError("the method name 'hr' is reserved for the original images")
        out.append(MethodSpec(name, kind, target))
    names = [m.name for m in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"duplicate method names {dupes}; name them explicitly with NAME=MODEL")
    # anchors first: HR (best possible) and bicubic (the baseline every SR paper beats)
    anchors = [MethodSpec("hr", "hr", "hr"), MethodSpec("bicubic", "zoo", "bicubic")]
    return [a for a in anchors if a.name not in names] + out


def _load(method: MethodSpec, scale: int, device: str | None):
    from ..models import resolve_model

    # zoo names load pretrained weights (interpolation baselines need none); paths go through load_model
    return resolve_model(method.target, scale, pretrained=True, device=device)


def _upscaler(model) -> Callable[[torch.Tensor], torch.Tensor]:
    """(C,H,W) float in [0,1] -> (C,sH,sW): the memory-aware tiler when present, else one direct call."""
    if importlib.util.find_spec("sr4det.tiling") is not None:
        from ..tiling import upscale

        return lambda x: upscale(model, x)

    def direct(x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return model(x.unsqueeze(0).to(model.device))[0].cpu()

    return direct


def _to_rgb8(img: np.ndarray, path: Path) -> np.ndarray:
    """Any image read_image returns -> uint8 RGB (H, W, 3): gray repeated, alpha dropped, 16-bit rounded."""
    if img.dtype == np.uint16:
        img = np.round(img.astype(np.float64) / 257.0).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.shape[2] == 4:
        img = img[..., :3]
    if img.dtype != np.uint8 or img.shape[2] != 3:
        raise DataError(f"{path}: cannot use an image of dtype {img.dtype} and shape {img.shape}")
    return np.ascontiguousarray(img)


def prepare_hr(img: np.ndarray, scale: int, max_size: int | None = None) -> np.ndarray:
    """Centre-crop to at most ``max_size`` per side, then mod-crop (top-left kept) to a multiple of ``scale``."""
    h, w = img.shape[:2]
    if max_size is not None and (h > max_size or w > max_size):
        top, left = max(0, (h - max_size) // 2), max(0, (w - max_size) // 2)
        img = img[top : top + max_size, left : left + max_size]
        h, w = img.shape[:2]
    h, w = h - h % scale, w - w % scale
    return np.ascontiguousarray(img[:h, :w])


def degrade(hr: np.ndarray, scale: int, degradation: DegradationSpec | None = None) -> np.ndarray:
    """uint8 RGB HR (sides multiples of ``scale``) -> LR by :func:`sr4det.degradation.degrade`.

    ``degradation`` defaults to ``DegradationSpec(scale)``: MATLAB bicubic ``imresize(hr, 1/scale)``, uint8.
    """
    spec = DegradationSpec(scale) if degradation is None else degradation
    if spec.scale != scale:
        raise InputError(f"degradation scale x{spec.scale} differs from the study's x{scale}; make them equal")
    return spec(hr)


def _png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(img[..., ::-1]))
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
        raise InputError(f"cannot encode image of shape {img.shape} as PNG")
    return buf.tobytes()


def _find_output(folder: Path, stem: str) -> Path:
    hits = [p for p in list_images(folder) if p.stem == stem]
    if not hits:
        raise DataError(f"output folder {folder} has no image named {stem}.* (needed for that HR image)")
    if len(hits) > 1:  # e.g. a.png and a.jpg left by two runs: picking one would rate an image nobody chose
        raise DataError(
            f"output folder {folder} has {len(hits)} images named {stem}.* ({', '.join(p.name for p in hits)}); keep the "
            "one that belongs to this method and move the others out"
        )
    return hits[0]


def create_study(
    images: str | Path | Sequence[str | Path],
    db: str | Path,
    *,
    scale: int = 4,
    methods: str | Sequence[str] = ("bicubic",),
    limit: int | None = None,
    max_size: int | None = None,
    images_per_rater: int | None = None,
    seed: int | None = None,
    device: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    degradation: DegradationSpec | None = None,
) -> Path:
    """Create a MOS study database.

    Args:
        images: folder(s) or files of HR images (8/16-bit, gray/RGB/RGBA; used as uint8 RGB).
        db: the SQLite file to create (written to a temp file and renamed, so it is never half-made).
        scale: SR factor; HR is mod-cropped to a multiple of it and shrunk with MATLAB bicubic.
        methods: see :func:`parse_methods`; ``hr`` and ``bicubic`` are always included.
        limit: use only the first N images (sorted by name).
        max_size: centre-crop HR to at most this many pixels per side first (keeps pages viewable).
        images_per_rater: each rater sees only this many images: the ones assigned least often so far
            (ties broken at random), so the study is covered evenly.
        seed: seeds image ids and every rater's order (random if None; stored in the study).
        device: where models run (default CPU).
        overwrite: replace an existing ``db`` (otherwise refuse, so no ratings are lost by accident).
        progress: show a tqdm bar.
        degradation: blur / noise / JPEG of the LR images (a :class:`~sr4det.degradation.DegradationSpec` at
            ``scale``; default plain MATLAB bicubic). Noise uses the spec's seed, not ``seed``.

    Returns:
        The path of the new study.

    Raises:
        InputError: bad arguments or methods; DataError: unreadable images, mismatched output sizes;
        WeightsNotAvailableError: a zoo model without pretrained weights.
    """

    db = Path(db)
    degradation = _checked_arguments(db, scale, overwrite, limit, degradation, images_per_rater)
    paths = _hr_paths(images, limit)
    specs = parse_methods(methods)
    models = {m.name: _upscaler(_load(m, scale, device)) for m in specs if m.kind in ("zoo", "weights")}
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    rng = np.random.default_rng(seed)
    ids = (rng.permutation(len(paths) * len(specs)) + 1).tolist()  # ids say nothing about the method

    with locked_file(db):  # one writer: a concurrent create of this db is refused, naming the other process
        if db.exists() and not overwrite:  # created while this one loaded its models
            raise InputError(f"{db} already exists; choose another path or pass overwrite=True (--overwrite) to replace it")
        _write_db(db, paths, specs, models, ids, seed, scale, degradation, images_per_rater, max_size, progress)
    return db


def _checked_arguments(
    db: Path,
    scale: Any,
    overwrite: bool,
    limit: int | None,
    degradation: DegradationSpec | None,
    images_per_rater: int | None,
) -> DegradationSpec:
    """Refuse bad :func:`create_study` arguments before any model loads; returns the degradation (default: plain
    MATLAB bicubic at ``scale``)."""
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 2:
        raise InputError(f"scale must be an integer >= 2, got {scale!r}")
    if db.exists() and not overwrite:
        raise InputError(f"{db} already exists; choose another path or pass overwrite=True (--overwrite) to replace it")
    if limit is not None and limit < 1:
        raise InputError(f"limit must be >= 1, got {limit}")
    degradation = DegradationSpec(scale) if degradation is None else degradation
    if not isinstance(degradation, DegradationSpec) or degradation.scale != scale:
        raise InputError(f"degradation must be a DegradationSpec at the study's scale x{scale}, got {degradation!r}")
    if images_per_rater is not None and images_per_rater < 1:
        raise InputError(f"images_per_rater must be >= 1, got {images_per_rater}")
    return degradation


def _hr_paths(images: str | Path | Sequence[str | Path], limit: int | None) -> list[Path]:
    """The HR image files (sorted, the first ``limit``); their stems name the scenes, so they must be unique."""
    paths = list_images(*([images] if isinstance(images, (str, Path)) else images))
    if not paths:
        raise DataError(f"no images found in {images}")
    stems = [p.stem for p in paths]
    if len(set(stems)) != len(stems):
        raise DataError("HR image names must be unique without their extension (they name the scenes)")
    return paths[:limit] if limit else paths


def _write_db(
    db: Path,
    paths: list[Path],
    specs: list[MethodSpec],
    models: dict[str, Any],
    ids: list[int],
    seed: int,
    scale: int,
    degradation: DegradationSpec,
    images_per_rater: int | None,
    max_size: Any,
    progress: bool,
) -> None:
    """Write the study atomically; the database holds rater names and ratings, so it is private (0600)."""
    from .._progress import tqdm

    with atomic_path(db) as tmp:
        os.unlink(tmp)  # sqlite makes its own file (and -wal/-shm beside it)
        try:
            conn = connect(tmp, must_exist=False)
            os.chmod(tmp, 0o600)  # rater names: readable by its owner only (the rename keeps the mode)
            try:
                meta: dict[str, Any] = {
                    "scale": scale,
                    "seed": seed,
                    "degradation": degradation.config(),
                    "max_size": max_size,
                    "images_per_rater": images_per_rater,
                    "methods": [m.name for m in specs],
                }
                method_ids = _init_study(conn, meta, specs)
                for path in tqdm(paths, desc="mos create", unit="img", disable=not progress):
                    hr, outs = _scene(path, specs, models, scale, degradation, max_size)
                    _insert_scene(conn, path.stem, hr, outs, method_ids, ids)
            finally:
                conn.close()
            # a stale -wal/-shm of a replaced study would be replayed into the new file: remove them first
            for suffix in ("-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
        finally:  # the temporary database itself is renamed (or removed) by atomic_path
            for suffix in ("-wal", "-shm"):
                if os.path.exists(tmp + suffix):
                    os.unlink(tmp + suffix)


def _init_study(conn: Any, meta: dict[str, Any], specs: list[MethodSpec]) -> dict[str, int]:
    """The schema, the study's settings and its methods; returns {method name: method id}."""
    init_schema(conn, meta)
    with transaction(conn):
        conn.executemany(
            "INSERT INTO methods(name, source, anchor) VALUES (?, ?, ?)",
            [(m.name, f"{m.kind}:{m.target}", int(m.name in ANCHORS)) for m in specs],
        )
    return {r["name"]: r["id"] for r in conn.execute("SELECT id, name FROM methods")}


def _scene(
    path: Path,
    specs: list[MethodSpec],
    models: dict[str, Any],
    scale: int,
    degradation: DegradationSpec,
    max_size: int | None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One HR image -> (HR uint8 RGB (H, W, 3) mod-cropped, {method name: its output of the same shape})."""
    arr, _ = read_image(path)
    hr = prepare_hr(_to_rgb8(arr, path), scale, max_size)
    if hr.shape[0] < scale or hr.shape[1] < scale:
        raise DataError(f"{path}: too small ({arr.shape[:2]}) for x{scale}")
    lr_t = to_tensor(degrade(hr, scale, degradation))
    outs: dict[str, np.ndarray] = {}
    for m in specs:
        if m.kind == "hr":
            out = hr
        elif m.kind == "outputs":
            out = _to_rgb8(read_image(_find_output(Path(m.target), path.stem))[0], path)
        else:
            out = from_tensor(models[m.name](lr_t), np.uint8)
        if out.shape != hr.shape:
            raise DataError(f"{m.name} output for {path.name} is {out.shape}, HR is {hr.shape}")
        outs[m.name] = out
    return hr, outs


def _insert_scene(
    conn: Any, stem: str, hr: np.ndarray, outs: dict[str, np.ndarray], method_ids: dict[str, int], ids: list[int]
) -> None:
    """Store one scene and its images (each takes the next of the shuffled ``ids``) in one transaction: a scene is
    either fully in the study or absent."""
    with transaction(conn):
        cur = conn.execute("INSERT INTO sources(name, width, height) VALUES (?, ?, ?)", (stem, hr.shape[1], hr.shape[0]))
        sid = cur.lastrowid
        for name, out in outs.items():
            png = _png(out)
            conn.execute(
                "INSERT INTO images(id, source_id, method_id, png, sha256, width, height) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (ids.pop(), sid, method_ids[name], png, hashlib.sha256(png).hexdigest(), out.shape[1], out.shape[0]),
            )

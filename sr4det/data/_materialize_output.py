"""Where :func:`~sr4det.data.materialize.materialize` may write: the settings manifest (``materialize.json``: a rerun
with other settings, or other SR weights of the same architecture, is refused unless ``overwrite``) and no output
file may be one of the dataset's own files; and how the YOLO and COCO writers (:mod:`._materialize_yolo`,
:mod:`._materialize_coco`) write there: an output image's name, text files written atomically, and the files only
rank 0 writes under torchrun."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._files import atomic_write, replacing_sources
from ..errors import InputError

if TYPE_CHECKING:
    from .._distributed import DistContext

MANIFEST = "materialize.json"

# the image loop of sr4det.data.materialize with the run's settings bound: (source, target) pairs -> the source (H, W)
# of every image on rank 0, None on the other ranks
ImageLoop = Callable[[list[tuple[Path, Path]]], dict[Path, tuple[int, int]] | None]


def _check_manifest(output: Path, config: dict[str, Any], overwrite: bool, write: bool = True) -> None:
    manifest = output / MANIFEST
    if manifest.is_file() and not overwrite:
        try:
            old = json.loads(manifest.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(
                f"{manifest} is not a readable materialize manifest ({exc}); pass --overwrite to replace the folder's "
                "outputs, or choose another output folder"
            ) from None
        if _without_digest(old.get("config"), config) != config:
            raise InputError(
                f"{output} was materialized with other settings ({old.get('config')}); "
                "choose another output folder or pass overwrite=True (--overwrite)"
            )
    if write:
        atomic_write(manifest, json.dumps({"config": config}, indent=2))


def _without_digest(old: Any, new: dict[str, Any]) -> Any:
    """``old`` with the SR weights' digest of ``new`` when ``old`` (a manifest of an earlier version) has none."""
    if isinstance(old, dict) and isinstance(old.get("sr"), dict) and new.get("sr") and "weights_sha256" not in old["sr"]:
        return {**old, "sr": {**old["sr"], "weights_sha256": new["sr"]["weights_sha256"]}}
    return old


def _refuse_dataset_folder(output: Path, data: Path) -> None:
    """``output`` the folder of the dataset file itself is refused before anything (a lock file included) is made
    there; outputs elsewhere inside the dataset are caught file by file (:func:`_refuse_replacing_sources`)."""
    if os.path.realpath(output) == os.path.realpath(data.parent):
        raise InputError(
            f"output {output} is the folder of {data.name}: the outputs would replace the dataset's own files; write "
            "to a folder outside the dataset (-o/--output)"
        )


def _refuse_replacing_sources(sources: list[Path], targets: list[Path]) -> None:
    """No target may be a source file (``output`` the dataset's own folder would replace the dataset's images, labels
    and yaml/json with their degraded copies, or skip the images as "already written")."""
    clashes = replacing_sources(sources, targets)
    if clashes:
        raise InputError(
            f"{len(clashes)} output file(s) would replace the dataset's own files (e.g. {clashes[0]}); write to a "
            "folder outside the dataset (-o/--output)"
        )


def _out_name(path: Path, fmt: str | None) -> Path:
    """``path`` with the output image extension ``fmt`` (``".png"``); None keeps its own."""
    return path.with_suffix(fmt) if fmt else path


def _write_text(path: Path, text: str) -> None:
    atomic_write(path, text)


def _on_main(ctx: DistContext, fn, what: str) -> None:
    """Run ``fn`` on rank 0 only; if it raises, every rank raises (the others a RankFailedError naming it)."""
    ctx.step(lambda: fn() if ctx.is_main else None, what)

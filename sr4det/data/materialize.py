"""Write a degraded + super-resolved copy of a YOLO or COCO dataset, so detector training reuses SR output.

``materialize(data, output, degrade=4, sr="espcn")``:

* **YOLO** (``data.yaml``): every image of every split (``train``/``val``/``test``; folders, ``.txt`` lists or
  lists of either) is written under ``output`` at the same path relative to the dataset root, with its label
  file at ultralytics' ``images -> labels`` path, plus ``output/data.yaml`` (absolute ``path:``, same splits
  and names). Images shared by several splits are processed once.
* **COCO** (``instances.json``): images under ``output/images/`` (same relative file names), and
  ``output/annotations.json`` with image sizes, boxes, areas, polygons and RLE masks rescaled.

Geometry: ``Degrade`` mod-crops each image to a multiple of its scale (bottom/right), then downsizes; SR
upsizes by its own scale. Labels are cropped to the mod-cropped frame (boxes clamped, ones left empty are
dropped) and multiplied by ``sr_scale / degrade_scale`` (1 with SR, ``1 / scale`` without). Output images are
written losslessly (PNG by default) so no new JPEG artefacts confound the SR comparison.

Resumable: images whose output file exists are skipped, and ``output/materialize.json`` records the
settings; rerunning with other settings into the same folder raises unless ``overwrite=True``.

Sharded under torchrun (``torchrun --nproc_per_node N --no-python sr4det materialize ...``) as ``compare`` is
(the torchrun helpers of :mod:`sr4det._distributed`): each rank degrades and super-resolves its contiguous shard
of the images (one output file per image, written atomically, so ranks never write the same file), the source image sizes
are gathered to rank 0, which alone writes ``materialize.json``, the split lists, the labels and
``data.yaml`` / ``annotations.json``; a rank that raises fails the run on every rank with its message. The
outputs are byte-identical to a single process's. Outside torchrun everything runs in one process.

This module holds the entry point, the Degrade + SR pipeline and the image loop; each format's reading, label checks
and label / list / yaml / json writing live in :mod:`._materialize_yolo` and :mod:`._materialize_coco`, the output
folder's checks (manifest, no dataset file replaced) in :mod:`._materialize_output`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._digest import state_digest
from .._run_folder import open_run_folder
from ..degradation import DegradationSpec
from ..errors import DataError, InputError, ScaleError
from ..transforms import Degrade, SRTransform
from ._materialize_coco import _materialize_coco
from ._materialize_output import _check_manifest, _refuse_dataset_folder
from ._materialize_yolo import _materialize_yolo
from .io import IMAGE_EXTENSIONS, check_format, read_image, write_image

if TYPE_CHECKING:
    from .._distributed import DistContext


class _Pipeline:
    def __init__(self, degrade: Degrade | DegradationSpec | int | None, sr: Any, tile: Any, device: Any, pretrained: bool):
        degrade = Degrade.coerce(degrade)
        if sr is not None and not isinstance(sr, SRTransform):
            sr = SRTransform(sr, scale=degrade.scale if degrade else None, tile=tile, device=device, pretrained=pretrained)
        if degrade is None and sr is None:
            raise InputError("materialize needs degrade=..., sr=... or both")
        self.degrade, self.sr = degrade, sr
        self.down = degrade.scale if degrade else 1
        self.up = sr.scale if sr else 1
        if degrade is not None and sr is not None and self.up != self.down:
            raise ScaleError(f"SR x{self.up} does not undo Degrade x{self.down}")

    @property
    def factor(self) -> float:
        """Output pixels per input pixel (after the mod-crop)."""
        return self.up / self.down

    def crop_size(self, h: int, w: int) -> tuple[int, int]:
        return h - h % self.down, w - w % self.down

    def out_size(self, h: int, w: int) -> tuple[int, int]:
        ch, cw = self.crop_size(h, w)
        return ch // self.down * self.up, cw // self.down * self.up

    def __call__(self, image: np.ndarray) -> np.ndarray:
        x = self.degrade(image) if self.degrade else image
        return self.sr(x) if self.sr else x

    def config(self) -> dict[str, Any]:
        return {
            "degrade": self.degrade.config if self.degrade else None,
            # the weights' digest: two files (or pretrained and random weights) of one architecture share a name
            "sr": {
                "model": self.sr.model_name,
                "scale": self.sr.scale,
                "weights_sha256": state_digest(self.sr.model),
                **_runtime(self.sr.model),
            }
            if self.sr
            else None,
        }


def _runtime(model: Any) -> dict[str, str]:
    """A compiled SR runtime (SRModel.set_runtime), recorded only when not torch: configs of torch runs stay as they were."""
    backend = getattr(model, "backend", "torch")
    return {} if backend == "torch" else {"backend": backend, "precision": model.precision}


def _process_images(
    jobs: list[tuple[Path, Path]], pipe: _Pipeline, overwrite: bool, progress: bool, ctx: DistContext
) -> dict[Path, tuple[int, int]] | None:
    """Run the pipeline on this rank's shard of the (source, target) pairs; returns the source (H, W) of every
    image on rank 0 (gathered from all ranks), None on the others."""
    mine = ctx.shard(jobs)
    sizes = ctx.step(lambda: _process_shard(mine, pipe, overwrite, progress and ctx.is_main), "SR of the images")
    parts = ctx.gather(sizes, "image sizes")
    if parts is None:
        return None
    return {src: size for part in parts for src, size in part.items()}


def _process_shard(
    jobs: list[tuple[Path, Path]], pipe: _Pipeline, overwrite: bool, progress: bool
) -> dict[Path, tuple[int, int]]:
    """Run the pipeline on (source, target) pairs; returns the source (H, W) of every image. The next sources are
    decoded ahead and the outputs written behind, in order (:func:`sr4det._overlap.overlapped`): the files are those
    of the serial loop, and an error is raised for the image whose turn it is (a write error at the next image)."""
    from .._overlap import overlapped
    from .._progress import tqdm

    items: list[tuple[Path, Path, bool]] = []
    seen: set[Path] = set()
    for src, dst in jobs:  # (source, target, target written by an earlier job of this shard: two sources, one target)
        items.append((src, dst, dst in seen))
        seen.add(dst)

    def fetch(item: tuple[Path, Path, bool]) -> tuple[str, Any]:
        """("skip", source (H, W)) where the serial loop finds the target written (before the run, or by an earlier
        job) and does not ``overwrite``; else ("image", the decoded image)."""
        src, dst, earlier = item
        if not overwrite and (earlier or dst.is_file()):
            return "skip", _source_size(src)
        image, info = read_image(src)
        check_format(dst.suffix, info.dtype, info.channels, src)  # e.g. 16-bit/RGBA input with format ".jpg"
        return "image", image

    sizes: dict[Path, tuple[int, int]] = {}
    with overlapped(fetch, items) as (fetched, writer):
        for (src, dst), (kind, value) in tqdm(
            zip(jobs, fetched, strict=True), desc="materialize", unit="img", disable=not progress, total=len(jobs)
        ):
            writer.check()
            sizes[src] = value if kind == "skip" else value.shape[:2]
            if kind == "skip":
                continue
            if min(value.shape[:2]) < pipe.down:
                raise DataError(f"{src} ({value.shape[1]}x{value.shape[0]}) is smaller than the scale {pipe.down}")
            writer.submit(functools.partial(write_image, dst, pipe(value)))
    return sizes


def _source_size(path: Path) -> tuple[int, int]:
    from .io import image_size

    size = image_size(path)  # EXIF orientation applied, as read_image
    if size is None:
        raise DataError(f"cannot read the size of {path}")
    return size


# ------------------------------------------------------------------------------------------------ API
def materialize(
    data: str | Path,
    output: str | Path,
    degrade: Degrade | int | None = 4,
    sr: Any = "espcn",
    *,
    images: str | Path | None = None,
    splits: list[str] | None = None,
    image_format: str | None = ".png",
    tile: Any = "auto",
    device: Any = None,
    pretrained: bool = True,
    overwrite: bool = False,
    progress: bool = True,
    threads: int | None = None,
    dist: DistContext | None = None,
) -> Path:
    """Write the Degrade + SR copy of a dataset (see the module docstring).

    Args:
        data: an ultralytics dataset ``.yaml`` or a COCO ``.json``.
        output: the folder to write (created; reruns resume).
        degrade: a :class:`~sr4det.transforms.Degrade`, an int scale, or None (images already LR).
        sr: an :class:`~sr4det.transforms.SRTransform`, a model spec it accepts, or None (write the LR images).
        images: COCO only: the image folder (default: guessed from the json's location).
        splits: YOLO only: which splits (default all of train/val/test present).
        image_format: output extension (``".png"``); None keeps each input's extension.
        tile, device, pretrained: for building the SRTransform from a spec.
        overwrite: recompute existing outputs and accept other settings than the folder's manifest.
        progress: tqdm progress bar (rank 0 only under torchrun).
        threads: torch intra-op threads (default: torch's; under torchrun cores / ranks on the node).
        dist: a :class:`~sr4det.evaluation.distributed.DistContext` (default:
            :func:`~sr4det.evaluation.distributed.setup` from the environment: sharded under torchrun).

    Returns:
        The new ``data.yaml`` (YOLO) or ``annotations.json`` (COCO); the same path on every rank, written by
        rank 0 after every rank finished its shard.
    """
    data, output = Path(data), Path(output)
    if not data.is_file():
        raise DataError(f"dataset file not found: {data}")
    if image_format is not None and not image_format.startswith("."):
        image_format = "." + image_format
    if image_format is not None and image_format.lower() not in IMAGE_EXTENSIONS:
        raise InputError(f"unsupported image format {image_format!r}; choose from {IMAGE_EXTENSIONS}")
    from .._distributed import setup

    ctx = dist if dist is not None else setup(threads)
    locked: list[Any] = []
    try:
        if ctx.is_main:  # one owner (rank 0 for the launch): a concurrent materialize into output is refused
            # the dataset's own folder is refused before a lock file is made there; --overwrite removes the earlier
            # run's journaled outputs (images, labels, lists, yaml/json) first, so none of them outlives it
            _refuse_dataset_folder(output, data)
            locked.append(open_run_folder(output, "materialize", None, overwrite=overwrite, option="-o/--output (output=)"))
        record = locked[0].record if locked else (lambda *paths: None)
        if device is None or isinstance(device, str):
            device = ctx.device(device)  # cuda:LOCAL_RANK per rank under torchrun
        pipe = _Pipeline(degrade, sr, tile, device, pretrained)
        output.mkdir(parents=True, exist_ok=True)
        config = {**pipe.config(), "source": str(data.resolve()), "image_format": image_format}
        # every rank checks the settings, rank 0 alone (re)writes the manifest
        ctx.step(lambda: _check_manifest(output, config, overwrite, write=ctx.is_main), "the settings check")

        def process_images(jobs: list[tuple[Path, Path]]) -> dict[Path, tuple[int, int]] | None:
            """The image loop with these settings (:func:`_process_images`, looked up when called)."""
            return _process_images(jobs, pipe, overwrite, progress, ctx)

        if data.suffix.lower() in (".yaml", ".yml"):
            return _materialize_yolo(data, output, pipe, splits, image_format, process_images, ctx, record)
        if data.suffix.lower() == ".json":
            return _materialize_coco(
                data, Path(images) if images else None, output, pipe, image_format, process_images, ctx, record
            )
        raise InputError(f"{data}: expected a dataset .yaml (YOLO) or a COCO .json")
    finally:
        for folder in locked:
            folder.release()
        if dist is None:
            ctx.close()

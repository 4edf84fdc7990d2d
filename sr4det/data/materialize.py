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
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._digest import state_digest
from .._files import atomic_write
from .._run_folder import open_run_folder
from ..degradation import DegradationSpec
from ..errors import DataError, InputError, ScaleError
from ..transforms import Degrade, SRTransform
from ._materialize_output import _check_manifest, _refuse_dataset_folder, _refuse_replacing_sources
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


def _write_text(path: Path, text: str) -> None:
    atomic_write(path, text)


def _on_main(ctx: DistContext, fn, what: str) -> None:
    """Run ``fn`` on rank 0 only; if it raises, every rank raises (the others a RankFailedError naming it)."""
    ctx.step(lambda: fn() if ctx.is_main else None, what)


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


def _out_name(path: Path, fmt: str | None) -> Path:
    return path.with_suffix(fmt) if fmt else path


# ------------------------------------------------------------------------------------------------ YOLO
def _yolo_files(entry: str, root: Path, yaml_path: Path) -> list[Path]:
    p = Path(entry) if Path(entry).is_absolute() else root / entry
    if p.is_dir():
        return sorted(q for q in p.rglob("*") if q.suffix.lower() in IMAGE_EXTENSIONS)
    if p.is_file() and p.suffix == ".txt":
        out = []
        for line in p.read_text().splitlines():
            if line.strip():
                q = Path(line.strip())
                out.append(q if q.is_absolute() else (p.parent / q).resolve())
        return out
    raise DataError(f"{yaml_path}: split entry {entry!r} is neither a folder nor a .txt list ({p})")


def _yolo_label_lines(label: Path, h: int, w: int, pipe: _Pipeline) -> list[str]:
    """Re-normalise YOLO label lines (boxes ``c cx cy w h`` or polygons ``c x1 y1 ...``) to the output frame."""
    if not label.is_file():
        return []
    ch, cw = pipe.crop_size(h, w)
    out = []
    for n, line in enumerate(label.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            cls, vals = int(parts[0]), np.array([float(v) for v in parts[1:]], dtype=np.float64)
        except ValueError as exc:
            raise DataError(f"{label}:{n}: malformed label line {line!r}") from exc
        if len(vals) == 4:
            cx, cy, bw, bh = vals
            x0, x1 = np.clip([(cx - bw / 2) * w, (cx + bw / 2) * w], 0, cw)
            y0, y1 = np.clip([(cy - bh / 2) * h, (cy + bh / 2) * h], 0, ch)
            if x1 <= x0 or y1 <= y0:
                continue  # the object lay entirely in the mod-cropped strip
            new = [(x0 + x1) / 2 / cw, (y0 + y1) / 2 / ch, (x1 - x0) / cw, (y1 - y0) / ch]
        elif len(vals) >= 6 and len(vals) % 2 == 0:
            pts = vals.reshape(-1, 2) * [w, h]
            pts = np.clip(pts, 0, [cw, ch]) / [cw, ch]
            new = pts.reshape(-1).tolist()
        else:
            raise DataError(f"{label}:{n}: expected 4 box values or an even number (>= 6) of polygon values")
        out.append(" ".join([str(cls)] + [f"{v:.6f}" for v in new]))
    return out


def _materialize_yolo(
    yaml_path: Path,
    output: Path,
    pipe: _Pipeline,
    splits,
    fmt,
    overwrite,
    progress,
    ctx: DistContext,
    record: Callable[..., None],
) -> Path:
    import yaml

    from .._yaml_file import read_dataset_yaml
    from .yolo_labels import label_path

    cfg = read_dataset_yaml(yaml_path)  # ConfigError naming file, line and column; nc/names/path/splits checked
    root = Path(cfg["path"]) if cfg.get("path") else yaml_path.parent
    if not root.is_absolute():
        root = (yaml_path.parent / root) if (yaml_path.parent / root).exists() else root.resolve()
    splits = [s for s in (splits or ("train", "val", "test")) if cfg.get(s)]
    if not splits:
        raise DataError(f"{yaml_path} has none of the splits train/val/test")
    new_cfg: dict[str, Any] = {"path": str(output.resolve())}
    targets: dict[Path, Path] = {}
    lists: dict[Path, str] = {}
    source_lists: list[Path] = []
    for split in splits:
        entries = cfg[split] if isinstance(cfg[split], list) else [cfg[split]]
        new_entries = []
        for entry in entries:
            files = _yolo_files(str(entry), root, yaml_path)
            for f in files:
                try:
                    rel = f.resolve().relative_to(root.resolve())
                except ValueError:
                    rel = Path("images") / "_external" / f.name
                targets.setdefault(f, output / _out_name(rel, fmt))
            p = Path(str(entry))
            if p.suffix == ".txt":
                source_lists.append(p if p.is_absolute() else root / p)
            if p.is_absolute() or p.suffix == ".txt":  # rewrite as a list file of the new images
                lst = output / f"{split}.txt"
                lists[lst] = "".join(f"{targets[f]}\n" for f in files)
                new_entries.append(lst.name)
            else:
                new_entries.append(str(entry))
        new_cfg[split] = new_entries if len(new_entries) > 1 else new_entries[0]
    new_cfg["names"] = cfg["names"]

    def write_lists() -> None:
        for lst, text in lists.items():
            _write_text(lst, text)

    _check_yolo_labels(targets, cfg["names"])  # before any SR: a bad label would otherwise be dropped silently
    out_yaml = output / "data.yaml"
    outputs = [*targets.values(), *map(label_path, targets.values()), out_yaml, *lists]
    _refuse_replacing_sources([*targets, *map(label_path, targets), yaml_path, *source_lists], outputs)
    record(*outputs)  # journaled before the first is written (rank 0)
    _on_main(ctx, write_lists, "writing the split lists")
    sizes = _process_images(list(targets.items()), pipe, overwrite, progress, ctx)

    def finish() -> None:
        assert sizes is not None  # finish runs on rank 0, which gathered every image's size
        for src, dst in targets.items():
            h, w = sizes[src]
            lines = _yolo_label_lines(label_path(src), h, w, pipe)
            if lines or label_path(src).is_file():
                _write_text(label_path(dst), "".join(line + "\n" for line in lines))
        _write_text(out_yaml, yaml.safe_dump(new_cfg, sort_keys=False))

    _on_main(ctx, finish, "writing the labels and data.yaml")
    return out_yaml


def _check_yolo_labels(images: dict[Path, Path], names: Any) -> None:
    """Check every label file of ``images`` as :func:`~sr4det.data.load_yolo` does (coordinates normalised to [0, 1],
    class ids in ``names``, 4 box or >= 6 polygon values, no empty boxes): the rescaling below would clip pixel
    coordinates to the image edge and drop the box without a word."""
    from .._yaml_file import dataset_names
    from .yolo_labels import _read_yolo_labels, label_path

    classes = dataset_names(names, "the dataset yaml")
    for src in images:
        _read_yolo_labels(label_path(src), 1, 1, classes)


# ------------------------------------------------------------------------------------------------ COCO
def _check_coco(coco: Any, json_path: Path, image_dir: Path, jobs: list[tuple[Path, Path]]) -> None:
    """Check the json as :func:`~sr4det.data.load_coco` does (ids, categories, boxes; annotations may be absent) and
    every image's header size against its ``height`` / ``width``, before any image is processed: a negative-width
    box or an unknown category would otherwise be dropped or copied silently, a size mismatch found after all SR."""
    from .coco_json import _coco_ground_truth
    from .io import image_size

    if not isinstance(coco, dict) or not isinstance(coco.get("images"), list):
        raise DataError(f"{json_path} is not a COCO instances file: no 'images' list")
    checked = []
    for (src, _), im in zip(jobs, coco["images"], strict=True):
        size = image_size(src)  # EXIF orientation applied, as read_image; None: unreadable, reported when decoded
        json_size = (im.get("height"), im.get("width"))
        if size is not None and json_size != (None, None) and json_size != size:
            raise DataError(
                f"{json_path}: image {im['file_name']} is {size[1]}x{size[0]} but the json says "
                f"{im.get('width')}x{im.get('height')}; fix the json's sizes (or the image) so the boxes match its pixels"
            )
        fill = size or (1, 1)
        checked.append({**im, "height": im.get("height", fill[0]), "width": im.get("width", fill[1])})
    data = {"categories": [], **coco, "annotations": coco.get("annotations") or [], "images": checked}
    _coco_ground_truth(data, json_path, image_dir)


def _scale_rle(seg: Any, h: int, w: int, pipe: _Pipeline) -> dict[str, Any]:
    import cv2
    from pycocotools import mask as mask_utils

    rle = mask_utils.frPyObjects(seg, h, w) if isinstance(seg.get("counts"), list) else seg
    m = mask_utils.decode(rle)
    ch, cw = pipe.crop_size(h, w)
    oh, ow = pipe.out_size(h, w)
    m = cv2.resize(np.ascontiguousarray(m[:ch, :cw]), (ow, oh), interpolation=cv2.INTER_NEAREST)
    out = mask_utils.encode(np.asfortranarray(m.astype(np.uint8)))
    out["counts"] = out["counts"].decode("ascii")
    return out


def _materialize_coco(
    json_path: Path,
    images: Path | None,
    output: Path,
    pipe: _Pipeline,
    fmt,
    overwrite,
    progress,
    ctx: DistContext,
    record: Callable[..., None],
) -> Path:
    from .coco_json import _find_image_dir

    try:
        coco = json.loads(json_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read COCO json {json_path}: {exc}") from exc
    image_dir = Path(images) if images else _find_image_dir(json_path)
    by_id = {}
    jobs = []
    for im in coco.get("images", []):
        src = image_dir / im["file_name"]
        if not src.is_file():
            raise DataError(f"{json_path}: image {im['file_name']} not found in {image_dir}")
        new_name = str(_out_name(Path(im["file_name"]), fmt))
        jobs.append((src, output / "images" / new_name))
        by_id[im["id"]] = (im, new_name)
    _check_coco(coco, json_path, image_dir, jobs)
    outputs = [*(dst for _, dst in jobs), output / "annotations.json"]
    _refuse_replacing_sources([*(src for src, _ in jobs), json_path], outputs)
    record(*outputs)  # journaled before the first is written (rank 0)
    sizes = _process_images(jobs, pipe, overwrite, progress, ctx)
    out_json = output / "annotations.json"

    def finish() -> None:
        assert sizes is not None  # finish runs on rank 0, which gathered every image's size
        new_images, dims = [], {}
        for (src, _), im in zip(jobs, coco.get("images", []), strict=True):
            h, w = sizes[src]
            if (im.get("height"), im.get("width")) not in ((h, w), (None, None)):
                raise DataError(
                    f"{json_path}: image {im['file_name']} is {w}x{h} but the json says {im.get('width')}x{im.get('height')}"
                )
            oh, ow = pipe.out_size(h, w)
            dims[im["id"]] = (h, w)
            new_images.append({**im, "file_name": by_id[im["id"]][1], "height": oh, "width": ow})
        f = pipe.factor
        new_anns = []
        for ann in coco.get("annotations", []):
            if ann["image_id"] not in dims:
                raise DataError(f"{json_path}: annotation {ann.get('id')} refers to unknown image {ann['image_id']}")
            h, w = dims[ann["image_id"]]
            ch, cw = pipe.crop_size(h, w)
            x, y, bw, bh = ann["bbox"]
            x0, x1 = np.clip([x, x + bw], 0, cw)
            y0, y1 = np.clip([y, y + bh], 0, ch)
            if x1 <= x0 or y1 <= y0:
                continue
            kept = (x1 - x0) * (y1 - y0) / max(bw * bh, 1e-12)  # share of the box left after the mod-crop
            new = {**ann, "bbox": [float(x0 * f), float(y0 * f), float((x1 - x0) * f), float((y1 - y0) * f)]}
            if "area" in ann:
                new["area"] = float(ann["area"] * f * f * kept)
            seg = ann.get("segmentation")
            if isinstance(seg, list):
                new["segmentation"] = [
                    (np.clip(np.asarray(poly, dtype=np.float64).reshape(-1, 2), 0, [cw, ch]) * f).reshape(-1).tolist()
                    for poly in seg
                ]
            elif isinstance(seg, dict):
                new["segmentation"] = _scale_rle(seg, h, w, pipe)
            new_anns.append(new)
        _write_text(out_json, json.dumps({**coco, "images": new_images, "annotations": new_anns}))

    _on_main(ctx, finish, "writing annotations.json")
    return out_json


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
        if data.suffix.lower() in (".yaml", ".yml"):
            return _materialize_yolo(data, output, pipe, splits, image_format, overwrite, progress, ctx, record)
        if data.suffix.lower() == ".json":
            return _materialize_coco(
                data, Path(images) if images else None, output, pipe, image_format, overwrite, progress, ctx, record
            )
        raise InputError(f"{data}: expected a dataset .yaml (YOLO) or a COCO .json")
    finally:
        for folder in locked:
            folder.release()
        if dist is None:
            ctx.close()

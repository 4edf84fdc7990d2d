"""The COCO half of :func:`~sr4det.data.materialize.materialize`: reads an ``instances.json``, maps every image to
``output/images/``, checks the json as :func:`~sr4det.data.load_coco` does (and every image's header size against
its ``height`` / ``width``) before any image is processed, and, once the image loop of :mod:`sr4det.data.materialize`
has run, writes (rank 0 alone) ``output/annotations.json`` with the image sizes, boxes, areas, polygons and RLE masks
cropped to the mod-cropped frame and rescaled."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError
from ._materialize_output import ImageLoop, _on_main, _out_name, _refuse_replacing_sources, _write_text

if TYPE_CHECKING:
    from .._distributed import DistContext
    from .materialize import _Pipeline


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
    process_images: ImageLoop,
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
    sizes = process_images(jobs)
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

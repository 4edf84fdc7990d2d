"""The YOLO half of :func:`~sr4det.data.materialize.materialize`: reads an ultralytics ``data.yaml``, maps every image of
its splits (folders, ``.txt`` lists or lists of either) to its output path, checks every label file as
:func:`~sr4det.data.load_yolo` does before any image is processed, and, once the image loop of
:mod:`sr4det.data.materialize` has run, writes (rank 0 alone) the label files cropped to the mod-cropped frame and
re-normalised, the rewritten split lists and the new ``data.yaml``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DataError
from ._materialize_output import ImageLoop, _on_main, _out_name, _refuse_replacing_sources, _write_text
from .io import IMAGE_EXTENSIONS

if TYPE_CHECKING:
    from .._distributed import DistContext
    from .materialize import _Pipeline


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
    process_images: ImageLoop,
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
    sizes = process_images(list(targets.items()))

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

"""``sr4det detect``: images or a folder -> optional SR (tiled) -> detector -> annotated images, JSON and YOLO txt."""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path
from typing import Any

from .._files import atomic_write
from .._run_folder import files_digest, refuse_input_folder, run_folder
from .._validators import tile_text
from ..errors import DataError, InputError
from ._common import (
    add_option,
    add_options,
    add_runtime_args,
    add_switch,
    add_tile_args,
    check_runtime_args,
    check_tile_overlap,
    check_writable_dir,
    default_device,
)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "detect",
        help="detect objects in images, optionally after super-resolution (like `yolo predict`)",
        description=(
            "Run an ultralytics detector on image files or folders (e.g. a folder of video frames), optionally after "
            "super-resolving them with --sr. Writes OUT/<stem>.png with the boxes drawn, OUT/detections.json (every "
            "image's boxes, scores and class names, and the settings) and OUT/labels/<stem>.txt (YOLO format: class "
            "cx cy w h conf, normalised). With --sr the detector sees the SR image at imgsz x scale; --frame chooses "
            "whether boxes are reported (and drawn) on the input image (lr) or on the SR image (sr). --slice detects on "
            "overlapping slices (SAHI; of the SR image with --sr) and merges the boxes: large images, small objects."
        ),
    )
    p.add_argument("inputs", nargs="+", help="image files or folders of images (not recursive)")
    p.add_argument("--detector", required=True, help="ultralytics weights: .pt, OpenVINO folder, .onnx or an official name")
    p.add_argument("-o", "--output", "--out", dest="out", default="runs/detect", help="output folder")
    p.add_argument(
        "--sr",
        default=None,
        help="SR model before the detector: zoo name (see `sr4det models`) or weight file; "
        "default: none, the detector sees the input as is",
    )
    add_option(p, "scale")  # with --sr
    add_runtime_args(p)
    p.add_argument(
        "--frame",
        choices=("lr", "sr"),
        default="lr",
        help="frame of the reported and drawn boxes with --sr: the input image (lr) or the SR image (sr)",
    )
    p.add_argument("--conf", type=float, default=0.25, help="confidence threshold (compare uses 0.001 for mAP)")
    p.add_argument("--iou", type=float, default=0.7, help="NMS IoU threshold")
    p.add_argument(
        "--imgsz",
        type=int,
        default=640,
        help="detector input size on the input image; with --sr the detector runs at imgsz x scale "
        "(a static export keeps its own size, with a warning)",
    )
    p.add_argument("--max-det", type=int, default=300, help="detections per image (per slice with --slice)")
    p.add_argument(
        "--slice",
        default=None,
        metavar="SIZE[:OVERLAP]",
        help="detect on overlapping SIZE x SIZE slices (and the whole image), boxes merged: e.g. 640 or 640:0.2 "
        "(needs `pip install 'sr4det[sahi]'`)",
    )
    p.add_argument(
        "--merge",
        default="nms:iou:0.5",
        help="merge of the slices' boxes with --slice: KIND[:METRIC[:THRESHOLD]] (nms|greedynmm|nmm, iou|ios); "
        "default nms:iou:0.5 (SAHI's greedynmm:ios:0.5 merges small boxes into large ones at low conf)",
    )
    add_option(p, "device")  # of SR and detector
    add_tile_args(p)
    p.add_argument("--line-width", type=int, default=None, help="box line width in pixels (default: from the image size)")
    add_switch(p, "--images", "write annotated images beside the JSON and YOLO txt", default=True, dest="save_images")
    add_options(p, "overwrite", "quiet")
    p.set_defaults(func=run)


def _runtime(args: argparse.Namespace) -> dict[str, str]:
    """The SR runtime in the settings, only when compiled (settings of torch runs stay as they were)."""
    return {} if args.backend == "torch" else {"backend": args.backend, "precision": args.precision}


def _outputs(inputs: list[Path]) -> list[str]:
    stems = [p.stem for p in inputs]
    if len(set(stems)) != len(stems):
        dup = sorted({s for s in stems if stems.count(s) > 1})
        raise InputError(
            f"several inputs share the file stem(s) {dup[:5]}; their outputs would overwrite each other: run them separately"
        )
    return stems


def build(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """(detector, SRDetector or None, tile) from the parsed options; checks every option before loading anything.
    With ``--slice`` the detector is a :class:`~sr4det.detectors.sliced.SlicedDetector` (inside the SRDetector with
    ``--sr``: slices of the SR image)."""
    from ..detectors import UltralyticsDetector
    from ..detectors.slicing import Merge, parse_slice

    tile = args.tile  # the shared options were checked while parsing
    check_runtime_args(args)
    if args.frame == "sr" and args.sr is None:
        raise InputError("--frame sr needs --sr (without SR there is only the input frame)")
    if not 0 <= args.conf <= 1:
        raise InputError(f"--conf must lie in [0, 1], got {args.conf}")
    slicing = None if getattr(args, "slice", None) is None else parse_slice(args.slice)
    merge = Merge.parse(getattr(args, "merge", "nms:iou:0.5"))
    if slicing is None and str(merge) != "nms:iou:0.5":
        raise InputError(f"--merge {args.merge} merges the boxes of slices: add --slice SIZE[:OVERLAP]")
    device = default_device(args.device)
    detector: Any = UltralyticsDetector(
        args.detector, imgsz=args.imgsz, conf=args.conf, iou=args.iou, max_det=args.max_det, device=args.device
    )
    if slicing is not None:
        from ..detectors.sliced import SlicedDetector

        detector = SlicedDetector(detector, slice=slicing[0], overlap=slicing[1], merge=merge)
    if args.sr is None:
        return detector, None, tile
    from ..detectors.sr import SRDetector
    from ..models import resolve_model
    from ..transforms import SRTransform

    compiled = args.backend != "torch"
    device = "cpu" if compiled and args.device is None else device  # compiled SR runs on the CPU
    model = resolve_model(args.sr, args.scale, pretrained=True, device=device, backend=args.backend, precision=args.precision)
    check_tile_overlap(tile, args.overlap, model)
    sr = SRTransform(model, tile=tile, max_memory=args.max_memory, device=device)
    if slicing is not None:
        from ..detectors.sr_sliced import SRSlicedDetector

        # SR band by band into the slices: the whole SR image is never held (only drawn with --frame sr)
        sr_sliced = SRSlicedDetector(
            sr, detector.detector, slicing[0], slicing[1], merge, max_memory=args.max_memory, map_back=args.frame == "lr"
        )
        return detector, sr_sliced, tile
    return detector, SRDetector(sr, detector, map_back=False), tile


def _shrink_note(sr_det: Any, inputs: list[Path]) -> str | None:
    """One line when the detector would shrink the SR images back (the longest input side x scale above its imgsz),
    naming what helps; None when it does not. Sizes come from the image headers (unreadable files are left to the
    loop, which reports them)."""
    from PIL import Image

    side = 0
    for path in inputs[:100]:  # the headers of a sample: a folder of video frames has one size
        try:
            with Image.open(path) as im:
                side = max(side, *im.size)
        except (OSError, ValueError):
            continue
    note = sr_det.shrink_note(side * sr_det.scale) if side else None
    if note is None:
        return None
    return (
        f"{note}. Detect on slices of the SR image instead (--slice), or drop --sr and let the detector see the "
        "input as is (it is resized to about that size anyway, without the SR time)."
    )


def run(args: argparse.Namespace) -> int:
    from ..data.io import list_images

    inputs = list_images(*args.inputs)
    if not inputs:
        raise InputError(f"no images found in {args.inputs}")
    stems = _outputs(inputs)
    refuse_input_folder(args.out, inputs, "-o/--out")
    check_writable_dir(args.out, "-o/--out")
    detector, sr_det, tile = build(args)
    settings = {
        # with --sr alone the detector inside the SRDetector (at imgsz x scale); with --slice the SlicedDetector
        "detector": detector.config if sr_det is None or getattr(args, "slice", None) is not None else sr_det.detector.config,
        "sr": None
        if sr_det is None
        else {"model": args.sr, "scale": sr_det.scale, "tile": tile_text(args.tile), **_runtime(args)},
        "frame": args.frame if sr_det is not None else "lr",
    }
    if sr_det is not None and hasattr(sr_det, "shrink_note"):  # SRDetector; sliced SR keeps the SR resolution
        note = _shrink_note(sr_det, inputs)
        if note is not None:  # said once, before the work, instead of a warning after the first image
            print(f"sr4det detect: note: {note}", file=sys.stderr, flush=True)
            sr_det.shrink_warned = True
    identity = {"settings": settings, "inputs": files_digest(inputs)}
    with run_folder(
        args.out,
        "detect",
        identity,
        overwrite=getattr(args, "overwrite", False),
        option="-o/--out",
        inputs=inputs,
        what="the detections of another run",
    ) as folder:
        return _detect_all(args, inputs, stems, folder, detector, sr_det, tile, settings)


def _write_outputs(labels: Path, png: Path | None, det: Any, shown: Any, line_width: int | None) -> None:
    """One image's outputs (run in the writer thread): its YOLO labels, then ``shown`` (uint8 (h, w, 3) in the boxes'
    frame) with the boxes drawn as ``png`` (None: no image), each written atomically."""
    from ..data.io import write_image

    atomic_write(labels, det.to_yolo())
    if png is not None:
        write_image(png, det.draw(shown, line_width=line_width))


def _detect_all(
    args: argparse.Namespace,
    inputs: list[Path],
    stems: list[str],
    folder: Any,
    detector: Any,
    sr_det: Any,
    tile: Any,
    settings: dict[str, Any],
) -> int:
    from .._overlap import WRITE_QUEUE, overlapped
    from .._progress import tqdm
    from ..data.io import read_image, to_rgb8
    from ..tiling import upscale

    def fetch(src: Path) -> Any:
        """The decoded RGB uint8 image, or the error of a bad file as a value (reported, the others go on)."""
        try:
            return to_rgb8(read_image(src)[0])
        except (DataError, OSError) as exc:
            return exc

    out = folder.path
    records: list[dict[str, Any]] = []
    failed: list[tuple[Path, str]] = []
    n_boxes = 0
    # the next images decoded ahead, the labels and annotated PNGs (drawing included) written behind, in order; with
    # SR images to draw, one waits behind (each may be as large as the tiling budget)
    sr_shown = sr_det is not None and args.frame == "sr" and args.save_images
    with overlapped(fetch, inputs, write_queue=min(WRITE_QUEUE, 1) if sr_shown else None) as (decoded, writer):
        for src, stem, image in tqdm(
            zip(inputs, stems, decoded, strict=True), desc="detect", unit="img", disable=args.quiet, total=len(inputs)
        ):
            writer.check()
            if isinstance(image, BaseException):
                failed.append((src, f"{type(image).__name__}: {image}"))
                continue
            if sr_det is None:
                shown, (det,) = image, detector([image])
            elif getattr(args, "slice", None) is not None:  # an SRSlicedDetector: boxes in the frame asked for
                (det,) = sr_det([image])
                shown = image
                if args.frame == "sr" and args.save_images:  # the SR image only to draw on (a memmap beyond the budget)
                    shown = upscale(sr_det.sr.model, image, tile=tile, overlap=args.overlap, max_memory=args.max_memory)
            else:
                sr = upscale(sr_det.sr.model, image, tile=tile, overlap=args.overlap, max_memory=args.max_memory)
                (det,) = sr_det.detect_sr([sr])  # boxes in the SR frame
                shown = sr
                if args.frame == "lr":
                    det, shown = det.rescaled(1 / sr_det.scale, image_size=image.shape[:2]), image
            n_boxes += len(det)
            records.append(
                {
                    "file": str(src),
                    "frame": args.frame if sr_det is not None else "lr",
                    "image_size": [int(v) for v in det.image_size],
                    "detections": det.summary(),
                }
            )
            png = out / f"{stem}.png" if args.save_images else None
            folder.record(out / "labels" / f"{stem}.txt", *([png] if png else []))  # journaled before written
            writer.submit(functools.partial(_write_outputs, out / "labels" / f"{stem}.txt", png, det, shown, args.line_width))
    inputs_text = [str(p) for p in inputs]
    folder.record(out / "detections.json")
    atomic_write(out / "detections.json", json.dumps({"settings": settings, "inputs": inputs_text, "images": records}, indent=1))
    print(
        f"{len(records)} image(s), {n_boxes} detection(s): wrote {out / 'detections.json'}, labels/*.txt"
        + (" and annotated PNGs" if args.save_images else "")
    )
    if failed:
        print(
            f"sr4det detect: error: {len(failed)} of {len(inputs)} image(s) could not be read (the others were done):",
            file=sys.stderr,
        )
        for src, reason in failed:
            print(f"  {src}: {reason}", file=sys.stderr)
        return 2
    return 0

"""``sr4det upscale``: super-resolve image files (8/16-bit, gray, RGB, RGBA), tiled within a memory budget."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ._common import add_model_args, add_tile_args, load_model_from_args, parse_tile


def add_parser(sub) -> None:
    p = sub.add_parser("upscale", help="super-resolve image files", description="Super-resolve images; bit depth and channels are kept.")
    p.add_argument("inputs", nargs="+", help="image files or folders")
    p.add_argument("-o", "--output", required=True, help="output folder, or a file name when there is one input image")
    add_model_args(p)
    add_tile_args(p)
    p.add_argument("--suffix", default="", help="text added to output file stems (e.g. _x4)")
    p.add_argument("--format", default=None, help="output extension (default: same as input)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (default: skip them, so reruns resume)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _targets(inputs: list[Path], output: Path, suffix: str, fmt: str | None) -> list[Path]:
    from ..data.io import IMAGE_EXTENSIONS

    single_file = len(inputs) == 1 and output.suffix.lower() in IMAGE_EXTENSIONS and not output.is_dir()
    if single_file:
        return [output]
    ext = (lambda p: fmt if fmt.startswith(".") else "." + fmt) if fmt else (lambda p: p.suffix)
    names = [f"{p.stem}{suffix}{ext(p)}" for p in inputs]
    if len(set(names)) != len(names):
        raise InputError("two inputs would write the same output name; use separate runs or --suffix")
    return [output / n for n in names]


def run(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from ..data.io import list_images, read_image, write_image
    from ..tiling import upscale

    inputs = list_images(*args.inputs)
    if not inputs:
        raise InputError(f"no images found in {args.inputs}")
    targets = _targets(inputs, Path(args.output), args.suffix, args.format)
    model = load_model_from_args(args)
    tile = parse_tile(args.tile)
    done = skipped = 0
    for src, dst in tqdm(list(zip(inputs, targets, strict=True)), desc=f"upscale x{model.scale}", unit="img", disable=args.quiet):
        if dst.exists() and not args.overwrite:
            skipped += 1
            continue
        image, _ = read_image(src)
        out = upscale(model, image, tile=tile, overlap=args.overlap, max_memory=args.max_memory, progress=not args.quiet)
        write_image(dst, out)
        done += 1
    print(f"wrote {done} image(s) to {args.output}" + (f", skipped {skipped} existing (use --overwrite)" if skipped else ""))
    return 0

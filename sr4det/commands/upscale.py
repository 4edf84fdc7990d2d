"""``sr4det upscale``: super-resolve image files (8/16-bit, gray, RGB, RGBA), tiled within a memory budget."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

from .._files import replacing_sources
from .._run_folder import RunFolder, run_folder
from ..errors import DataError, DiskFullError, InputError, SR4DetError
from ._common import (
    add_model_args,
    add_options,
    add_switch,
    add_tile_args,
    check_runtime_args,
    check_tile_overlap,
    check_writable_dir,
    load_model_from_args,
)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "upscale", help="super-resolve image files", description="Super-resolve images; bit depth and channels are kept."
    )
    p.add_argument("inputs", nargs="+", help="image files or folders")
    p.add_argument("-o", "--output", required=True, help="output folder, or a file name when there is one input image")
    add_model_args(p)
    add_tile_args(p)
    p.add_argument("--suffix", default="", help="text added to output file stems (e.g. _x4)")
    p.add_argument("--format", default=None, help="output extension (default: same as input)")
    add_switch(p, "--half", "half precision where the model card allows it: float16 on GPU, bfloat16 on CPU (else float32)")
    add_options(p, "overwrite", "quiet")  # without --overwrite existing outputs are skipped, so reruns resume
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


def _refuse_overwriting_inputs(inputs: list[Path], targets: list[Path]) -> None:
    """An output that is one of the inputs would replace the original with its upscaled copy (with --overwrite) or be
    skipped as "existing" (without): neither is what was meant."""
    clashes = replacing_sources(inputs, targets)
    if clashes:
        raise InputError(
            f"{len(clashes)} output(s) would replace an input image (e.g. {clashes[0]}); write to another folder "
            "(-o/--output) or add --suffix (e.g. --suffix _x4)"
        )


def _check_format(fmt: str | None) -> None:
    from ..data.io import IMAGE_EXTENSIONS

    if fmt is None:
        return
    ext = (fmt if fmt.startswith(".") else "." + fmt).lower()
    if ext not in IMAGE_EXTENSIONS:
        raise InputError(
            f"--format {fmt!r} is not an image format sr4det writes; use one of {', '.join(e[1:] for e in IMAGE_EXTENSIONS)}"
        )


def _manifest(model: Any, dtype: Any) -> dict[str, Any]:
    """What makes two runs' outputs the same: the network (name and weights digest), scale, precision and runtime
    (tiling is exact, so tile settings do not count; each output depends on its own input only, so a rerun may add
    inputs)."""
    from .._digest import state_digest

    return {
        "model": model.card.name,
        "weights_sha256": state_digest(model)[:16],
        "scale": model.scale,
        "dtype": "float32" if dtype is None else str(dtype).removeprefix("torch."),
        # only when compiled, so that manifests of torch runs stay as they were
        **({} if model.backend == "torch" else {"backend": model.backend, "precision": model.precision}),
    }


def half_dtype(model: Any) -> Any:
    """The dtype ``--half`` runs ``model`` in: float16 off the CPU, bfloat16 on the CPU (where fp16 convolutions are
    missing or slow); :class:`InputError` naming the card field when the model card does not allow it."""
    import torch

    card = model.card
    if model.device.type == "cpu":
        if not card.supports_bf16:
            raise InputError(
                f"--half on the CPU runs in bfloat16, but {card.name}'s model card has supports_bf16=False; "
                "drop --half, or run on a GPU if its card allows float16"
            )
        return torch.bfloat16
    if not card.supports_half:
        raise InputError(f"--half: {card.name}'s model card has supports_half=False (float16 is not safe for it); drop --half")
    return torch.float16


def run(args: argparse.Namespace) -> int:
    from ..data.io import list_images

    # every argument is checked before a model loads or an image is read (the shared options while parsing)
    tile = args.tile
    _check_format(args.format)
    check_runtime_args(args)
    inputs = list_images(*args.inputs)
    if not inputs:
        raise InputError(f"no images found in {args.inputs}")
    targets = _targets(inputs, Path(args.output), args.suffix, args.format)
    _refuse_overwriting_inputs(inputs, targets)
    for parent in sorted({t.parent for t in targets}):
        check_writable_dir(parent, "-o/--output")
    model = load_model_from_args(args)
    check_tile_overlap(tile, args.overlap, model)
    dtype = half_dtype(model) if getattr(args, "half", False) else None
    out_folder = None if len(targets) == 1 and targets[0] == Path(args.output) else Path(args.output)  # None: one file
    record = _manifest(model, dtype)
    with contextlib.ExitStack() as stack:
        folder: RunFolder | None = None
        if out_folder is not None:  # locked, manifest written before the first output (see sr4det._run_folder)
            folder = stack.enter_context(run_folder(out_folder, "upscale", record, overwrite=args.overwrite))
        return _upscale_all(args, inputs, targets, model, dtype, tile, folder)


def _upscale_all(
    args: argparse.Namespace, inputs: list[Path], targets: list[Path], model: Any, dtype: Any, tile: Any, folder: Any
) -> int:
    from .._files import refuse_folder_at_file_path
    from .._progress import tqdm
    from ..data.io import check_format, read_image, write_image
    from ..tiling import upscale

    for dst in targets:  # before any SR: a folder where an output image belongs would be "skipped" or fail late
        refuse_folder_at_file_path(dst)
    done = skipped = 0
    failed: list[tuple[Path, str]] = []
    for src, dst in tqdm(list(zip(inputs, targets, strict=True)), desc=f"upscale x{model.scale}", unit="img", disable=args.quiet):
        if dst.exists() and not args.overwrite:
            skipped += 1
            continue
        try:
            image, info = read_image(src)
            check_format(dst.suffix, info.dtype, info.channels, src)  # before the (slow) SR, not after
            out = upscale(
                model, image, tile=tile, overlap=args.overlap, max_memory=args.max_memory, progress=not args.quiet, dtype=dtype
            )
            if folder is not None:
                folder.record(dst)
            write_image(dst, out)
        except DiskFullError:
            raise  # no later file would fit either: stop, naming the path (a rerun resumes)
        except (DataError, InputError, OSError) as exc:  # one bad file must not stop the others; all are reported below
            failed.append((src, f"{type(exc).__name__}: {exc}"))
            continue
        except SR4DetError:
            raise  # not about this file (out of memory at the smallest tile, broken weights): stop
        done += 1
    print(f"wrote {done} image(s) to {args.output}" + (f", skipped {skipped} existing (use --overwrite)" if skipped else ""))
    if failed:
        print(
            f"sr4det upscale: error: {len(failed)} of {len(inputs)} image(s) failed (the others were written):", file=sys.stderr
        )
        for src, reason in failed:
            print(f"  {src}: {reason}", file=sys.stderr)
        return 2
    return 0

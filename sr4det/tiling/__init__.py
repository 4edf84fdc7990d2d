"""Memory-aware tiled super-resolution: exact seams for convolutional models, feathered seams for non-local ones.

Pure planning functions (:func:`plan_tiles`, :func:`blend_weights`, :func:`parse_memory`, :func:`parse_tile`) plus one executor,
:func:`upscale`, which

* reads the input **per tile** (tensor, ndarray or ``np.memmap``) and moves only that tile to the device;
* writes each finished tile straight into a preallocated output (uint8/uint16/float array, a
  ``np.memmap`` on disk when the output alone does not fit the budget, or a float32 tensor);
* crops tile cores for local (convolutional) models: with the overlap at the model's receptive-field
  radius the result equals the untiled output; non-local models (windows, attention) are blended with
  feathered weights instead;
* picks the tile size from a memory budget using a per-(model, device, dtype) probe of the peak memory
  per pixel, cached in memory and on disk (``$SR4DET_CACHE/tiling/probe.json``);
* halves the tile and redoes only the failing tile on out-of-memory, raising :class:`TileOOMError`
  with the numbers below the minimum tile.

Tile sizes and overlaps are in **LR (input) pixels**. A tile is the whole box handed to the model,
overlap included: each tile reaches ``overlap`` pixels past its core on every side that is not an
image border, so a tile must be larger than ``2 * overlap``.

Layout: :mod:`.plan` (pure tile planning and blend weights), :mod:`.memory` (budget parsing, memory probe and
its cache, tile choice), :mod:`.executor` (model calls, batching, OOM back-off, crop/blend composition),
:mod:`.sink` (input reading and tensor / ndarray / memmap outputs), :mod:`.receptive_field`
(:func:`measure_receptive_field`), ``_device`` (autocast and OOM detection); :func:`upscale` lives here.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from .._validators import check_device
from ..errors import InputError
from ._device import _amp_dtype
from .executor import _blend_image, _crop_image, _Run, _untiled
from .memory import _available_memory, _choose_tile, _MemoryModel, estimate_memory, parse_memory
from .plan import _MIN_TILE_FLOOR, Tile, _align_up, blend_weights, parse_tile, plan_tiles
from .receptive_field import measure_receptive_field
from .sink import _output_bytes, _Sink, _Source

_Image = TypeVar("_Image", torch.Tensor, np.ndarray)  # upscale returns the kind of image it was given

__all__ = [
    "Tile",
    "blend_weights",
    "estimate_memory",
    "measure_receptive_field",
    "parse_memory",
    "parse_tile",
    "plan_tiles",
    "upscale",
]

#: more tiles than this per image get a warning: each is a model call, so a tiny tile is usually a mistake
MANY_TILES = 10_000


def _is_pil_or_path(image: object) -> bool:
    if isinstance(image, (str, os.PathLike)):
        return True
    from PIL import Image

    return isinstance(image, Image.Image)


def _pil_or_path_in(image: Any) -> tuple[np.ndarray, Any]:
    """A PIL image or an image file as an array :func:`upscale` takes, and the function that turns its result back
    (a PIL image for a PIL image, the array itself for a path)."""
    from PIL import Image, ImageOps

    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise InputError(f"image file {path} does not exist")
        try:
            with Image.open(path) as im:
                pil = ImageOps.exif_transpose(im)
                pil.load()
        except Exception as exc:  # PIL raises OSError (UnidentifiedImageError), ValueError, SyntaxError... for bad files
            raise InputError(f"cannot read {path} as an image: {type(exc).__name__}: {exc}") from exc
        from_pil = False
    else:
        pil, from_pil = image, True
    if pil.mode in ("L", "RGB", "RGBA"):
        array = np.asarray(pil)
    elif pil.mode.startswith("I;16") or pil.mode == "I":
        wide = np.asarray(pil)
        if wide.size and (wide.min() < 0 or wide.max() > 65535):
            raise InputError(f"PIL mode {pil.mode!r} image with values outside 0..65535: only 8 and 16-bit are supported")
        array = wide.astype(np.uint16)
    else:  # palette, 1-bit, LA, CMYK, ...: as RGB(A), the way the detectors read them
        alpha = "A" in pil.mode or "transparency" in pil.info
        array = np.asarray(pil.convert("RGBA" if alpha else "RGB"))

    def restore(result: np.ndarray) -> Any:
        return Image.fromarray(result) if from_pil else result

    return np.ascontiguousarray(array), restore


def upscale(
    model,
    image: _Image,
    tile: str | int | None = "auto",
    overlap: int | None = None,
    max_memory: str | int | float | None = None,
    batch_tiles: int | None = None,
    out=None,
    progress: bool = False,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> _Image:
    """Upscale ``image`` with ``model`` tile by tile, within a memory budget.

    Args:
        model: an :class:`~sr4det.models.wrapper.SRModel` (``.scale``, ``.card``), in eval mode.
        image: float tensor (C, H, W) or (B, C, H, W) in [0, 1] (CPU or device; only tiles are moved), or a
            numpy array (uint8, uint16 or float in [0, 1]) HW or HWC, including ``np.memmap``. C in {1, 3, 4}.
            Also, as :class:`~sr4det.SRTransform` and the detectors take them, a PIL image (returned as a PIL image:
            L / RGB / RGBA / 16-bit keep their mode, other modes are converted to RGB or RGBA) or a path to an image
            file (EXIF orientation applied; returned as a uint8 or uint16 HW / HWC array).
        tile: ``"auto"`` (largest tile that fits the budget, measured by a probe), an int (largest tile side
            in LR pixels, overlap included), or None (untiled: one model call for the whole image/batch).
        overlap: LR pixels of context per tile side; default ``model.card.default_overlap`` (the receptive
            field for shallow models, the measured effective overlap for deep ones). For local models
            ``overlap >= card.receptive_field`` makes the result equal the untiled one.
        max_memory: budget in bytes or as ``"1.5GB"``; default a fraction of the free memory (CUDA
            ``mem_get_info``, CPU available RAM). It covers the model calls, the tile copies and, when the
            output is allocated here, the output (streamed to a ``np.memmap`` when it exceeds half the budget).
        batch_tiles: tiles per model call (same-shape tiles are batched); default 1.
        out: preallocated output to fill: a float32 CPU tensor (C, sH, sW) / (B, C, sH, sW) for tensor input,
            or an array (e.g. ``np.memmap``) of the input's dtype and layout (sH, sW[, C]) for array input.
        progress: show a tqdm progress bar.
        device: where the model runs (default: the model's device; the model is moved if different).
        dtype: ``torch.float16`` / ``torch.bfloat16`` for autocast where the model card allows it (else a
            warning and float32); None or float32 for full precision.
        channels_last: run the model and its inputs in channels-last memory format.

    Returns:
        For tensor input, a float32 CPU tensor (C, sH, sW) or (B, C, sH, sW) in [0, 1]; for array input, an
        array of the same dtype and layout (sH, sW[, C]), rounded and clipped (a ``np.memmap`` backed by an
        unlinked temporary file when the output exceeded the budget). ``out`` itself when given.

    Raises:
        InputError: bad image/out/tile/overlap (e.g. tile <= 2 * overlap, empty image).
        TileOOMError: the budget is too small for the minimum tile, or out of memory at the minimum tile.
    """
    if not hasattr(model, "card") or not hasattr(model, "scale"):
        raise InputError(f"model must be an sr4det SRModel (with .card and .scale), got {type(model).__name__}")
    if not isinstance(image, (torch.Tensor, np.ndarray)) and _is_pil_or_path(image):
        if out is not None:
            raise InputError("out= is for tensor and array inputs; a PIL image or a path gets a new output")
        array, restore = _pil_or_path_in(image)
        kwargs = {"tile": tile, "overlap": overlap, "max_memory": max_memory, "batch_tiles": batch_tiles}
        result = upscale(model, array, **kwargs, progress=progress, device=device, dtype=dtype, channels_last=channels_last)
        return restore(result)
    src = _Source(image)
    card, scale = model.card, int(model.scale)
    device, amp = _prepare_model(model, device, dtype, channels_last)
    overlap = _checked_overlap(overlap, card)
    batch_tiles = _checked_batch_tiles(batch_tiles)
    mult = max(1, int(card.size_multiple))
    min_tile = max(2 * overlap + 1, int(card.min_size), min(_MIN_TILE_FLOOR, max(src.h, src.w)))
    min_tile = _align_up(min_tile, mult)
    budget = parse_memory(max_memory) if max_memory is not None else None
    plan = (src, scale, overlap, min_tile, mult, batch_tiles)
    tile_px, mem, sink_budget = _tile_size(model, tile, plan, budget, out is None, device, dtype, channels_last)
    sink = _Sink(src, scale, out, sink_budget)
    run = _Run(model, device, amp, channels_last, overlap, min_tile, tile_px, batch_tiles, mem, budget)
    if tile_px is None:
        y = _untiled(run, src)
        for b in range(src.batch):
            sink.write(b, 0, 0, y[b])
    else:
        _tiled(run, src, sink, card, scale, plan_tiles(src.h, src.w, tile_px, overlap, mult), progress)
    sink.release_pages()
    return sink.result


def _prepare_model(model, device, dtype, channels_last: bool) -> tuple[torch.device, torch.dtype | None]:
    """Move ``model`` to ``device`` (checked; None: where it is) and to channels-last when asked; returns the device
    and the autocast dtype (None: float32) that ``dtype`` gives on it."""
    check_device(device, flag="device")
    if device is not None:
        device = torch.device(device)
        if device != model.device:
            model.to(device)
    device = model.device if device is None else device
    amp = _amp_dtype(model, device, dtype)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return device, amp


def _checked_overlap(overlap: Any, card) -> int:
    """``overlap`` as LR pixels (None: the card's default overlap); an :class:`InputError` unless a whole number >= 0."""
    if overlap is None:
        overlap = int(card.default_overlap)
    if isinstance(overlap, bool) or not isinstance(overlap, (int, np.integer)):
        raise InputError(
            f"overlap must be a whole number of LR pixels (or None for the card's {card.default_overlap}), got {overlap!r}; "
            "pass int(overlap)"
        )
    overlap = int(overlap)
    if overlap < 0:
        raise InputError(f"overlap must be >= 0, got {overlap}")
    return overlap


def _checked_batch_tiles(batch_tiles: Any) -> int:
    """``batch_tiles`` (None: 1); an :class:`InputError` unless a positive int."""
    if batch_tiles is None:
        batch_tiles = 1
    if isinstance(batch_tiles, bool) or not isinstance(batch_tiles, int) or batch_tiles < 1:
        raise InputError(f"batch_tiles must be a positive int or None, got {batch_tiles!r}")
    return batch_tiles


def _tile_size(
    model, tile: Any, plan: tuple, budget: int | None, new_out: bool, device, dtype, channels_last: bool
) -> tuple[int | None, _MemoryModel | None, int | None]:
    """(tile side in LR px or None for untiled, the memory model measured for ``"auto"`` or None, the output's
    memory budget) for ``tile``; ``plan`` = (source, scale, overlap, minimum tile, size multiple, tiles per call)."""
    src, scale, overlap, min_tile, mult, batch_tiles = plan
    card = model.card
    if isinstance(tile, str):
        if tile != "auto":
            raise InputError(f"tile must be 'auto', a positive int or None, got {tile!r}")
        total = budget if budget is not None else _available_memory(device)
        out_bytes = _output_bytes(src, scale) if new_out else 0
        # an output that does not fit half the budget goes to disk and costs (almost) no RAM
        tile_budget = total - (out_bytes if out_bytes <= total // 2 else 0)
        mem = estimate_memory(model, device=device, dtype=dtype, channels=src.channels, channels_last=channels_last)
        tile_px = _choose_tile(mem, tile_budget, src, scale, batch_tiles, card.non_local, min_tile, mult, str(device))
        return tile_px, mem, total
    if tile is None:
        return None, None, budget
    if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or tile < 1:
        raise InputError(f"tile must be 'auto', a positive int or None, got {tile!r}")
    tile_px = int(tile)
    if tile_px <= 2 * overlap and tile_px < max(src.h, src.w):
        raise InputError(
            f"tile {tile_px} px must be larger than twice the overlap ({overlap} px); use tile >= {2 * overlap + 1}"
            f" or a smaller overlap (the model card's default overlap is {card.default_overlap})"
        )
    return tile_px, None, budget


def _tiled(run: _Run, src: _Source, sink: _Sink, card, scale: int, tiles: list, progress: bool) -> None:
    """Every image of ``src`` through ``tiles`` into ``sink``: cropped cores for local models, blended tiles for
    non-local ones; warns when the overlap is below the card's (seams) and when the tiles are so many that the run
    will be very slow."""
    _warn_seams(card, run.overlap, tiles)
    if len(tiles) > MANY_TILES:
        n_rows, n_cols = tiles[-1].row + 1, tiles[-1].col + 1
        tile_px, overlap = run.tile, run.overlap
        warnings.warn(
            f"tile {tile_px} px (overlap {overlap} px) splits the {src.h}x{src.w} image into {len(tiles)} tiles "
            f"({n_rows} x {n_cols}), one model call each{f', for each of {src.batch} images' if src.batch > 1 else ''}: "
            f"this will be very slow. Use a larger tile (e.g. {min(max(src.h, src.w), 512)}), tile='auto' or tile=None",
            stacklevel=3,
        )
    from .._progress import tqdm

    bar = tqdm(total=len(tiles) * src.batch, disable=not progress, desc=f"upscale x{scale} ({card.name})", unit="tile")
    try:
        for b in range(src.batch):
            if card.non_local and len(tiles) > 1:
                _blend_image(run, src, sink, b, tiles, bar)
            else:
                _crop_image(run, src, sink, b, tiles, bar)
    finally:
        bar.close()


def _warn_seams(card: Any, overlap: int, tiles: list) -> None:
    """A warning (with the count of tile borders) when ``overlap`` is below the card's default overlap, the context
    each tile needs for the result to match the untiled one: pixels within the receptive field of a tile border
    then see the border as an image edge, and the output shows seams (0.7 of the range at worst for a 9 px field)."""
    if len(tiles) < 2 or overlap >= int(card.default_overlap):
        return
    n_rows, n_cols = tiles[-1].row + 1, tiles[-1].col + 1
    warnings.warn(
        f"overlap {overlap} px is below {card.name}'s default overlap of {card.default_overlap} px (receptive field "
        f"{card.receptive_field} px): the {n_rows - 1 + n_cols - 1} tile border(s) between the {len(tiles)} tiles will "
        f"show as seams the untiled result does not have; use overlap >= {card.default_overlap} (or leave it unset)",
        stacklevel=4,  # the caller of upscale (upscale -> _tiled -> here)
    )

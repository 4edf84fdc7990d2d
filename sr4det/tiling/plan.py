"""Pure tile planning for :func:`sr4det.tiling.upscale`: tile boxes and cores, feathering weights, alignment.

No model, device or memory here: sizes and overlaps in LR (input) pixels in, boxes and weights out.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._validators import check_tile
from ..errors import InputError

__all__ = ["Tile", "blend_weights", "parse_tile", "plan_tiles"]

_MIN_TILE_FLOOR = 16
# feathered blending ignores this fraction of the overlap next to a tile's artificial edge, where
# non-local models are least like their untiled selves, and cross-fades over the rest
_FEATHER_MARGIN = 0.25


class Tile(NamedTuple):
    """One tile in LR pixels: the input box handed to the model and the core it is responsible for.

    ``y0:y1, x0:x1`` is the input box; ``cy0:cy1, cx0:cx1`` its core (inside the box). The cores of a
    plan partition the image. ``row``/``col`` index the tile grid.
    """

    y0: int
    y1: int
    x0: int
    x1: int
    cy0: int
    cy1: int
    cx0: int
    cx1: int
    row: int
    col: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.y1 - self.y0, self.x1 - self.x0


def _align_down(v: int, m: int) -> int:
    return v // m * m


def _align_up(v: int, m: int) -> int:
    return -(-v // m) * m


def _plan_1d(n: int, tile: int, overlap: int, multiple: int) -> list[tuple[int, int, int, int]]:
    """Split ``[0, n)`` into boxes ``(start, end, core_start, core_end)``.

    Boxes are at most ``tile`` long and (nearly) equal, so that the overlap, not a ragged last tile,
    is all the extra work; starts are multiples of ``multiple`` (pixel-unshuffle grids stay aligned);
    neighbours overlap by at least ``2 * overlap`` and the core boundary is the middle of the overlap,
    so every core pixel is at least ``overlap`` away from any edge that is not an image border.
    """
    if n <= tile:
        return [(0, n, 0, n)]
    k0 = math.ceil((n - 2 * overlap) / (tile - 2 * overlap))
    length = min(tile, _align_up(math.ceil((n + 2 * overlap * (k0 - 1)) / k0), multiple))
    while True:
        # largest aligned step between starts that still leaves 2 * overlap shared by neighbours
        step = _align_down(length - 2 * overlap, multiple)
        if step >= multiple:
            break
        if length >= tile:
            raise InputError(
                f"cannot tile a side of {n} px with tile {tile}, overlap {overlap} and starts on multiples of "
                f"{multiple}: tile - 2 * overlap must be at least {multiple}"
            )
        length = min(tile, length + multiple)
    last = _align_up(n - length, multiple)  # the last box ends at n and is at most `length` long
    units, max_units = last // multiple, step // multiple
    gaps = math.ceil(units / max_units)
    q, r = divmod(units, gaps)
    starts = [0]
    for i in range(gaps):  # spread the slack evenly: gaps of q or q + 1 units
        starts.append(starts[-1] + (q + (1 if i < r else 0)) * multiple)
    ends = [min(st + length, n) for st in starts]
    k = len(starts)
    bounds = [0] + [(starts[i + 1] + ends[i]) // 2 for i in range(k - 1)] + [n]
    return [(starts[i], ends[i], bounds[i], bounds[i + 1]) for i in range(k)]


def plan_tiles(h: int, w: int, tile: int, overlap: int, size_multiple: int = 1) -> list[Tile]:
    """Plan the tiles of an ``h`` x ``w`` image (LR pixels), row-major.

    Args:
        h, w: image size in pixels (> 0).
        tile: largest tile side (input box, overlap included), > ``2 * overlap``.
        overlap: context in pixels each core gets on every side that is not an image border (>= 0).
        size_multiple: tile starts are multiples of this (models that pixel-unshuffle or use windows).

    Returns:
        ``Tile`` boxes whose cores partition the image; every core pixel lies at least ``overlap`` pixels
        inside its box unless the box edge is an image border.

    Raises:
        InputError: empty image, negative overlap, or ``tile <= 2 * overlap``.
    """
    h, w, tile, overlap, size_multiple = int(h), int(w), int(tile), int(overlap), int(size_multiple)
    if h <= 0 or w <= 0:
        raise InputError(f"cannot tile an empty image of size {h}x{w}")
    if overlap < 0:
        raise InputError(f"overlap must be >= 0, got {overlap}")
    if size_multiple < 1:
        raise InputError(f"size_multiple must be >= 1, got {size_multiple}")
    if tile >= h and tile >= w:  # one tile holds the whole image: no seams, so no overlap is needed
        return [Tile(0, h, 0, w, 0, h, 0, w, 0, 0)]
    if tile <= 2 * overlap:
        raise InputError(
            f"tile {tile} px must be larger than twice the overlap ({overlap} px): each tile needs "
            f"{overlap} px of context on both sides plus at least one core pixel; use tile >= {2 * overlap + 1} "
            "or a smaller overlap"
        )
    if size_multiple > 1 and tile >= size_multiple:
        tile = _align_down(tile, size_multiple)
        if tile <= 2 * overlap:
            raise InputError(
                f"tile rounded down to a multiple of {size_multiple} is {tile}, not larger than 2 * overlap ({overlap})"
            )
    rows = _plan_1d(h, tile, overlap, size_multiple)
    cols = _plan_1d(w, tile, overlap, size_multiple)
    return [
        Tile(y0, y1, x0, x1, cy0, cy1, cx0, cx1, r, c)
        for r, (y0, y1, cy0, cy1) in enumerate(rows)
        for c, (x0, x1, cx0, cx1) in enumerate(cols)
    ]


def _feather_1d(start: int, end: int, lo_border: bool, hi_border: bool, overlap: int, scale: int) -> np.ndarray:
    n = (end - start) * scale
    centres = (np.arange(n, dtype=np.float64) + 0.5) / scale  # HR pixel centres in LR units from the box start
    w = np.ones(n, dtype=np.float64)
    if overlap <= 0:
        return w.astype(np.float32)
    margin = _FEATHER_MARGIN * overlap
    span = max(overlap - margin, 1e-6)
    if not lo_border:
        w = np.minimum(w, np.clip((centres - margin) / span, 0.0, 1.0))
    if not hi_border:
        w = np.minimum(w, np.clip(((end - start) - centres - margin) / span, 0.0, 1.0))
    # a pixel never has zero total weight (it is >= overlap inside its own core tile), but keep every
    # weight strictly positive so rounding can never divide by zero either
    return np.maximum(w, 1e-6).astype(np.float32)


def blend_weights(t: Tile, h: int, w: int, overlap: int, scale: int) -> np.ndarray:
    """Feathering weights (float32, shape ``(s*(y1-y0), s*(x1-x0))``, in (0, 1]) for tile ``t`` of an ``h`` x ``w`` image.

    Weight 1 everywhere except within ``overlap`` LR pixels of an edge that is not an image border, where
    it ramps linearly to ~0: zero over the first ``_FEATHER_MARGIN * overlap`` pixels, then up to 1.
    Dividing the weighted sum of overlapping tiles by the summed weights cross-fades between them.
    """
    wy = _feather_1d(t.y0, t.y1, t.y0 == 0, t.y1 == h, overlap, scale)
    wx = _feather_1d(t.x0, t.x1, t.x0 == 0, t.x1 == w, overlap, scale)
    return np.outer(wy, wx)


def parse_tile(value: str | int | None) -> int | str | None:
    """A ``--tile`` / YAML ``tile`` value as :func:`sr4det.tiling.upscale` takes it: ``"none"`` (or None) -> None,
    ``"auto"`` -> ``"auto"``, a positive int (or its text) -> that int; anything else is an :class:`InputError` naming
    the forms. The one tile validator, which every command's ``--tile`` uses too."""
    return check_tile(value)

"""Running the tiles: model calls (autocast, channels-last), batching of same-shape tiles, halving the tile on
out-of-memory, and composing the output by cropping cores (local models) or feathered blending (non-local ones).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ..errors import TileOOMError
from ._device import _autocast, _free_device_memory, _is_oom
from .plan import _MIN_TILE_FLOOR, Tile, _align_down, blend_weights, plan_tiles
from .sink import _Sink, _Source

if TYPE_CHECKING:
    from .memory import _MemoryModel


@dataclass
class _Run:
    """State of one upscale call: the model, where it runs, and the tile size after OOM back-offs."""

    model: Any
    device: torch.device
    amp: torch.dtype | None
    channels_last: bool
    overlap: int
    min_tile: int
    tile: int | None  # None: untiled
    batch: int
    mem: _MemoryModel | None
    budget: int | None

    def call(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), _autocast(self.device, self.amp):
            y = self.model(x)
        return y.float()

    def run_box(self, src: _Source, b: int, box: tuple[int, int, int, int]) -> torch.Tensor:
        """HR output (C, s*h, s*w) for the LR box, sub-tiling it (halving on OOM) when it exceeds the tile."""
        y0, y1, x0, x1 = box
        if self.tile is None or max(y1 - y0, x1 - x0) <= self.tile:
            failed: BaseException | None = None
            try:
                return self.call(src.read(b, y0, y1, x0, x1).unsqueeze(0))[0]
            except Exception as exc:  # noqa: BLE001 - only OOM is handled; everything else re-raised below
                if not _is_oom(exc):
                    raise
                failed = exc
            # outside the except block so the traceback (and the tensors its frames hold) is released
            self._back_off(failed, max(y1 - y0, x1 - x0))
            del failed
        return self._subtile(src, b, box)

    def run_batch(self, src: _Source, b: int, boxes: list[tuple[int, int, int, int]]) -> list[torch.Tensor]:
        if len(boxes) == 1 or self.batch <= 1:
            return [self.run_box(src, b, box) for box in boxes]
        shape = (boxes[0][1] - boxes[0][0], boxes[0][3] - boxes[0][2])
        if self.tile is not None and max(shape) > self.tile:
            return [self.run_box(src, b, box) for box in boxes]
        failed = False
        try:
            x = torch.stack([src.read(b, *box) for box in boxes])
            y = self.call(x)
            return list(y.unbind(0))
        except Exception as exc:  # noqa: BLE001
            if not _is_oom(exc):
                raise
            failed = True
        if failed:
            _free_device_memory(self.device)
            self.batch = 1  # batching was too ambitious: one tile per call from now on
        return [self.run_box(src, b, box) for box in boxes]

    def _back_off(self, exc: BaseException, side: int) -> None:
        _free_device_memory(self.device)
        current = side if self.tile is None else min(self.tile, side)
        new = current // 2
        mult = max(1, self.model.card.size_multiple)
        if mult > 1:
            new = _align_down(new, mult)
        if new < self.min_tile:
            need = self.mem.bytes(self.min_tile**2) if self.mem is not None else None
            raise TileOOMError(
                f"out of memory on {self.device} with a {current}x{current} px tile; halving would give {new} px, "
                f"below the minimum tile of {self.min_tile} px (the largest of 2 x overlap + 1 = {2 * self.overlap + 1}, "
                f"the model minimum {self.model.card.min_size} and {_MIN_TILE_FLOOR}). Free memory, lower batch_tiles, "
                "or use a smaller overlap. "
                f"({type(exc).__name__}: {str(exc)[:200]})",
                tile=current,
                min_tile=self.min_tile,
                device=str(self.device),
                bytes_requested=need,
            ) from exc
        warnings.warn(
            f"out of memory on {self.device} with tile {current} px; retrying this tile with tile {new} px", stacklevel=4
        )
        self.tile = new

    def _subtile(self, src: _Source, b: int, box: tuple[int, int, int, int]) -> torch.Tensor:
        # plan inside the box as if it were an image: the box's own artificial edges are >= overlap away
        # from the cores the caller keeps, so the composed output is as exact as the box itself
        y0, y1, x0, x1 = box
        s = self.model.scale
        assert self.tile is not None
        out = torch.empty(src.channels, (y1 - y0) * s, (x1 - x0) * s)
        for t in plan_tiles(y1 - y0, x1 - x0, self.tile, self.overlap, self.model.card.size_multiple):
            sub = self.run_box(src, b, (y0 + t.y0, y0 + t.y1, x0 + t.x0, x0 + t.x1))
            oy, ox = (t.cy0 - t.y0) * s, (t.cx0 - t.x0) * s
            out[:, t.cy0 * s : t.cy1 * s, t.cx0 * s : t.cx1 * s] = sub[
                :, oy : oy + (t.cy1 - t.cy0) * s, ox : ox + (t.cx1 - t.cx0) * s
            ]
        return out


def _untiled(run: _Run, src: _Source) -> torch.Tensor:
    failed: BaseException | None = None
    try:
        return run.call(src.read_all())
    except Exception as exc:  # noqa: BLE001
        if not _is_oom(exc):
            raise
        failed = exc
    _free_device_memory(run.device)
    raise TileOOMError(
        f"out of memory on {run.device} running untiled (tile=None) on {src.batch} image(s) of {src.h}x{src.w}; "
        "use tile='auto' or an int tile size",
        tile=max(src.h, src.w),
        min_tile=run.min_tile,
        device=str(run.device),
    ) from failed


def _batches(tiles: list[Tile], n: int) -> list[list[Tile]]:
    """Consecutive groups of at most ``n`` tiles of the same shape (row-major order kept)."""
    groups: list[list[Tile]] = []
    for t in tiles:
        if groups and len(groups[-1]) < n and groups[-1][0].shape == t.shape:
            groups[-1].append(t)
        else:
            groups.append([t])
    return groups


def _crop_image(run: _Run, src: _Source, sink: _Sink, b: int, tiles: list[Tile], bar) -> None:
    """Local models: keep each tile's core only (exact when overlap >= receptive field)."""
    s = run.model.scale
    last_row = 0
    for group in _batches(tiles, run.batch):
        outs = run.run_batch(src, b, [(t.y0, t.y1, t.x0, t.x1) for t in group])
        for t, y in zip(group, outs, strict=True):
            oy, ox = (t.cy0 - t.y0) * s, (t.cx0 - t.x0) * s
            core = y[:, oy : oy + (t.cy1 - t.cy0) * s, ox : ox + (t.cx1 - t.cx0) * s]
            sink.write(b, t.cy0 * s, t.cx0 * s, core)
            bar.update(1)
            if t.row != last_row:
                sink.release_pages()
                last_row = t.row


def _blend_image(run: _Run, src: _Source, sink: _Sink, b: int, tiles: list[Tile], bar) -> None:
    """Non-local models: feathered weighted average of overlapping tiles, one row band of tiles at a time.

    A float strip (weighted sum and weight sum) spans the rows of the current band; rows above the next
    band's first row can receive nothing more and are normalised and written out.
    """
    s, C = run.model.scale, src.channels
    W = src.w * s
    rows: dict[int, list[Tile]] = {}
    for t in tiles:
        rows.setdefault(t.row, []).append(t)
    order = sorted(rows)
    strip_y0 = 0
    acc = torch.zeros(C, 0, W)
    wsum = torch.zeros(0, W)
    for i, r in enumerate(order):
        band = rows[r]
        y1 = band[0].y1 * s
        # grow the strip down to this band's last row
        if y1 > strip_y0 + acc.shape[1]:
            extra = y1 - (strip_y0 + acc.shape[1])
            acc = torch.cat([acc, torch.zeros(C, extra, W)], dim=1)
            wsum = torch.cat([wsum, torch.zeros(extra, W)], dim=0)
        for group in _batches(band, run.batch):
            outs = run.run_batch(src, b, [(t.y0, t.y1, t.x0, t.x1) for t in group])
            for t, y in zip(group, outs, strict=True):
                wt = torch.from_numpy(blend_weights(t, src.h, src.w, run.overlap, s))
                ys, xs = t.y0 * s - strip_y0, t.x0 * s
                hh, ww = wt.shape
                acc[:, ys : ys + hh, xs : xs + ww] += y * wt
                wsum[ys : ys + hh, xs : xs + ww] += wt
                bar.update(1)
        done = rows[order[i + 1]][0].y0 * s if i + 1 < len(order) else strip_y0 + acc.shape[1]
        k = done - strip_y0
        if k > 0:
            sink.write(b, strip_y0, 0, (acc[:, :k] / wsum[:k]).clamp_(0, 1))
            acc, wsum = acc[:, k:].clone(), wsum[k:].clone()
            strip_y0 = done
            sink.release_pages()

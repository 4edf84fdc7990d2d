"""``SRSlicedDetector``: super-resolve, slice, detect and merge without ever holding the whole SR image.

The SR image is produced one band of slice rows at a time: for each row of slice windows (SAHI's geometry on the
SR frame, :func:`~sr4det.detectors.slicing.slice_windows`) the input rows under it, plus the model's receptive field
of context above and below, go through the memory-aware tiler (:func:`sr4det.tiling.upscale`, within
``max_memory``); the band's rows are cut into slices for the detector and the band is dropped. Peak memory is one
band (``slice`` SR rows of the full SR width) plus the tiler's working set, instead of the whole ``sH x sW`` image.

For a convolutional (local) SR model the bands equal the untiled SR image exactly, so the boxes equal those of
``SRDetector(sr, SlicedDetector(detector, full_image=False))``. The whole-image pass (``full_image=True``) runs the
detector on the *input* image and scales its boxes by the SR factor: an SR image letterboxed down to the detector's
size is (up to resampling) the input image letterboxed, and building it would need the whole SR image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InputError
from .base import Detections, Detector, as_rgb_batch
from .sliced import SlicedDetector, _Found
from .slicing import DEFAULT_MERGE, Merge
from .sr import sr_stage_config

#: memory kept back from each band's SR budget for the slices being detected and the boxes found so far (bytes)
HEADROOM = 64 * 2**20


class SRSlicedDetector:
    """A Detector: SR x``scale`` band by band, overlapping slices of the SR image through ``detector``, merged boxes.

    Args:
        sr: an :class:`~sr4det.transforms.SRTransform`, or anything it accepts as ``model`` (an SRModel, a zoo name, a
            weight file); its ``tile`` is used for the bands.
        detector: any :class:`~sr4det.detectors.base.Detector` (sees ``slice`` x ``slice`` crops of the SR image).
        slice, overlap, merge, full_image, batch: as :class:`~sr4det.detectors.sliced.SlicedDetector` (slice geometry
            in SR pixels; the whole-image pass runs on the input image, see the module docstring).
        max_memory: budget of the whole pipeline (bytes or ``"2GB"``). On the CPU each band's SR gets what is left of it
            after the process's current resident memory (Python, libraries, the detector, the input image) and
            :data:`HEADROOM` for the slices in flight; the tiler then picks its tiles within that, and raises
            :class:`~sr4det.errors.TileOOMError` when even its smallest tile does not fit. On a GPU the budget is the
            tiler's (device memory). None: the tiler's default (a fraction of the free memory).
        map_back: boxes in the input frame (``/ scale``, default) or in the SR frame.
    """

    def __init__(
        self,
        sr: Any,
        detector: Detector,
        slice: int = 640,
        overlap: float = 0.2,
        merge: Merge | str = DEFAULT_MERGE,
        full_image: bool = True,
        batch: int = 8,
        max_memory: str | int | float | None = None,
        map_back: bool = True,
    ):
        from ..tiling import parse_memory
        from ..transforms import SRTransform

        self.sliced = SlicedDetector(detector, slice=slice, overlap=overlap, merge=merge, full_image=full_image, batch=batch)
        self.sr = sr if isinstance(sr, SRTransform) else SRTransform(sr)
        if max_memory is not None:
            parse_memory(max_memory)  # a bad budget fails here
        self.max_memory = max_memory
        self.map_back = bool(map_back)
        self.detector = detector
        self.names: dict[int, str] = dict(detector.names)

    @property
    def scale(self) -> int:
        return int(self.sr.scale)

    @property
    def config(self) -> dict[str, Any]:
        """What decides the boxes (not ``batch`` or ``max_memory``), for recording alongside results (and cache keys)."""
        return {
            "type": "sr_sliced",
            "sr": sr_stage_config(self.sr),
            **{k: v for k, v in self.sliced.config.items() if k != "type"},
            "map_back": self.map_back,
        }

    def __repr__(self) -> str:
        return f"SRSlicedDetector({self.sr!r}, {self.sliced!r}, max_memory={self.max_memory!r})"

    def __call__(self, images: Sequence[Any]) -> list[Detections]:
        return [self._one(im) for im in as_rgb_batch(images)]

    def bands(self, height: int, width: int) -> list[tuple[int, int, np.ndarray]]:
        """The SR bands of a ``height`` x ``width`` input: ``(y1, y2, windows)`` per row of slice windows, SR pixels."""
        s = self.scale
        wins = self.sliced.windows(height * s, width * s)
        rows: dict[tuple[int, int], list[np.ndarray]] = {}
        for w in wins:
            rows.setdefault((int(w[1]), int(w[3])), []).append(w)
        return [(y1, y2, np.stack(ws)) for (y1, y2), ws in rows.items()]

    def _band_budget(self) -> int | None:
        """The SR budget of the next band: ``max_memory`` less the resident memory and :data:`HEADROOM` on the CPU."""
        from ..errors import TileOOMError
        from ..tiling import parse_memory

        if self.max_memory is None:
            return None
        total = parse_memory(self.max_memory)
        if self.sr.model.device.type != "cpu":
            return total
        import psutil

        left = total - psutil.Process().memory_info().rss - HEADROOM
        if left <= 0:
            raise TileOOMError(
                f"max_memory {self.max_memory} is already used by the process ({psutil.Process().memory_info().rss / 2**20:.0f} "
                "MiB resident: libraries, detector, input image) before any SR; give a larger max_memory",
                tile=0,
                min_tile=0,
                device="cpu",
                bytes_requested=total,
            )
        return left

    def _one(self, image: np.ndarray) -> Detections:
        from ..tiling import upscale

        s, model = self.scale, self.sr.model
        h, w = image.shape[:2]
        context = int(model.card.default_overlap)
        found: list[_Found] = []
        bands = self.bands(h, w)
        n_windows = sum(len(b[2]) for b in bands)
        if self.sliced.full_image and n_windows > 1:
            # the whole-image pass on the input image, boxes scaled into the SR frame (see the module docstring);
            # first, so the detector's own memory is resident before the bands' budgets are taken
            boxes, scores, labels = self.sliced.detect_crops([image], [(0, 0)])[0]
            found.append((boxes * np.float32(s), scores, labels))
        for y1, y2, wins in bands:
            ly0, ly1 = max(0, y1 // s - context), min(h, -(-y2 // s) + context)
            band = upscale(model, image[ly0:ly1], tile=self.sr.tile, max_memory=self._band_budget())
            rows = band[y1 - s * ly0 : y2 - s * ly0]
            if rows.shape[0] != y2 - y1 or rows.shape[1] != w * s:
                raise InputError(f"the SR model returned a {band.shape[:2]} band for {(ly1 - ly0, w)} input rows at x{s}")
            crops = [rows[:, int(x1) : int(x2)] for x1, _, x2, _ in wins]
            found += self.sliced.detect_crops(crops, [(int(x1), int(y1)) for x1, y1, _, _ in wins])
            del band, rows, crops
        det = self.sliced.merged(found, (h * s, w * s))
        return det.rescaled(1 / s, image_size=(h, w)) if self.map_back else det

"""Training pairs for SR: random aligned (LR, HR) crops from a folder of HR images.

The LR images are made exactly as the evaluator makes them, by :func:`sr4det.degradation.degrade`: by
default the HR image is mod-cropped to a multiple of the scale, shrunk with MATLAB-compatible bicubic
(:func:`sr4det.resize.imresize_uint8`) and rounded to uint8 as a saved image would be; a
:class:`~sr4det.degradation.DegradationSpec` adds blur, noise or JPEG the way ``compare`` does. Whole images are degraded once and kept in memory (uint8), so a
training step only slices arrays; crops are then aligned, so the LR patch has its real context rather
than the mirrored border a crop-then-shrink pipeline would see.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._heap import trim_heap
from ..color import rgb_to_ycbcr
from ..data.io import list_images, read_image, to_rgb8
from ..degradation import DegradationSpec
from ..errors import DataError, InputError
from ..metrics.sr_eval import mod_crop
from ..models.card import ModelCard
from ..resize import imresize


def _spec_for(degradation: DegradationSpec | None, scale: int) -> DegradationSpec:
    """``degradation``, or the default one at ``scale``; refuses a spec of another scale."""
    if degradation is None:
        return DegradationSpec(int(scale))
    if not isinstance(degradation, DegradationSpec):
        raise InputError(f"degradation must be a sr4det.degradation.DegradationSpec, got {type(degradation).__name__}")
    if degradation.scale != scale:
        raise InputError(f"degradation scale x{degradation.scale} differs from the training scale x{scale}; make them equal")
    return degradation


@dataclass
class _Pair:
    hr: np.ndarray  # uint8 (sH, sW, 3)
    lr: np.ndarray  # uint8 (H, W, 3)


class PairedPatches:
    """In-memory (LR, HR) pairs of a folder of HR images, and a random aligned-crop sampler.

    Args:
        folders: image files or folders (non-recursive), e.g. ``[".../T91", ".../BSD200"]``.
        scale: upscaling factor; the LR image is ``degradation(mod_crop(hr))``.
        degradation: the :class:`~sr4det.degradation.DegradationSpec` (default ``DegradationSpec(scale)``:
            ``imresize_uint8(mod_crop(hr), 1/scale)``); its scale must equal ``scale``.
        min_lr_size: images whose LR side is shorter than this are skipped (too small to crop).
        limit: use only the first ``limit`` images (tests, quick runs).

    Raises:
        DataError: no image in the folders is large enough.
    """

    def __init__(
        self,
        folders: Sequence[str | Path],
        scale: int,
        *,
        min_lr_size: int = 8,
        limit: int | None = None,
        progress: bool = False,
        degradation: DegradationSpec | None = None,
    ):
        if scale < 1:
            raise InputError(f"scale must be >= 1, got {scale}")
        degradation = _spec_for(degradation, scale)
        paths = list_images(*folders)
        if limit is not None:
            from ..data.ground_truth import check_limit

            check_limit(limit)
            paths = paths[:limit]
        if not paths:
            raise DataError(f"no images found in {[str(f) for f in folders]}")
        self.scale = int(scale)
        self.pairs: list[_Pair] = []
        it = paths
        if progress:
            from .._progress import tqdm

            it = tqdm(paths, desc=f"degrading x{scale}", unit="img")
        for p in it:
            hr = mod_crop(to_rgb8(read_image(p)[0]), self.scale)
            if min(hr.shape[:2]) // self.scale < min_lr_size:
                continue
            self.pairs.append(_Pair(hr=hr, lr=degradation(hr)))
            trim_heap()  # else the resampler's freed temporaries stay resident (GBs over a few hundred images)
        if not self.pairs:
            raise DataError(f"none of the {len(paths)} images is at least {min_lr_size * scale} px on its short side")
        self.paths = paths
        areas = np.array([p.lr.shape[0] * p.lr.shape[1] for p in self.pairs], dtype=np.float64)
        self._weights = areas / areas.sum()  # sample images by area, so every pixel is about equally likely

    def __len__(self) -> int:
        return len(self.pairs)

    def sample(
        self, batch: int, lr_patch: int, rng: np.random.Generator, *, margin: int = 0, augment: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of aligned crops.

        Args:
            batch: number of crops.
            lr_patch: LR crop side; the HR crop side is ``lr_patch * scale``.
            rng: numpy generator (seeded by the trainer, saved in checkpoints).
            margin: extra LR pixels of real context on every side of the LR crop (pre-upsampling
                networks crop them away again after the bicubic enlargement).
            augment: random horizontal/vertical flips and transposition (they commute with the
                MATLAB resampler on mod-cropped images, so the pair stays exact).

        Returns:
            lr: float32 (B, 3, lr_patch + 2*margin, same) in [0, 1]; hr: float32 (B, 3, s*lr_patch, same) in [0, 1].
        """
        s, p, m = self.scale, lr_patch, margin
        lrs, hrs = [], []
        need = p + 2 * m
        idx = rng.choice(len(self.pairs), size=batch, p=self._weights)
        for i in idx:
            pair = self.pairs[i]
            h, w = pair.lr.shape[:2]
            if h < need or w < need:
                # too small for this patch: fall back to a random large-enough image
                ok = [j for j, q in enumerate(self.pairs) if min(q.lr.shape[:2]) >= need]
                if not ok:
                    raise DataError(f"no training image has an LR side of {need} px; lower the patch size")
                pair = self.pairs[ok[rng.integers(len(ok))]]
                h, w = pair.lr.shape[:2]
            y = int(rng.integers(m, h - p - m + 1))
            x = int(rng.integers(m, w - p - m + 1))
            lr = pair.lr[y - m : y + p + m, x - m : x + p + m]
            hr = pair.hr[y * s : (y + p) * s, x * s : (x + p) * s]
            if augment:
                if rng.random() < 0.5:
                    lr, hr = lr[:, ::-1], hr[:, ::-1]
                if rng.random() < 0.5:
                    lr, hr = lr[::-1], hr[::-1]
                if rng.random() < 0.5:
                    lr, hr = lr.transpose(1, 0, 2), hr.transpose(1, 0, 2)
            lrs.append(np.ascontiguousarray(lr))
            hrs.append(np.ascontiguousarray(hr))
        lr_t = torch.from_numpy(np.stack(lrs)).permute(0, 3, 1, 2).float().div_(255.0)
        hr_t = torch.from_numpy(np.stack(hrs)).permute(0, 3, 1, 2).float().div_(255.0)
        return lr_t.contiguous(), hr_t.contiguous()


def pre_upsample_margin(card: ModelCard) -> int:
    """LR context pixels a pre-upsampling network needs so its bicubic input is exact (kernel radius 2)."""
    return 2 if card.upsampling == "pre" else 0


def network_io(
    card: ModelCard, scale: int, lr: torch.Tensor, hr: torch.Tensor, *, margin: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn an RGB (LR, HR) batch into (network input, target) the way :class:`SRModel` feeds the network.

    Y models get BT.601 luma (float, from the uint8-quantised LR, as at inference); pre-upsampling
    models get the MATLAB-bicubic enlargement, from which the ``margin`` context is cropped away.

    Args:
        lr: float (B, 3, h + 2*margin, w + 2*margin) in [0, 1]; hr: float (B, 3, s*h, s*w) in [0, 1].

    Returns:
        (x, y): x is (B, C, h, w) or (B, C, s*h, s*w) for pre-upsampling; y is (B, C, s*h, s*w); C = 1 for Y models.
    """
    if card.input_space == "y":
        lr = rgb_to_ycbcr(lr)[:, :1]
        hr = rgb_to_ycbcr(hr)[:, :1]
    if card.upsampling == "pre":
        lr = imresize(lr, scale=scale)
        if margin:
            c = margin * scale
            lr = lr[..., c:-c, c:-c]
    elif margin:
        lr = lr[..., margin:-margin, margin:-margin]
    return lr.contiguous(), hr

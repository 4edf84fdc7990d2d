"""Detection-aware training crops: aligned (LR, HR) crops of a COCO-annotated image set with their boxes.

The LR side is made exactly as :class:`~sr4det.training.data.PairedPatches` (and the evaluator) make it,
from the whole mod-cropped HR image. Crops keep detector-sized context (an HR side of at least 256 px is
recommended; it must be a multiple of the detector's stride) and carry the ground-truth boxes that fall
inside, clipped to the crop, with class indices of the training detector. Crops are centred on a random
object most of the time, so batches are not dominated by background.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._heap import trim_heap
from ..data.datasets import ClassMap, load_coco
from ..data.io import read_image, to_rgb8
from ..degradation import DegradationSpec, RandomDegradation
from ..errors import DataError, InputError
from ..metrics.sr_eval import mod_crop

_MIN_VISIBLE = 0.4  # a clipped box is kept when at least this fraction of its area is inside the crop


@dataclass
class _Item:
    hr: np.ndarray  # uint8 (sH, sW, 3)
    lr: np.ndarray | None  # uint8 (H, W, 3); None when every crop is degraded on the fly (RandomDegradation)
    boxes: np.ndarray  # float32 (N, 4) xyxy, HR pixels, non-crowd
    classes: np.ndarray  # int64 (N,) detector class indices


@dataclass
class DetectionBatch:
    """One batch: ``lr`` float32 (B, 3, p, p) and ``hr`` float32 (B, 3, s*p, s*p) in [0, 1]; ``targets``
    in ultralytics' loss format: ``batch_idx`` (N,), ``cls`` (N, 1) and ``bboxes`` (N, 4) normalised xywh."""

    lr: torch.Tensor
    hr: torch.Tensor
    targets: dict[str, torch.Tensor]


class DetectionPatches:
    """In-memory (LR, HR, boxes) images of a COCO instances json and a box-aware random crop sampler.

    Args:
        annotations: COCO instances json (its images are found beside it, as in ``sr4det compare``).
        scale: upscaling factor; LR = ``degradation(mod_crop(hr))``.
        degradation: a :class:`~sr4det.degradation.DegradationSpec` (default ``DegradationSpec(scale)``:
            ``imresize_uint8(mod_crop(hr), 1/scale)``, as ``compare``'s default), applied once per whole image; or a
            :class:`~sr4det.degradation.RandomDegradation`, applied to every HR crop with the sampler's ``rng`` (a
            new random degradation per crop, reproducible from the trainer's seed).
        detector_names: ``{class index: name}`` of the training detector; dataset categories are mapped by name.
        limit: use only the first ``limit`` images (tests, quick runs).
        exclude: image ids never used (held out for detection validation, see
            :func:`~sr4det.training.detection_val.split_val_ids`).

    Raises:
        DataError: unreadable annotations, categories the detector lacks, or no usable image.
    """

    def __init__(
        self,
        annotations: str | Path,
        scale: int,
        detector_names: Mapping[int, str],
        *,
        limit: int | None = None,
        progress: bool = False,
        degradation: DegradationSpec | RandomDegradation | None = None,
        exclude: Iterable[int] = (),
    ):
        from .data import _spec_for

        if scale < 1:
            raise InputError(f"scale must be >= 1, got {scale}")
        self.random: RandomDegradation | None = None
        spec: DegradationSpec | None = None
        if isinstance(degradation, RandomDegradation):
            if degradation.scale != scale:
                raise InputError(
                    f"degradation scale x{degradation.scale} differs from the training scale x{scale}; make them equal"
                )
            self.random = degradation
        else:
            spec = _spec_for(degradation, scale)
        gt = load_coco(annotations).head(limit)
        held_out = {int(i) for i in exclude}
        if held_out:
            gt = gt.subset(im.id for im in gt.images if im.id not in held_out)
        gt = gt.mod_crop(scale)
        cat_to_index = ClassMap.build(detector_names, gt, "names").category_to_index
        self.scale = int(scale)
        self.items: list[_Item] = []
        images = gt.images
        if progress:
            from .._progress import tqdm

            images = tqdm(images, desc=f"degrading x{scale} (detection crops)", unit="img")
        for im in images:
            if im.height == 0 or not im.path.is_file():
                continue
            hr = mod_crop(to_rgb8(read_image(im.path)[0]), self.scale)
            if hr.shape[:2] != (im.height, im.width):
                raise DataError(
                    f"{im.path}: size {hr.shape[1]}x{hr.shape[0]} differs from the json's {im.width}x{im.height} (mod-cropped)"
                )
            keep = im.iscrowd == 0
            self.items.append(
                _Item(
                    hr=hr,
                    lr=None if spec is None else spec(hr),
                    boxes=im.boxes[keep].astype(np.float32),
                    classes=np.array([cat_to_index[int(c)] for c in im.category_ids[keep]], dtype=np.int64),
                )
            )
            trim_heap()
        if not self.items:
            raise DataError(f"no readable image in {annotations}")
        self.source = str(annotations)

    def __len__(self) -> int:
        return len(self.items)

    def sample(
        self, batch: int, lr_patch: int, rng: np.random.Generator, *, object_centred: float = 0.8, flip: bool = True
    ) -> DetectionBatch:
        """A batch of aligned crops with their boxes.

        Args:
            batch: number of crops.
            lr_patch: LR crop side; the HR side is ``lr_patch * scale`` (images smaller than that are padded
                with zeros at the bottom/right, and their boxes stay where they are).
            rng: numpy generator (seeded by the trainer, saved in checkpoints).
            object_centred: probability that a crop is centred (with jitter) on a random object of its image.
            flip: random horizontal flips (boxes flipped with the pixels). No vertical flips or transposes:
                detectors never see upside-down scenes.
        """
        s, p = self.scale, int(lr_patch)
        P = p * s
        lrs, hrs, idx, cls, boxes = [], [], [], [], []
        for b, i in enumerate(rng.integers(len(self.items), size=batch)):
            item = self.items[int(i)]
            h, w = item.hr.shape[0] // s, item.hr.shape[1] // s
            if len(item.boxes) and rng.random() < object_centred:
                x1, y1, x2, y2 = item.boxes[rng.integers(len(item.boxes))] / s
                cy = (y1 + y2) / 2 + rng.uniform(-0.25, 0.25) * p
                cx = (x1 + x2) / 2 + rng.uniform(-0.25, 0.25) * p
                y = int(np.clip(round(cy - p / 2), 0, max(0, h - p)))
                x = int(np.clip(round(cx - p / 2), 0, max(0, w - p)))
            else:
                y, x = int(rng.integers(0, max(0, h - p) + 1)), int(rng.integers(0, max(0, w - p) + 1))
            hr = _pad(item.hr[y * s : y * s + P, x * s : x * s + P], P)
            if self.random is not None:
                lr = self.random(hr, rng)
            else:
                assert item.lr is not None  # made at load time whenever there is no random degradation
                lr = _pad(item.lr[y : y + p, x : x + p], p)
            bx = item.boxes - np.array([x * s, y * s, x * s, y * s], dtype=np.float32)
            clipped = bx.clip(0, [min(P, (w - x) * s), min(P, (h - y) * s)] * 2)
            area = (bx[:, 2] - bx[:, 0]) * (bx[:, 3] - bx[:, 1])
            vis = (clipped[:, 2] - clipped[:, 0]).clip(0) * (clipped[:, 3] - clipped[:, 1]).clip(0)
            keep = (vis >= _MIN_VISIBLE * np.maximum(area, 1e-6)) & (vis > 0)
            bx, c = clipped[keep], item.classes[keep]
            if flip and rng.random() < 0.5:
                lr, hr = lr[:, ::-1], hr[:, ::-1]
                bx = np.stack([P - bx[:, 2], bx[:, 1], P - bx[:, 0], bx[:, 3]], axis=1) if len(bx) else bx
            lrs.append(np.ascontiguousarray(lr))
            hrs.append(np.ascontiguousarray(hr))
            idx.append(np.full(len(bx), b))
            cls.append(c)
            boxes.append(bx.reshape(-1, 4))
        xyxy = np.concatenate(boxes).astype(np.float32) / P
        xywh = np.concatenate([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], axis=1)
        targets = {
            "batch_idx": torch.from_numpy(np.concatenate(idx).astype(np.float32)),
            "cls": torch.from_numpy(np.concatenate(cls).astype(np.float32)).view(-1, 1),
            "bboxes": torch.from_numpy(xywh),
        }
        lr_t = torch.from_numpy(np.stack(lrs)).permute(0, 3, 1, 2).float().div_(255.0)
        hr_t = torch.from_numpy(np.stack(hrs)).permute(0, 3, 1, 2).float().div_(255.0)
        return DetectionBatch(lr_t.contiguous(), hr_t.contiguous(), targets)


def _pad(a: np.ndarray, side: int) -> np.ndarray:
    h, w = a.shape[:2]
    if h == side and w == side:
        return a
    out = np.zeros((side, side, a.shape[2]), dtype=a.dtype)
    out[:h, :w] = a
    return out

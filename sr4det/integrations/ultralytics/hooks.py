"""Train or validate ultralytics YOLO on degraded + super-resolved images, through ultralytics callbacks.

::

    from ultralytics import YOLO
    from sr4det.integrations.ultralytics.hooks import attach

    model = YOLO("yolov8n.yaml")
    hook = attach(model, degrade=4, sr="espcn")         # or Degrade(...), SRTransform(...)
    model.train(data="coco128.yaml", epochs=10, imgsz=640)

How it works (no fork of ultralytics' trainer): two callbacks, ``on_pretrain_routine_end`` (the trainer's
train and val loaders exist, no worker has started yet) and ``on_val_start`` (a stand-alone
``model.val()``), mark those loaders' datasets. A marked dataset reads every image file through the hook:
the image at its **original resolution** goes through ``Degrade`` then ``SR`` and is padded back (edge
replicated, at most ``scale - 1`` rows/columns lost to the mod-crop) to exactly its original size, before
ultralytics resizes it to ``imgsz`` and applies its own augmentation (mosaic, flips, HSV, ...). YOLO labels
are normalised to the image size, which is unchanged, so they stay consistent without being touched.

With ``sr=None`` the LR image itself is returned (training at low resolution); its normalised labels are
then off by at most ``(scale - 1) / width`` because of the mod-crop.

Limits: ultralytics' ``cache="ram"`` / ``cache="disk"`` store unprocessed images, so they are refused
(precompute SR images once with ``sr4det materialize`` instead). ``hook.stats`` counts what the hook
processed in *this* process (DataLoader workers keep their own counts).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...degradation import DegradationSpec
from ...errors import InputError, ScaleError
from ...transforms import Degrade, SRTransform

_ACTIVE = threading.local()  # the hook of the dataset whose load_image is running in this thread
_MARK = "_sr4det_hook"


@dataclass
class HookStats:
    """What the hook processed in this process: file -> (original (H, W), LR (h, w), returned (H, W))."""

    images: dict[str, tuple[tuple[int, int], tuple[int, int], tuple[int, int]]] = field(default_factory=dict)
    calls: int = 0


class SRHook:
    """Degrade + SR applied to images as ultralytics datasets read them (see the module docstring)."""

    def __init__(self, degrade: Degrade | DegradationSpec | int | None, sr: Any = None, *, train: bool = True, val: bool = True):
        degrade = Degrade.coerce(degrade)
        if sr is not None and not isinstance(sr, SRTransform):
            sr = SRTransform(sr, scale=degrade.scale if degrade is not None else None, tile="auto")
        if degrade is None and sr is None:
            raise InputError("attach() needs degrade=..., sr=... or both")
        if degrade is not None and sr is not None and sr.scale != degrade.scale:
            raise ScaleError(f"SR scale x{sr.scale} does not undo Degrade scale x{degrade.scale}")
        self.degrade = degrade
        self.sr = sr
        self.train = train
        self.val = val
        self.stats = HookStats()

    def process(self, image: np.ndarray, name: str = "") -> np.ndarray:
        """uint8 BGR (H, W, 3) / gray (H, W[, 1]) image as ultralytics reads it -> the same layout after Degrade + SR."""
        squeeze = image.ndim == 3 and image.shape[2] == 1
        arr = image[:, :, 0] if squeeze else image
        if arr.ndim == 3 and arr.shape[2] >= 3:  # BGR(A) -> RGB(A)
            arr = np.concatenate([arr[:, :, 2::-1], arr[:, :, 3:]], axis=2)
        t = torch.from_numpy(np.ascontiguousarray(arr))
        t = t.unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1)  # (C, H, W) uint8: channel order is explicit
        h, w = t.shape[-2:]
        lr = self.degrade(t) if self.degrade is not None else t
        out = self.sr(lr) if self.sr is not None else lr
        if self.sr is not None and tuple(out.shape[-2:]) != (h, w):  # mod-crop: pad back so labels stay normalised
            out = torch.nn.functional.pad(out[None].float(), (0, w - out.shape[-1], 0, h - out.shape[-2]), mode="replicate")[0]
            out = out.to(t.dtype)
        res = out.permute(1, 2, 0).numpy()
        if res.shape[2] >= 3:
            res = np.concatenate([res[:, :, 2::-1], res[:, :, 3:]], axis=2)
        res = res if squeeze or image.ndim == 3 else res[:, :, 0]
        self.stats.calls += 1
        lr_hw = (int(lr.shape[-2]), int(lr.shape[-1]))
        self.stats.images[name] = ((int(h), int(w)), lr_hw, (int(res.shape[0]), int(res.shape[1])))
        return np.ascontiguousarray(res)

    # ---- ultralytics callbacks
    def on_pretrain_routine_end(self, trainer: Any) -> None:
        if self.train and getattr(trainer, "train_loader", None) is not None:
            self.mark(trainer.train_loader.dataset)
        if self.val and getattr(trainer, "test_loader", None) is not None:
            self.mark(trainer.test_loader.dataset)

    def on_val_start(self, validator: Any) -> None:
        loader = getattr(validator, "dataloader", None)
        if self.val and loader is not None:
            self.mark(loader.dataset)

    def mark(self, dataset: Any) -> None:
        """Make ``dataset`` (an ultralytics ``BaseDataset``) read its images through this hook. Idempotent."""
        if getattr(dataset, _MARK, None) is self:
            return
        if not hasattr(dataset, "load_image") or not hasattr(dataset, "npy_files"):
            raise InputError(f"{type(dataset).__name__} is not an ultralytics image dataset")
        if getattr(dataset, "cache", None) in ("ram", "disk", True):
            raise InputError(
                f"ultralytics cache={dataset.cache!r} stores images before the SR hook sees them; train with cache=False "
                "or precompute the SR dataset with `sr4det materialize`"
            )
        _install_imread_patch()
        setattr(dataset, _MARK, self)
        # .npy files left by an earlier cache='disk' run hold unprocessed images: never read them
        dataset.npy_files = [Path(str(f) + ".sr4det-bypass.npy") for f in dataset.npy_files]
        dataset.load_image = _HookedLoad(dataset)


class _HookedLoad:
    """Instance-level ``load_image`` that routes the dataset's file reads through its hook (picklable)."""

    def __init__(self, dataset: Any):
        self.dataset = dataset

    def __call__(self, i: int, *args: Any, **kwargs: Any):
        _install_imread_patch()  # spawned DataLoader workers import ultralytics afresh
        previous = getattr(_ACTIVE, "hook", None)
        _ACTIVE.hook = getattr(self.dataset, _MARK)
        try:
            return type(self.dataset).load_image(self.dataset, i, *args, **kwargs)
        finally:
            _ACTIVE.hook = previous


def _install_imread_patch() -> None:
    """Wrap ``ultralytics.data.base.imread`` once; it applies the active hook (if any) to what it reads."""
    import ultralytics.data.base as base

    if getattr(base.imread, "_sr4det", False):
        return
    original = base.imread

    def imread(filename, flags=None, **kwargs):
        im = original(filename, flags, **kwargs) if flags is not None else original(filename, **kwargs)
        hook = getattr(_ACTIVE, "hook", None)
        if hook is None or im is None:
            return im
        return hook.process(im, str(filename))

    imread._sr4det = True  # type: ignore[attr-defined]  # marks the patched function (checked before patching)
    imread.__wrapped__ = original  # type: ignore[attr-defined]  # as functools.wraps sets it
    base.imread = imread


def attach(
    model_or_trainer: Any, degrade: Degrade | int | None = None, sr: Any = None, *, train: bool = True, val: bool = True
) -> SRHook:
    """Make a YOLO model's training/validation (or a trainer's) see Degrade + SR images.

    Args:
        model_or_trainer: an ``ultralytics.YOLO`` (hooks every later ``.train()`` / ``.val()``), or a trainer /
            validator object (its loaders are marked now if they exist, else through its callbacks).
        degrade: a :class:`~sr4det.transforms.Degrade`, an int scale, or None (images already low-resolution).
        sr: an :class:`~sr4det.transforms.SRTransform`, anything it accepts as ``model`` (name, SRModel, path),
            or None (train on the LR images).
        train, val: which loaders to hook.

    Returns:
        The :class:`SRHook` (``hook.stats`` shows what it processed in this process).
    """
    from .offline import configure_ultralytics

    configure_ultralytics()
    hook = SRHook(degrade, sr, train=train, val=val)
    if not hasattr(model_or_trainer, "add_callback"):
        raise InputError(f"attach() needs an ultralytics YOLO, trainer or validator, got {type(model_or_trainer).__name__}")
    model_or_trainer.add_callback("on_pretrain_routine_end", hook.on_pretrain_routine_end)
    model_or_trainer.add_callback("on_val_start", hook.on_val_start)
    # a trainer/validator whose loaders already exist: mark them now (workers start on first iteration)
    if getattr(model_or_trainer, "train_loader", None) is not None or getattr(model_or_trainer, "test_loader", None) is not None:
        hook.on_pretrain_routine_end(model_or_trainer)
    if getattr(model_or_trainer, "dataloader", None) is not None:
        hook.on_val_start(model_or_trainer)
    return hook

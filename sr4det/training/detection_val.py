"""Detection validation during SR training: the network's AP against bicubic's on images held out of the training
detector's data, so that a checkpoint can be chosen without looking at the evaluation set.

:func:`split_val_ids` draws the held-out images (seeded); :class:`~sr4det.training.detection_data.DetectionPatches`
then skips them (``exclude=``) and :class:`DetectionValidation` scores the network on them with
:func:`sr4det.evaluation.compare`: the same degradation, detector settings, COCO metrics and paired bootstrap as
``sr4det compare``, on the full held-out images (not crops).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._distributed import DistContext
from ..data.datasets import GroundTruth, load_coco
from ..degradation import DegradationSpec
from ..errors import InputError
from ..evaluation.conditions import SRCondition, SRSpec, model_digest
from ..models.card import ModelCard
from ..models.wrapper import SRModel
from .evaluate import network_model

#: the log.csv / TrainResult keys of one detection validation
FIELDS = ("det_val_ap", "det_val_ap_bicubic", "det_val_delta", "det_val_ci_low", "det_val_ci_high")
#: the held-out images are drawn with this seed whatever the run's seed, so runs that differ in their crop seed
#: are validated on the same images
DET_VAL_SEED = 0


def split_val_ids(image_ids: Sequence[int], n_val: int, seed: int) -> tuple[list[int], list[int]]:
    """(training ids, held-out ids): ``n_val`` ids drawn without replacement by ``numpy.random.default_rng(seed)``
    from the sorted ids; both lists sorted. The draw depends only on the id set, ``n_val`` and ``seed``.

    Raises:
        InputError: ``n_val`` < 1 or it leaves no training image.
    """
    ids = sorted(int(i) for i in image_ids)
    if not isinstance(n_val, int) or isinstance(n_val, bool) or n_val < 1:
        raise InputError(f"det_val must be a positive number of held-out images, got {n_val!r}")
    if n_val >= len(ids):
        raise InputError(
            f"det_val={n_val} would hold out all {len(ids)} images of the detection data; hold out fewer "
            f"(e.g. {max(1, len(ids) // 5)}) so that some remain to train on"
        )
    pick = np.random.default_rng(seed).permutation(len(ids))[:n_val]
    held = sorted(ids[i] for i in pick)
    chosen = set(held)
    return [i for i in ids if i not in chosen], held


def held_out_ids(annotations: str | Path, n_val: int, limit: int | None = None) -> list[int]:
    """The ids ``--det-val n_val`` holds out of the first ``limit`` images of ``annotations`` (seed :data:`DET_VAL_SEED`)."""
    ids = [im.id for im in load_coco(annotations).head(limit).images]
    return split_val_ids(ids, n_val, DET_VAL_SEED)[1]


class _NetworkCondition(SRCondition):
    """An SR condition whose model is the network being trained (wrapped, eval mode, a copy of its weights)."""

    def __init__(self, name: str, model: SRModel):
        super().__init__(name, spec=SRSpec(name, name))
        self._held = model

    def load(self, scale, device=None):
        self.model = self._held
        self.digest = model_digest(self._held)
        return {"model": "training network", "model_digest": self.digest[:16]}


class DetectionValidation:
    """AP of an SR network against bicubic on held-out images, through a detector, with a paired bootstrap CI.

    Args:
        annotations: the COCO instances json of the training detector's data (images found beside it).
        val_ids: the held-out image ids (:func:`split_val_ids`); never cropped for training.
        detector: ultralytics weights as ``sr4det compare --detector`` takes them (the training detector's export);
            scored with compare's settings (imgsz 640, conf 0.001, iou 0.7, max_det 300).
        scale, degradation: as the training crops (LR = ``degradation(mod_crop(hr))``).
        n_resamples, seed: the paired bootstrap over the held-out images (95% interval).
        detector_factory: builds the detector from ``detector`` (tests pass a stub); default
            :class:`~sr4det.detectors.UltralyticsDetector`.
    """

    def __init__(
        self,
        annotations: str | Path,
        val_ids: Sequence[int],
        detector: str | Path,
        scale: int,
        *,
        degradation: DegradationSpec | None = None,
        n_resamples: int = 1000,
        seed: int = 0,
        detector_factory: Any = None,
    ):
        gt: GroundTruth = load_coco(annotations).subset(val_ids)
        if not gt.images:
            raise InputError(f"none of the held-out ids {list(val_ids)[:5]}... is an image of {annotations}")
        self.gt = gt
        self.scale = int(scale)
        self.degradation = degradation
        self.n_resamples = n_resamples
        self.seed = seed
        if detector_factory is None:
            from ..detectors import UltralyticsDetector

            detector_factory = UltralyticsDetector
        self.detector = detector_factory(detector)

    def __call__(self, net: torch.nn.Module, card: ModelCard) -> dict[str, float]:
        """Score ``net`` (left in the mode it was in); returns :data:`FIELDS` (ΔAP = network - bicubic)."""
        from ..evaluation import compare

        was_training = net.training
        net.eval()
        try:
            res = compare(
                self.gt,
                self.detector,
                scale=self.scale,
                conditions=[SRCondition("bicubic"), _NetworkCondition("network", network_model(net, card, self.scale))],
                degradation=self.degradation,
                n_resamples=self.n_resamples,
                seed=self.seed,
                cache_dir=False,
                tile=None,
                progress=False,
                dist=DistContext(),  # one process: under torchrun rank 0 alone validates, the others are training
            )
        finally:
            net.train(was_training)
        d = res["deltas"]["vs_bicubic"]["network"]["AP"]
        nan = float("nan")
        return {
            "det_val_ap": res["conditions"]["network"]["AP"],
            "det_val_ap_bicubic": res["conditions"]["bicubic"]["AP"],
            "det_val_delta": d["delta"],
            "det_val_ci_low": nan if d["ci_low"] is None else d["ci_low"],
            "det_val_ci_high": nan if d["ci_high"] is None else d["ci_high"],
        }

"""Native-resolution comparison (``sr4det compare --native``): the input is the original image, with no synthetic
degradation; the conditions are

* ``native``: the image as it is;
* ``bicubic`` and each SR model: the image upscaled x``scale`` (:class:`~sr4det.detectors.sr.SRDetector`), boxes
  divided by ``scale`` back into the native frame;

each detected whole, or sliced (``--slice 640[:0.2]``, a :class:`~sr4det.detectors.sliced.SlicedDetector` around the
detector; on SR conditions a :class:`~sr4det.detectors.sr_sliced.SRSlicedDetector`: slices cut from the SR image as
it is produced band by band, the whole SR image never held, and the whole-image pass on the native image). With slicing, ``native@whole`` (the native image
through the detector alone, SAHI's "standard prediction") is added as the unsliced reference.

Every condition is an ``hr``-kind condition (the native image) with a detector of its own, so the comparison runs
with scale 1 (no mod-crop, no LR image) and its cache keys, paired bootstrap and report are the standard ones. The
SR time of a condition is part of its ``detector_seconds_per_image`` (SR and detection are one detector here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from .conditions import RESERVED, Condition, HRCondition, SRSpec

NATIVE = "native"
#: label of the unsliced reference condition (``native@whole``) when the others are sliced
WHOLE = "whole"


@dataclass(frozen=True)
class Slicing:
    """``--slice SIZE[:OVERLAP]``: slice side in pixels and overlap fraction, and the merge spec."""

    size: int = 640
    overlap: float = 0.2
    merge: str = "nms:iou:0.5"

    @classmethod
    def parse(cls, text: str | int, merge: str = "nms:iou:0.5") -> Slicing:
        """``"640"``, ``"640:0.2"`` (or an int) -> :class:`Slicing`; an :class:`InputError` naming the form otherwise."""
        from ..detectors.slicing import Merge, parse_slice

        size, overlap = parse_slice(text)
        return cls(size, overlap, str(Merge.parse(merge)))

    def config(self) -> dict[str, Any]:
        return {"slice": self.size, "overlap": self.overlap, "merge": self.merge}


def native_conditions(
    detector: Any,
    specs: list[SRSpec],
    scale: int,
    *,
    slicing: Slicing | None = None,
    tile: str | int | None = "auto",
    device: Any = None,
    batch: int = 8,
    runtime: tuple[str, str] = ("torch", "fp32"),
) -> list[Condition]:
    """The conditions of a native-resolution comparison: ``native`` (and ``native@whole`` when sliced), then one per
    SR spec at ``scale``, each with its detector (sliced when ``slicing`` is given). Specs with a detector label
    (``SR@LABEL``) or the reserved inputs are refused. ``runtime`` (backend, precision) runs every SR network
    (:meth:`~sr4det.models.SRModel.set_runtime`); a compiled runtime runs on the CPU unless ``device`` is given, and
    is part of each SR condition's detector config, so its cached detections never mix with torch's."""
    from ..detectors.sliced import SlicedDetector
    from ..detectors.sr import SRDetector
    from ..detectors.sr_sliced import SRSlicedDetector
    from ..transforms import SRTransform

    def sliced(det: Any) -> Any:
        if slicing is None:
            return det
        return SlicedDetector(det, slice=slicing.size, overlap=slicing.overlap, merge=slicing.merge, batch=batch)

    # unsliced, ``native`` is the run's own detector on the image (label "main")
    out: list[Condition] = [HRCondition(NATIVE, sliced(detector), NATIVE) if slicing else HRCondition(NATIVE)]
    if slicing is not None:
        out.append(HRCondition(f"{NATIVE}@{WHOLE}", detector, WHOLE))
    for s in specs:
        if s.detector is not None or s.source in RESERVED or s.name in (NATIVE, *RESERVED):
            raise InputError(
                f"native mode: {s.name!r} is not an SR model; the conditions are {NATIVE!r} (always) and SR models "
                "(zoo names, weight files, name=path); detectors per condition (SR@LABEL) are not supported here"
            )
        model = s.load(scale, device=device, runtime=runtime)
        sr = SRTransform(model, tile=tile, device=device)
        if slicing is None:
            sr_det: Any = SRDetector(sr, detector)
        else:
            sr_det = SRSlicedDetector(sr, detector, slice=slicing.size, overlap=slicing.overlap, merge=slicing.merge, batch=batch)
        out.append(HRCondition(s.name, sr_det, s.name))
    return out

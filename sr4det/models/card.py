"""The model card: what the tiler, the transforms and the evaluator need to know about an SR model."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

InputSpace = Literal["rgb", "y"]
Upsampling = Literal["pre", "post", "none"]
Objective = Literal["pixel", "feature", "gan", "detection", "none"]


@dataclass(frozen=True)
class PublishedWeights:
    """A downloadable weight file: ``url`` and its ``sha256`` (hex)."""

    url: str
    sha256: str
    filename: str | None = None


@dataclass(frozen=True)
class ModelCard:
    """Static facts about one SR architecture (and, once built, one instance of it).

    Attributes:
        name: registry name (``"espcn"``) or, for third-party files, the detected architecture.
        scales: upscaling factors the architecture supports.
        input_space: ``"y"`` when the network sees only the BT.601 luma channel, else ``"rgb"``.
        upsampling: ``"pre"`` when the network runs on a bicubic-upsampled input (SRCNN, VDSR),
            ``"post"`` when it upsamples inside (ESPCN, EDSR ...), ``"none"`` for interpolation baselines.
        receptive_field: theoretical receptive-field radius in **LR input pixels**, including the
            pre-upsampling and chroma interpolation supports. Tiling with at least this overlap is
            exact for convolutional models. ``None`` when unknown (third-party files).
        effective_overlap: default tile overlap in LR pixels; smaller than ``receptive_field`` for
            deep models whose measured effective receptive field is much smaller. ``None`` means
            "use ``receptive_field``".
        non_local: True for models with windows/attention/global pooling, where tiling can never be
            exact and tiles are blended instead.
        size_multiple: input height and width must be a multiple of this (windowed models pad).
        min_size: smallest input side the model accepts.
        supports_half / supports_bf16: whether fp16 / bf16 inference is safe.
        params: parameter count of a built instance (0 on the architecture's static card).
        weights_source: where pretrained weights come from (``"sr4det"`` shipped, ``"published"``, ``"none"``).
        license: licence of the weights (or of the architecture when no weights exist).
        shipped: scale -> file name of the weights shipped in ``sr4det/models/weights/`` (declared here, never
            found by globbing; a test checks the declarations and the folder agree).
        published: scale -> downloadable weights, where they exist.
        paper: short citation.
        objective: what the weights were optimised for: ``"pixel"`` (L1/MSE, i.e. PSNR), ``"feature"``
            (a perceptual loss), ``"gan"`` (adversarial + perceptual), ``"detection"`` (losses through a
            frozen detector), ``"none"`` (interpolation). Weight files saved by sr4det's trainer carry it.
        trained_with: the detector behind a ``"detection"`` objective (e.g. ``"yolo11n"``), else None.
        degradations: the low-resolution inputs the weights were trained on: ``"clean"`` (MATLAB bicubic, the
            literature's protocol), or a description such as :meth:`sr4det.degradation.RandomDegradation.describe`'s.
    """

    name: str
    scales: tuple[int, ...]
    input_space: InputSpace = "rgb"
    upsampling: Upsampling = "post"
    receptive_field: int | None = None
    effective_overlap: int | None = None
    non_local: bool = False
    size_multiple: int = 1
    min_size: int = 1
    supports_half: bool = True
    supports_bf16: bool = True
    params: int = 0
    weights_source: str = "none"
    license: str = "unknown"
    shipped: dict[int, str] = field(default_factory=dict)
    published: dict[int, PublishedWeights] = field(default_factory=dict)
    paper: str = ""
    objective: Objective = "pixel"
    trained_with: str | None = None
    degradations: str = "clean"

    @property
    def pretrained_scales(self) -> tuple[int, ...]:
        """Scales with pretrained weights, shipped or published (empty for interpolation and untrained architectures)."""
        return tuple(sorted({*self.shipped, *self.published}))

    @property
    def default_overlap(self) -> int:
        """Overlap (LR pixels) the tiler uses when the caller gives none."""
        if self.effective_overlap is not None:
            return self.effective_overlap
        if self.receptive_field is not None:
            return self.receptive_field
        return 32

    def replace(self, **changes) -> ModelCard:
        """A copy with some fields changed (cards are immutable)."""
        return dataclasses.replace(self, **changes)

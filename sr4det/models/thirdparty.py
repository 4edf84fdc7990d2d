"""Third-party weight formats: files spandrel recognises, and OpenCV ``dnn_superres`` graphs.

Both optional libraries are imported only when such a file is loaded. :func:`sr4det.models.factory.load_model`
dispatches here.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..errors import (
    ArchitectureMismatchError,
    InputError,
    MissingDependencyError,
    ScaleError,
    ScaleMismatchError,
    WeightsError,
    WeightsNotAvailableError,
)
from .card import ModelCard
from .weights import WRAPPED_PREFIX
from .wrapper import SRModel

if TYPE_CHECKING:
    from .weights import WeightFile


class _SpandrelNet(nn.Module):
    """Adapter so a spandrel descriptor runs inside :class:`SRModel` (RGB, post-upsampling)."""

    def __init__(self, descriptor):
        super().__init__()
        self.model = descriptor.model
        self._descriptor = descriptor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._descriptor(x)


# spandrel architectures that are purely convolutional (no attention, windows or global pooling):
# tiles with enough overlap are exact for them
_LOCAL_SPANDREL_ARCHS = {"ESRGAN", "Compact", "SPAN", "DnCNN", "DRUNet"}


def load_spandrel(wf: WeightFile, scale: int | None, path: Path) -> SRModel:
    """Load a state dict that spandrel recognises (ESRGAN, SwinIR, HAT, CRAFT, ...) as an RGB post-upsampling SRModel."""
    try:
        from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError
    except ImportError as exc:
        raise MissingDependencyError(
            f"{path} is not an sr4det weight file; third-party architectures load through spandrel: "
            "pip install 'sr4det[spandrel]'"
        ) from exc

    try:
        with warnings.catch_warnings():
            # CRAFT (and other window-attention archs) call torch.meshgrid without indexing= while building: torch's
            # deprecation notice is about spandrel's code, not the user's, and the result is the same
            warnings.filterwarnings("ignore", message=r"torch\.meshgrid: in an upcoming release", category=UserWarning)
            descriptor = ModelLoader().load_from_state_dict(wf.state_dict)
    except UnsupportedModelError as exc:
        hint = (
            " It looks like SRModel.state_dict() (keys start with 'net.'): load it with arch=NAME (the zoo name it was "
            "created with), or save it with sr4det.models.save_weights so that the file names its architecture"
            if all(k.startswith(WRAPPED_PREFIX) for k in wf.state_dict)
            else " If it is a state dict of an sr4det architecture, pass arch=NAME (see sr4det.list_models())"
        )
        raise WeightsError(f"{path}: not an sr4det weight file and not recognised by spandrel ({exc}).{hint}") from exc
    except (KeyError, RuntimeError, ValueError) as exc:
        raise ArchitectureMismatchError(f"{path}: spandrel detected an architecture but could not load it: {exc}") from exc
    if not isinstance(descriptor, ImageModelDescriptor):
        raise WeightsError(
            f"{path} is a {descriptor.architecture.name} model for {descriptor.purpose}, not image super-resolution"
        )
    if descriptor.input_channels != 3 or descriptor.output_channels != 3:
        raise InputError(
            f"{path}: {descriptor.architecture.name} takes {descriptor.input_channels} and returns "
            f"{descriptor.output_channels} channels; sr4det needs RGB -> RGB models"
        )
    if scale is not None and descriptor.scale != scale:
        raise ScaleError(f"{path} is a x{descriptor.scale} {descriptor.architecture.name} model, not x{scale}")
    req = descriptor.size_requirements
    arch_id = str(descriptor.architecture.id)
    card = ModelCard(
        name=descriptor.architecture.name,
        scales=(descriptor.scale,),
        input_space="rgb",
        upsampling="post",
        receptive_field=None,
        non_local=arch_id not in _LOCAL_SPANDREL_ARCHS,
        size_multiple=max(1, req.multiple_of),
        min_size=max(1, req.minimum),
        supports_half=bool(descriptor.supports_half),
        supports_bf16=bool(descriptor.supports_bfloat16),
        params=sum(p.numel() for p in descriptor.model.parameters()),
        weights_source=str(path),
        license="see the weights' source",
        paper=f"spandrel architecture {arch_id}",
        degradations="unknown (see the weights' source)",
    )
    return SRModel(_SpandrelNet(descriptor), card, descriptor.scale)


_OPENCV_NAME = re.compile(r"(?P<algo>ESPCN|FSRCNN-small|FSRCNN|LapSRN|EDSR)_x(?P<scale>\d+)", re.IGNORECASE)
_OPENCV_RADIUS = {"espcn": 5, "fsrcnn": 10, "lapsrn": 32, "edsr": 40}


class _OpenCVNet(nn.Module):
    """Runs an OpenCV ``dnn_superres`` graph per image (uint8 BGR inside, as OpenCV expects)."""

    def __init__(self, path: Path, algo: str, scale: int):
        super().__init__()
        import cv2

        self._impl = cv2.dnn_superres.DnnSuperResImpl_create()  # type: ignore[attr-defined]  # opencv-contrib only
        self._impl.readModel(str(path))
        self._impl.setModel(algo, scale)
        self._path, self._algo, self._scale = path, algo, scale

    def __getstate__(self):  # cv2 objects do not pickle; rebuild from the path
        state = self.__dict__.copy()
        state.pop("_impl")
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        import cv2

        self._impl = cv2.dnn_superres.DnnSuperResImpl_create()
        self._impl.readModel(str(self._path))
        self._impl.setModel(self._algo, self._scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import numpy as np

        outs = []
        for img in x:
            bgr = (img.detach().float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).flip(-1).cpu().numpy()
            up = self._impl.upsample(np.ascontiguousarray(bgr))
            outs.append(torch.from_numpy(up[..., ::-1].copy()).permute(2, 0, 1).float() / 255)
        return torch.stack(outs).to(device=x.device, dtype=x.dtype)


def load_opencv(path: Path, scale: int | None) -> SRModel:
    """Load an OpenCV ``dnn_superres`` graph (``ESPCN_x4.pb`` ...); needs opencv-contrib."""
    try:
        import cv2

        cv2.dnn_superres  # type: ignore[attr-defined]  # noqa: B018 - attribute exists only in opencv-contrib
    except (ImportError, AttributeError) as exc:
        raise MissingDependencyError(
            f"{path} is an OpenCV dnn_superres graph; it needs opencv-contrib-python-headless "
            "(pip install opencv-contrib-python-headless, which replaces opencv-python's cv2)"
        ) from exc
    if not path.is_file():
        raise WeightsNotAvailableError(f"weight file not found: {path}")
    match = _OPENCV_NAME.search(path.name)
    if match is None:
        raise WeightsError(f"cannot tell the OpenCV model from the file name {path.name!r}; expected e.g. ESPCN_x4.pb")
    algo = match["algo"].lower().split("-")[0]
    file_scale = int(match["scale"])
    if scale is not None and scale != file_scale:
        raise ScaleError(f"{path} is a x{file_scale} model, not x{scale}")
    try:
        net = _OpenCVNet(path, algo, file_scale)
        probe = net(torch.zeros(1, 3, 8, 8))  # the scale comes from the file name: check the graph agrees
    except cv2.error as exc:
        raise WeightsError(f"OpenCV could not read {path}: {exc}") from exc
    if probe.shape[-2:] != (8 * file_scale, 8 * file_scale):
        raise ScaleMismatchError(
            f"{path} is named x{file_scale} but its graph turns 8x8 into {probe.shape[-1]}x{probe.shape[-2]}: rename the "
            f"file to say its real scale (e.g. {match['algo']}_x{probe.shape[-1] // 8}.pb)"
        )
    card = ModelCard(
        name=f"opencv-{match['algo'].lower()}",
        scales=(file_scale,),
        upsampling="post",
        receptive_field=_OPENCV_RADIUS[algo],
        supports_half=False,
        supports_bf16=False,
        weights_source=str(path),
        license="Apache-2.0 (OpenCV dnn_superres model zoo)",
        paper=f"OpenCV dnn_superres {match['algo']}",
    )
    return SRModel(net, card, file_scale)

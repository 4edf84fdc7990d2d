"""BatchNorm re-estimation for a YOLO rebuilt by :func:`~sr4det.integrations.ultralytics.trainable.trainable_yolo_from_openvino`:
:func:`calibrate_batchnorm` measures each BatchNorm input's statistics on letterboxed images (:func:`_letterbox`,
ultralytics' grey padding) and rewrites the BatchNorm so that its eval-mode output is unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def _letterbox(path: Path, imgsz: int) -> np.ndarray:
    """uint8 RGB (imgsz, imgsz, 3): long side resized to ``imgsz``, centred on grey 114 (ultralytics' padding)."""
    from PIL import Image

    from ...data.io import read_image, to_rgb8

    rgb = to_rgb8(read_image(path)[0])
    h, w = rgb.shape[:2]
    r = imgsz / max(h, w)
    nh, nw = max(1, round(h * r)), max(1, round(w * r))
    resized = np.asarray(Image.fromarray(rgb).resize((nw, nh), Image.Resampling.BILINEAR))
    out = np.full((imgsz, imgsz, 3), 114, np.uint8)
    top, left = (imgsz - nh) // 2, (imgsz - nw) // 2
    out[top : top + nh, left : left + nw] = resized
    return out


def _calibration_files(images: Any, max_images: int) -> list[Path]:
    from ...data.io import list_images
    from ...errors import DataError

    if isinstance(images, (str, Path)):
        files = list_images(images)
    else:
        files = sorted(Path(p) for p in images)
    if not files:
        raise DataError(f"no calibration images in {images}")
    return files[: int(max_images)]


def calibrate_batchnorm(model: Any, images: Any, *, imgsz: int = 640, max_images: int = 64, batch: int = 8) -> dict[str, Any]:
    """Re-estimate the BatchNorm statistics of a :func:`trainable_yolo_from_openvino` model without changing its output.

    Runs the model in eval mode on the letterboxed ``images``, measures each BatchNorm input's per-channel mean
    ``m`` and (biased) variance ``v``, and rewrites the BatchNorm as ``running_mean = m, running_var = v,
    weight = sqrt(v + eps), bias = bias_eval`` where ``bias_eval`` keeps the eval-mode output unchanged.
    Valid for BatchNorms whose eval-mode map is ``y -> y + b`` (as built by ``trainable_yolo_from_openvino``);
    in general it preserves the eval-mode affine map of each BatchNorm.

    Returns:
        ``{"images": n, "imgsz": imgsz, "files": [names]}`` (recorded in checkpoints).
    """
    import torch

    files = _calibration_files(images, max_images)
    bns = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)}
    sums: dict[str, list] = {n: [0.0, None, None] for n in bns}  # count, sum, sum of squares (float64)

    def hook(name):
        def pre(_module, inputs):
            y = inputs[0].detach().double()
            acc = sums[name]
            acc[0] += y.shape[0] * y.shape[2] * y.shape[3]
            s, q = y.sum((0, 2, 3)), (y * y).sum((0, 2, 3))
            acc[1] = s if acc[1] is None else acc[1] + s
            acc[2] = q if acc[2] is None else acc[2] + q

        return pre

    handles = [m.register_forward_pre_hook(hook(n)) for n, m in bns.items()]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(files), batch):
                chunk = [_letterbox(f, imgsz) for f in files[start : start + batch]]
                x = torch.from_numpy(np.stack(chunk)).permute(0, 3, 1, 2).float() / 255
                model(x.to(next(model.parameters()).device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    with torch.no_grad():
        for name, bn in bns.items():
            n, s, q = sums[name]
            if not n:
                continue
            m = s / n
            v = (q / n - m * m).clamp_min(0)
            # the detectors' BatchNorms keep running statistics (the default track_running_stats=True)
            assert bn.running_mean is not None and bn.running_var is not None
            # eval map before: y -> a * y + c with a = w / sqrt(rv + eps), c = b - a * rm
            a = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
            c = bn.bias.double() - a * bn.running_mean.double()
            new_w = a * torch.sqrt(v + bn.eps)
            bn.running_mean.copy_(m)
            bn.running_var.copy_(v)
            bn.weight.copy_(new_w)
            bn.bias.copy_(c + a * m)  # a * (y - m) + (c + a * m) = a * y + c
    return {"images": len(files), "imgsz": int(imgsz), "files": [f.name for f in files]}

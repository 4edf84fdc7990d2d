"""Content hash of a torch module's state: what tells two models of one class apart in cache keys."""

from __future__ import annotations

import hashlib
from typing import Any

import torch


def state_digest(module: Any) -> str:
    """sha256 of a module's class name and every state-dict entry (name, dtype, shape, bytes).

    Two instances of one architecture with other weights (a fine-tuned checkpoint, a random init) get different
    digests; detector cache keys include it so a cache never hands one model's detections to another.
    """
    h = hashlib.sha256(type(module).__name__.encode())
    for key, value in module.state_dict().items():
        t = value.detach().cpu().contiguous()
        h.update(f"{key}:{t.dtype}:{tuple(t.shape)}".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()

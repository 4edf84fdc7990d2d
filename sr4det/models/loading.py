"""Compatibility module: what ``sr4det.models.loading`` held now lives in :mod:`.weights` (file I/O),
:mod:`.factory` (``load_model``, ``read_weights_for``) and :mod:`.thirdparty` (spandrel, OpenCV). Import from there;
this module only re-exports the names for code written against sr4det 0.2.
"""

from __future__ import annotations

from .factory import check_detected_scale, load_model, read_weights_for
from .weights import (
    SHIPPED_DIR,
    WEIGHTS_FORMAT,
    WEIGHTS_PATH_ENV,
    WeightFile,
    atomic_torch_save,
    cache_dir,
    download_published,
    find_local_published,
    load_state_into,
    objective_from_meta,
    read_weights,
    resolve_pretrained,
    save_weights,
    shipped_weights,
    verify_sha256,
    weight_search_dirs,
)

__all__ = [
    "SHIPPED_DIR",
    "WEIGHTS_FORMAT",
    "WEIGHTS_PATH_ENV",
    "WeightFile",
    "atomic_torch_save",
    "cache_dir",
    "check_detected_scale",
    "download_published",
    "find_local_published",
    "load_model",
    "load_state_into",
    "objective_from_meta",
    "read_weights",
    "read_weights_for",
    "resolve_pretrained",
    "save_weights",
    "shipped_weights",
    "verify_sha256",
    "weight_search_dirs",
]

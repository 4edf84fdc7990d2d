"""compare's content-addressed cache: SR outputs and detections under ``root/kind/ab/abcdef...``.

Keys hash the input image's bytes, the degradation, the model's weights (or the detector's configuration and
weights) and the code path. They are part of the on-disk contract (``tests/evaluation/test_cache_keys.py``
pins them): changing how a key is computed orphans every existing cache. Every file is written through
:func:`sr4det._files.atomic_write`, so a run killed at any point (even with ``kill -9``) leaves only complete
entries and a rerun resumes where it stopped. Ranks of a sharded run write disjoint entries and may share the
folder (also on a shared filesystem); identical entries written twice are identical bytes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._files import atomic_write, cache_root, probe_writable
from ..data.datasets import file_sha256
from ..data.io import read_image, write_image
from ..errors import DataError, InputError

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$SR4DET_CACHE/compare`` or ``~/.cache/sr4det/compare``."""
    return cache_root() / "compare"


def cache_key(*parts: Any) -> str:
    """sha256 of the parts as sorted-key JSON (``str`` for anything else): the one key function of the cache."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def hr_key(path: str | Path, scale: int) -> str:
    """Key of the mod-cropped HR image: the file's bytes and the crop multiple."""
    return cache_key("hr", file_sha256(path), scale)


def lr_key(hr: str, degradation_key: Any) -> str:
    return cache_key("lr", hr, degradation_key)


#: the code path part of SR keys (and results.json's ``config.sr_backend``): every SR output is made by
#: :func:`sr4det.tiling.upscale`; kept literal so existing caches and records stay valid
SR_CODE_PATH = "tiler"


def sr_key(lr: str, model_digest: str, tile: Any) -> str:
    """Key of an SR output: its LR key, the model digest and the tile setting."""
    return cache_key("sr", lr, model_digest, tile, SR_CODE_PATH)


def det_key(image: str, detector_id: str | None) -> str | None:
    """Key of one image's detections, or None (not cached) for a detector without an identity."""
    return None if detector_id is None else cache_key("det", image, detector_id)


def detector_identity(detector: Any) -> str | None:
    """A key for the detector's outputs (its ``config`` plus the content hash of local weights), or None."""
    cfg = getattr(detector, "config", None)
    if not isinstance(cfg, dict):
        return None
    cfg = dict(cfg)
    digest = weights_digest(cfg.get("weights"))
    if digest is not None:
        cfg["weights_sha256"] = digest
        cfg["weights"] = Path(cfg["weights"]).name  # the path itself does not change the outputs
    return cache_key(type(detector).__name__, cfg)


def weights_digest(weights: Any) -> str | None:
    """Content hash of local detector weights (a file, or every file of a folder such as an OpenVINO export, by
    name and sha256), or None when ``weights`` is not a local path. Part of :func:`detector_identity`."""
    if not isinstance(weights, str) or not Path(weights).exists():
        return None
    p = Path(weights)
    files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    return cache_key([(q.name, file_sha256(q)) for q in files])


def check_cache_dir(path: str | Path, flag: str = "cache (--cache)", *, create: bool = True) -> Path:
    """``path`` as a usable cache folder: created if missing (``create``), never a file; :class:`InputError` naming the
    option and the fix otherwise (before any work, instead of an OSError deep inside the run)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(
            f"{flag} {path} is a file, not a folder; choose another cache folder (--cache DIR) or run with --no-cache"
        )
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise InputError(f"{flag} {path} lies under {parent}, which is a file; choose another cache folder or --no-cache")
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(
                f"{flag} {path} cannot be created ({exc.strerror or exc}); choose another cache folder or run with --no-cache"
            ) from exc
    if path.is_dir():  # a folder that exists but takes no files fails at the first cache write otherwise, mid-run
        try:
            probe_writable(path)
        except OSError as exc:
            raise InputError(
                f"{flag} {path} is not writable ({exc.strerror or exc}); choose another cache folder or run with --no-cache"
            ) from exc
    return path


class CompareCache:
    """Files under ``root/kind/ab/abcdef...``; ``root=None`` disables caching. Writes are atomic.

    ``clean_orphans`` removes temporary files older than :attr:`ORPHAN_AGE_S` (left by a killed run); a sharded
    run does it once per node (local rank 0).
    """

    #: temp files older than this are orphans of a killed run; younger ones may belong to a concurrent run
    ORPHAN_AGE_S = 3600.0

    def __init__(self, root: str | Path | None, *, clean_orphans: bool = True):
        self.root = Path(root) if root is not None else None
        self.hits = 0
        self.misses = 0
        self.removed_orphans = self._remove_orphans() if self.root is not None and clean_orphans else 0

    @classmethod
    def from_option(cls, cache_dir: str | Path | None | bool, **kw: Any) -> CompareCache:
        """``None``: :func:`default_cache_dir`; ``False``: no cache; else that folder."""
        if cache_dir is False:
            return cls(None, **kw)
        if cache_dir is None or cache_dir is True:
            return cls(check_cache_dir(default_cache_dir(), "$SR4DET_CACHE", create=False), **kw)
        return cls(check_cache_dir(Path(cache_dir)), **kw)

    def _remove_orphans(self) -> int:
        """Delete ``*.tmp`` files a killed run left behind (atomic writes that never reached their rename)."""
        assert self.root is not None
        if not self.root.is_dir():
            return 0
        cutoff = time.time() - self.ORPHAN_AGE_S
        removed = 0
        for folder, _, files in os.walk(self.root):
            for name in files:
                if not name.endswith(".tmp"):
                    continue
                path = os.path.join(folder, name)
                try:
                    if os.stat(path).st_mtime < cutoff:
                        os.unlink(path)
                        removed += 1
                except OSError:  # gone meanwhile, or not ours to delete: not worth failing a run for
                    continue
        if removed:
            log.info("removed %d orphaned temporary file(s) from the cache %s", removed, self.root)
        return removed

    def path(self, kind: str, key: str, suffix: str) -> Path:
        """Where the entry ``key`` of ``kind`` (``"sr"``, ``"det"``) lives: ``root/kind/key[:2]/key+suffix``."""
        assert self.root is not None
        return self.root / kind / key[:2] / f"{key}{suffix}"

    def get_json(self, kind: str, key: str | None, check: Callable[[dict], Any] | None = None) -> dict | None:
        """The cached dict, or None (recompute) when absent, unreadable, not a dict, or rejected by ``check``.

        ``check(value)`` must raise ``KeyError``/``TypeError``/``ValueError`` for an entry of the wrong shape
        (valid JSON with other keys, e.g. left by another version): such an entry is a miss, not a crash.
        """
        if self.root is None or key is None:
            return None
        p = self.path(kind, key, ".json")
        try:
            value = json.loads(p.read_text())
        except (OSError, ValueError):  # absent, or left by an older incompatible writer: recompute
            return None
        if not isinstance(value, dict):
            return None
        if check is not None:
            try:
                check(value)
            except (KeyError, TypeError, ValueError, IndexError):
                log.warning("ignoring a malformed cache entry %s (it is recomputed)", p)
                return None
        return value

    def put_json(self, kind: str, key: str | None, value: dict) -> None:
        """Store ``value`` atomically (a run killed mid-write leaves the old entry or none); no-op without a cache
        or key."""
        if self.root is not None and key is not None:
            atomic_write(self.path(kind, key, ".json"), json.dumps(value, sort_keys=True))

    def get_image(self, key: str | None) -> np.ndarray | None:
        """The cached SR output (H, W, C) of ``key`` as written (uint8/uint16), or None (recompute) when absent or
        unreadable."""
        if self.root is None or key is None:
            return None
        p = self.path("sr", key, ".png")
        if not p.is_file():
            return None
        try:
            return read_image(p)[0]
        except DataError:
            return None

    def put_image(self, key: str | None, image: np.ndarray) -> None:
        """Store an SR output (H, W, C) losslessly as PNG, atomically; no-op without a cache or key."""
        if self.root is not None and key is not None:
            write_image(self.path("sr", key, ".png"), image)

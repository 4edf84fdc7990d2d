"""Offline, side-effect-free ultralytics: the public names of :mod:`sr4det._offline`.

The helpers live in :mod:`sr4det._offline` (below ``detectors``) so that ``sr4det.data`` (ultralytics dataset names)
can use them without importing the detector package; see that module for what :func:`configure_ultralytics` does.
"""

from __future__ import annotations

from .._offline import configure_ultralytics, default_config_dir, import_ultralytics, sr4det_offline

__all__ = ["configure_ultralytics", "default_config_dir", "import_ultralytics", "sr4det_offline"]

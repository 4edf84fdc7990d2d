"""The one place that prepares ultralytics for offline, side-effect-free use.

Call :func:`configure_ultralytics` before importing or using ``ultralytics``. It

* sets ``YOLO_OFFLINE=1`` (unless the user set ``YOLO_OFFLINE`` already), so ultralytics skips its online
  checks (pip updates, hub pings, analytics). Explicitly named remote weights (``"yolov8n.pt"``) can still
  download unless ``SR4DET_OFFLINE`` is set, see :func:`sr4det._files.sr4det_offline`;
* points ``YOLO_CONFIG_DIR`` at a folder of ours (``$SR4DET_CACHE/ultralytics`` or
  ``~/.cache/sr4det/ultralytics``) unless the user set it, so ultralytics' ``settings.json`` never lands
  in the user's ``~/.config``;
* copies matplotlib's ``DejaVuSans.ttf`` there as ``Arial.ttf``: ultralytics' dataset checks call
  ``check_font("Arial.ttf")``, which tries to download the font when it is missing, even offline.

``YOLO_CONFIG_DIR`` is read once, when ``ultralytics.utils`` is first imported. If ultralytics was imported
before this helper ran, the font is placed in the directory ultralytics already uses instead.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

from ..._files import atomic_path, cache_root
from ...errors import MissingDependencyError

_FONTS = ("Arial.ttf", "Arial.Unicode.ttf")  # the names ultralytics asks for (Latin / non-Latin class names)


def default_config_dir() -> Path:
    """``$SR4DET_CACHE/ultralytics``, else ``~/.cache/sr4det/ultralytics``."""
    return cache_root() / "ultralytics"


def _place_fonts(folder: Path) -> None:
    try:
        import matplotlib
    except ImportError as exc:  # matplotlib is a dependency of ultralytics, so this is unusual
        raise MissingDependencyError("matplotlib is needed to provide ultralytics' font offline: pip install matplotlib") from exc
    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    folder.mkdir(parents=True, exist_ok=True)
    for name in _FONTS:
        target = folder / name
        if not target.exists():
            with atomic_path(target, suffix=".part") as tmp:  # atomic: concurrent workers may race here
                shutil.copyfile(source, tmp)


def configure_ultralytics(config_dir: str | Path | None = None) -> Path:
    """Prepare ultralytics for offline use; idempotent and cheap after the first call.

    Args:
        config_dir: folder for ultralytics' settings and fonts; default: ``$YOLO_CONFIG_DIR`` if the user set
            it, else :func:`default_config_dir`.

    Returns:
        The folder ultralytics actually uses for its settings (``ultralytics.utils.USER_CONFIG_DIR`` when
        ultralytics is already imported).
    """
    os.environ.setdefault("YOLO_OFFLINE", "1")
    if config_dir is not None:
        os.environ["YOLO_CONFIG_DIR"] = str(Path(config_dir).expanduser())
    elif not os.environ.get("YOLO_CONFIG_DIR"):
        os.environ["YOLO_CONFIG_DIR"] = str(default_config_dir())
    # ultralytics appends "Ultralytics" to YOLO_CONFIG_DIR (get_user_config_dir)
    folder = Path(os.environ["YOLO_CONFIG_DIR"]).expanduser() / "Ultralytics"
    utils = sys.modules.get("ultralytics.utils")
    if utils is not None:
        folder = Path(utils.USER_CONFIG_DIR)
    _place_fonts(folder)
    return folder


def import_ultralytics() -> ModuleType:
    """Configure (see :func:`configure_ultralytics`) and return the ``ultralytics`` module."""
    configure_ultralytics()
    try:
        import ultralytics
    except ImportError as exc:
        raise MissingDependencyError(
            "ultralytics (AGPL-3.0) is needed for YOLO detectors: pip install 'sr4det[ultralytics]'"
        ) from exc
    _place_fonts(Path(ultralytics.utils.USER_CONFIG_DIR))  # the folder it really chose (it may fall back to /tmp)
    return ultralytics

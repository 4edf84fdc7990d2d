"""Temporary files for atomic writes (write beside the target, then ``os.replace``) with ordinary permissions.

:func:`tempfile.mkstemp` creates files with mode 0600 whatever the umask, and ``os.replace`` keeps that
mode, so every "atomic" output would be private to its owner. :func:`mkstemp` gives the temporary file the
mode ``open()`` would have given a new file: ``0o666 & ~umask``.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (``/proc/self/status`` on Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:  # elsewhere the only way is to set it and put it back
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def default_file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: ``0o666`` minus the umask."""
    return 0o666 & ~current_umask()


def mkstemp(dir: str | Path, prefix: str = "", suffix: str = "") -> tuple[int, str]:
    """:func:`tempfile.mkstemp` in ``dir``, with the file's mode set to :func:`default_file_mode` (not 0600)."""
    fd, tmp = tempfile.mkstemp(dir=dir, prefix=prefix, suffix=suffix)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, default_file_mode())
        else:  # pragma: no cover - Windows ignores most mode bits anyway
            os.chmod(tmp, default_file_mode())
    except OSError:
        os.close(fd)
        os.unlink(tmp)
        raise
    return fd, tmp

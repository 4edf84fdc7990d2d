"""Atomic writes (write beside the target, then ``os.replace``) with ordinary permissions, the cache root and the
offline switch (:func:`sr4det_offline`).

Every file sr4det writes goes through :func:`atomic_write` (bytes or text) or :func:`atomic_path` (a temporary
name for writers that need one), so a run killed at any point leaves either the old file or the complete new
one, with the permissions ``open()`` would have given it; a full disk (``ENOSPC``, ``EFBIG``, ``EDQUOT``) is a
:class:`~sr4det.errors.DiskFullError` naming the target, with the temporary file removed.

:func:`tempfile.mkstemp` creates files with mode 0600 whatever the umask, and ``os.replace`` keeps that
mode, so every "atomic" output would be private to its owner. :func:`mkstemp` gives the temporary file the
mode ``open()`` would have given a new file: ``0o666 & ~umask``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import signal
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

_UMASK_LOCK = threading.Lock()

#: in the name of every temporary file :func:`atomic_path` makes (hidden: ``.NAME.sr4det-tmp.XXXXXXXX.SUFFIX``), so the
#: next run into a folder recognises and removes those a killed run left (:mod:`sr4det._run_folder`)
TEMP_MARK = ".sr4det-tmp."


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


#: errors that mean "no room": the disk or quota is full, or the file is over the process's size limit (RLIMIT_FSIZE)
_NO_SPACE = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}


def ignore_sigxfsz() -> None:
    """Let a write beyond RLIMIT_FSIZE fail with ``EFBIG`` (a :class:`~sr4det.errors.DiskFullError`) instead of
    SIGXFSZ killing the process; only from the main thread (where Python allows signal handlers), once."""
    sig = getattr(signal, "SIGXFSZ", None)
    if sig is None or threading.current_thread() is not threading.main_thread():
        return
    with contextlib.suppress(ValueError, OSError):
        if signal.getsignal(sig) == signal.SIG_DFL:
            signal.signal(sig, signal.SIG_IGN)


def disk_full(exc: BaseException, path: str | Path) -> BaseException:
    """``exc`` as a :class:`~sr4det.errors.DiskFullError` naming ``path`` when it means the disk is full (ENOSPC,
    EFBIG, EDQUOT); else ``exc`` itself. Use as ``except OSError as e: raise disk_full(e, path) from e``."""
    from .errors import DiskFullError

    if isinstance(exc, DiskFullError) or not isinstance(exc, OSError) or exc.errno not in _NO_SPACE:
        return exc
    what = "the file size limit (ulimit -f)" if exc.errno == errno.EFBIG else "the disk (or quota)"
    return DiskFullError(
        exc.errno,
        f"no room to write {path}: {what} is full ({exc.strerror}); nothing half-written was kept: free space "
        "(or raise the limit) and run the same command again, it resumes",
    )


def cache_root() -> Path:
    """sr4det's cache folder: ``$SR4DET_CACHE``, else ``~/.cache/sr4det`` (each user of it takes a sub-folder)."""
    return Path(os.environ.get("SR4DET_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "sr4det"))


def sr4det_offline() -> bool:
    """True when sr4det must not touch the network (``SR4DET_OFFLINE`` set to anything but ``""``/``"0"``)."""
    return os.environ.get("SR4DET_OFFLINE", "") not in ("", "0")


@contextlib.contextmanager
def atomic_path(path: str | Path, *, prefix: str | None = None, suffix: str = ".tmp", fsync: bool = True) -> Iterator[str]:
    """Yield a temporary file name beside ``path`` for a writer that needs a name (``torch.save``, ``savefig``,
    a download); when the block ends without an exception the file is flushed to disk and renamed to ``path``
    (atomic on POSIX: readers see the old file or the complete new one, never a part), else it is removed.

    The temporary file has the ordinary mode of a new file (:func:`mkstemp`), its name starts with ``prefix``
    (default ``"." + path's name +`` :data:`TEMP_MARK`) and ends with ``suffix``, so cleaners can recognise orphans.
    """
    path = Path(path)
    ignore_sigxfsz()
    refuse_folder_at_file_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = mkstemp(path.parent, prefix="." + path.name + TEMP_MARK if prefix is None else prefix, suffix=suffix)
    except OSError as exc:
        raise disk_full(exc, path) from exc
    os.close(fd)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # ENOSPC / EFBIG in the writer, the fsync or the rename: typed, naming the target
        raise disk_full(exc, path) from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write(path: str | Path, data: bytes | str, *, suffix: str = ".tmp", fsync: bool = True) -> Path:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically; see :func:`atomic_path`. Returns ``path``."""
    path = Path(path)
    with atomic_path(path, suffix=suffix, fsync=False) as tmp, open(tmp, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
        f.flush()
        if fsync:
            os.fsync(f.fileno())
    return path


def refuse_folder_at_file_path(path: str | Path) -> None:
    """:class:`~sr4det.errors.OutputExistsError` when ``path``, where a file is to be written, is a folder (a rename
    onto it would fail with a bare ``IsADirectoryError`` after the work whose result it was to hold)."""
    from .errors import OutputExistsError

    if os.path.isdir(path):
        raise OutputExistsError(
            f"{path} is a folder, but sr4det writes a file there; move or remove the folder (or choose another output)"
        )


def writable_dir(folder: str | Path, what: str) -> Path:
    """Create ``folder`` if needed and prove a file can be written there, before any expensive work.

    :class:`~sr4det.errors.InputError` naming ``what`` (the option, e.g. ``"--out"``) when it is a file, lies under
    one, or cannot be created or written (instead of an ``OSError`` after the work whose results it was to hold).
    """
    from .errors import InputError

    path = Path(folder)
    blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    try:
        if blocker is not None:
            raise NotADirectoryError(0, "it is a file" if blocker == path else f"{blocker} is a file")
        path.mkdir(parents=True, exist_ok=True)
        probe_writable(path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InputError(f"{what} {path} is not a writable folder ({reason}); choose another {what}") from exc
    return path


def probe_writable(folder: str | Path) -> None:
    """Create and delete a temporary file in ``folder``; the ``OSError`` when it takes no files (callers name the fix)."""
    with tempfile.TemporaryFile(dir=folder):
        pass


def replacing_sources(sources: Sequence[Path], targets: Sequence[Path]) -> list[Path]:
    """The ``targets`` that are one of the ``sources`` files (after resolving links and ``..``): outputs that would
    replace their own inputs."""
    known = {os.path.realpath(p) for p in sources}  # realpath: a symlink loop is a name, not a RuntimeError
    return [t for t in targets if os.path.realpath(t) in known]


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()

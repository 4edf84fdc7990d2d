"""One owner per output folder: the lock, manifest and output journal every command that writes a folder uses.

:func:`open_run_folder` runs before a command's first output and, in this order:

1. refuses an output folder that is one of the input folders (``detect D -o D`` would replace or mix with ``D``);
2. takes an exclusive lock on the folder (:mod:`filelock`, ``.sr4det_run.lock``; the OS releases it when the
   process dies, also on ``kill -9``) and writes who holds it (pid, host, command, start) to ``.sr4det_run.owner``:
   a second writer gets :class:`~sr4det.errors.RunFolderBusyError` naming that process;
3. removes temporary files a killed run left (:func:`~sr4det._files.atomic_path`'s hidden ``.NAME.sr4det-tmp.*``);
4. compares the run's manifest (``.sr4det_run.json``: command, settings, model/detector digests, input list
   digest) with the folder's: the same run resumes; another run that wrote outputs there (also one killed by
   ``kill -9``: its manifest and journal are written before its first output) is refused with :class:`~sr4det.errors.OutputExistsError` naming what differs,
   unless ``overwrite``, which first removes every output the earlier runs recorded in the journal
   (``.sr4det_run.files``), so no stale file survives beside the new ones;
5. writes the new manifest. :meth:`RunFolder.record` journals each output before it is written.

The lock is held until :meth:`RunFolder.release` (or the ``with`` block ends). Under torchrun only the process
that writes (rank 0) opens the run folder.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import socket
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ._files import TEMP_MARK, atomic_write, refuse_folder_at_file_path, writable_dir
from .errors import InputError, OutputExistsError, RunFolderBusyError

PREFIX = ".sr4det_run"
MANIFEST = PREFIX + ".json"
LOCK = PREFIX + ".lock"
OWNER = PREFIX + ".owner"
JOURNAL = PREFIX + ".files"
#: the run folder's own bookkeeping files (tests and users listing outputs skip names starting with PREFIX)
BOOKKEEPING = (MANIFEST, LOCK, OWNER, JOURNAL)


def plain(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples -> lists, paths -> text), so old and new compare equal."""
    return json.loads(json.dumps(value, default=str, sort_keys=True))


def digest(value: Any) -> str:
    """Short sha256 of ``value``'s canonical JSON (an input list, a settings dict)."""
    return hashlib.sha256(json.dumps(plain(value), sort_keys=True).encode()).hexdigest()[:16]


def files_digest(paths: Iterable[str | Path]) -> dict[str, Any]:
    """The identity of an input list: how many files and the digest of their resolved paths, in order."""
    resolved = [os.path.realpath(p) for p in paths]  # realpath: a symlink loop is a name, not a RuntimeError
    return {"count": len(resolved), "sha256": digest(resolved)}


def refuse_input_folder(folder: str | Path, inputs: Iterable[str | Path], option: str) -> None:
    """:class:`InputError` when the output ``folder`` holds any of the ``inputs`` (files): the outputs would replace
    or mix with the inputs, and a rerun would read its own outputs as new inputs."""
    out = os.path.realpath(folder)
    inside = [p for p in inputs if os.path.dirname(os.path.realpath(p)) == out]
    if inside:
        raise InputError(
            f"{option} {folder} is the folder of the input images (e.g. {inside[0]}); outputs there would replace or "
            f"mix with the inputs: choose another {option}"
        )


class RunFolder:
    """A locked output folder (see the module docstring); use :func:`open_run_folder`."""

    def __init__(self, path: Path, lock: Any):
        self.path = path
        self._lock = lock
        self.resumed = False
        self._journal: set[str] | None = None  # read at the first record(), after --overwrite removed the old one

    def record(self, *outputs: str | Path) -> None:
        """Journal ``outputs`` (files in this folder) as this run's, before writing them: ``--overwrite`` by a later
        run removes them (a killed run's too). Files the journal already names (a resumed run's) are not repeated."""
        if self._journal is None:
            journal = self.path / JOURNAL
            self._journal = set(journal.read_text().splitlines()) if journal.is_file() else set()
        new = []
        for p in outputs:
            rel = os.path.relpath(Path(p).absolute(), self.path.absolute())
            if rel not in self._journal:
                self._journal.add(rel)
                new.append(rel)
        if new:
            with open(self.path / JOURNAL, "a") as f:
                f.write("".join(line + "\n" for line in new))
                f.flush()

    def release(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(OSError):
                (self.path / OWNER).unlink()
            self._lock.release()
            self._lock = None

    def __enter__(self) -> RunFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # a caller that forgot release(): the lock must not outlive the object
        with contextlib.suppress(Exception):
            self.release()


def _owner_text(owner_file: Path) -> str:
    try:
        owner = json.loads(owner_file.read_text())
        return (
            f"pid {owner.get('pid')} on {owner.get('host')}, started {owner.get('started')}: "
            f"{owner.get('command') or '(no command line)'}"
        )
    except (OSError, ValueError, AttributeError):
        return "a process that has not written its name yet"


def _lock(lock_file: Path, owner_file: Path, what: str) -> Any:
    """Hold ``lock_file`` exclusively (:class:`RunFolderBusyError` naming the holder from ``owner_file`` when another
    process holds it); writes this process into ``owner_file``."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(lock_file), timeout=0, is_singleton=False)
    try:
        lock.acquire()
    except Timeout:
        raise RunFolderBusyError(
            f"{what} is being written by another sr4det run ({_owner_text(owner_file)}); wait for it to finish, or "
            "choose another output (two runs writing one output would mix or lose results)"
        ) from None
    owner = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": " ".join(sys.argv),
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write(owner_file, json.dumps(owner), fsync=False)
    return lock


@contextlib.contextmanager
def locked_file(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on the output file ``path`` (``.NAME.lock`` beside it) for one writer, e.g. the MOS
    database; :class:`RunFolderBusyError` naming the other process when it is held."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    owner, lock_file = path.parent / f".{path.name}.owner", path.parent / f".{path.name}.lock"
    for blocked in (path, owner, lock_file):
        refuse_folder_at_file_path(blocked)
    lock = _lock(lock_file, owner, str(path))
    try:
        yield
    finally:
        with contextlib.suppress(OSError):  # nothing is left beside the file (a process that opened the lock file in
            owner.unlink()  # the microseconds before this unlink could lock it once more: a window accepted for
            lock_file.unlink()  # files written once, such as the MOS database)
        lock.release()


def remove_stale_temps(folder: Path) -> int:
    """Remove the temporary files (:data:`~sr4det._files.TEMP_MARK`) a killed run left in ``folder`` and below."""
    removed = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            if name.startswith(".") and TEMP_MARK in name:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(root, name))
                    removed += 1
    return removed


def _differences(old: Any, new: Mapping[str, Any], prefix: str = "") -> list[str]:
    if not isinstance(old, Mapping):
        return [f"{prefix or 'manifest'}: {_short(old)} -> {_short(new)}"]
    diffs = []
    for key in {**old, **new}:
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            diffs += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            diffs.append(f"{prefix}{key}: {_short(a)} -> {_short(b)}")
    return diffs


def _short(value: Any, n: int = 60) -> str:
    text = value if isinstance(value, str) else "None" if value is None else json.dumps(value, sort_keys=True)
    return text if len(text) <= n else text[: n - 3] + "..."


def _remove_journaled(folder: Path) -> int:
    journal = folder / JOURNAL
    if not journal.is_file():
        return 0
    removed = 0
    root = folder.resolve()
    for line in journal.read_text().splitlines():
        target = (folder / line).resolve()
        if line and root in target.parents and target.is_file():  # never outside the folder
            target.unlink()
            removed += 1
    journal.unlink()
    return removed


def open_run_folder(
    folder: str | Path,
    command: str,
    identity: Mapping[str, Any] | None,
    *,
    overwrite: bool = False,
    option: str = "-o/--output",
    inputs: Iterable[str | Path] = (),
    fix: str = "",
    what: str = "",
) -> RunFolder:
    """Lock ``folder`` for one run of ``command`` whose outputs depend on ``identity`` (settings, digests, input
    list; ``None``: the caller compares runs itself and only the lock, temp cleanup and journal are wanted).

    ``inputs``: input files; the folder of any of them is refused as ``folder``. ``fix``: how to proceed, added to
    the refusal (default: ``--overwrite`` or another ``option``); ``what``: what the folder holds, for the message
    (default: "outputs of another COMMAND"). Raises :class:`InputError` (not a writable folder,
    or an input folder), :class:`RunFolderBusyError` (locked by another run) or :class:`OutputExistsError` (holds
    another run's outputs). Returns the locked :class:`RunFolder`.
    """
    refuse_input_folder(folder, inputs, option)
    path = writable_dir(folder, option)
    for name in BOOKKEEPING:  # a folder where a bookkeeping file belongs: refused before the lock trips on it
        refuse_folder_at_file_path(path / name)
    run = RunFolder(path, _lock(path / LOCK, path / OWNER, str(path)))
    try:
        remove_stale_temps(path)
        if identity is None:  # the caller compares runs itself; --overwrite still removes the earlier run's outputs
            if overwrite:
                _remove_journaled(path)
            return run
        new = plain({"command": command, **identity})
        manifest = path / MANIFEST
        if manifest.is_file():
            try:
                old = json.loads(manifest.read_text())
            except (OSError, ValueError):
                old = {"manifest": "unreadable"}
            diffs = _differences(old, new)
            if diffs and not overwrite and (path / JOURNAL).is_file():  # no journal: that run wrote no output yet
                held = what or f"outputs of another {old.get('command', 'run') if isinstance(old, dict) else 'run'}"
                raise OutputExistsError(
                    f"{path} holds {held} ({'; '.join(diffs)}); this run would mix its outputs with them: "
                    + (fix or f"pass --overwrite to replace them, or choose another {option}")
                )
            run.resumed = not diffs and not overwrite
        if overwrite:
            _remove_journaled(path)
        atomic_write(manifest, json.dumps(new, indent=1, sort_keys=True))
    except BaseException:
        run.release()
        raise
    return run


@contextlib.contextmanager
def run_folder(folder: str | Path, command: str, identity: Mapping[str, Any] | None, **options: Any) -> Iterator[RunFolder]:
    """:func:`open_run_folder` as a ``with`` block that releases the lock at its end."""
    run = open_run_folder(folder, command, identity, **options)
    try:
        yield run
    finally:
        run.release()

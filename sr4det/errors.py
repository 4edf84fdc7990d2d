"""Typed errors. Every error sr4det raises on purpose derives from :class:`SR4DetError`.

Each subclass also derives from the builtin that a caller would naturally catch
(``ValueError``, ``MemoryError``, ``FileNotFoundError``), so generic handlers keep working.
"""

from __future__ import annotations


class SR4DetError(Exception):
    """Base class of every deliberate sr4det error."""


class InputError(SR4DetError, ValueError):
    """An image or tensor of the wrong shape, dtype, channel count or value range."""


class UnknownModelError(SR4DetError, KeyError):
    """A model name that is not in the zoo (:func:`sr4det.list_models`); the message suggests the nearest names.

    A ``KeyError`` (what unknown names have always raised); unlike a plain ``KeyError`` its ``str()`` is the message.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ScaleError(SR4DetError, ValueError):
    """A scale factor the model or operation does not support."""


class WeightsError(SR4DetError, ValueError):
    """A weight file that cannot be used: corrupt, truncated, NaN, or of another architecture."""


class ArchitectureMismatchError(WeightsError):
    """Weights whose tensors do not fit the requested architecture."""


class ScaleMismatchError(ArchitectureMismatchError, ScaleError):
    """Weights of the right architecture trained for another scale (caught as either parent)."""


class WeightsNotAvailableError(SR4DetError, FileNotFoundError):
    """Pretrained weights are neither shipped nor cached, and cannot be downloaded (offline)."""


class TileOOMError(SR4DetError, MemoryError):
    """Out of memory even at the smallest tile size; carries the numbers that failed."""

    def __init__(self, message: str, *, tile: int, min_tile: int, device: str, bytes_requested: int | None = None):
        super().__init__(message)
        self.tile = tile
        self.min_tile = min_tile
        self.device = device
        self.bytes_requested = bytes_requested


class OutputExistsError(SR4DetError, FileExistsError):
    """An output folder or file already holds the results of another run (other settings, data or model), which
    writing there would replace or mix with the new ones; the message names the option that allows it."""


class RunFolderBusyError(OutputExistsError):
    """Another sr4det run holds the output folder's lock right now; the message names that process (pid, host,
    command)."""


class DiskFullError(SR4DetError, OSError):
    """A write failed because the disk (or the file size limit) is full; names the path. Nothing half-written is
    left: free space and rerun, which resumes."""


class DataError(SR4DetError, ValueError):
    """A dataset that cannot be read consistently: missing images, unknown category ids, empty annotations."""


class ConfigError(DataError):
    """A configuration or dataset file (YAML) that cannot be parsed or has fields of the wrong type; names the file,
    line and column where known (a :class:`DataError`, so handlers of bad data catch it)."""


class DetectorError(SR4DetError, RuntimeError):
    """A detector that cannot be loaded or run."""


class DetectorMismatchError(SR4DetError, ValueError):
    """Detectors of one comparison that cannot be compared: their class lists differ."""


class UnsafePickleError(WeightsError, DetectorError):
    """A pickle file (a YOLO ``.pt``) that would run code, or import something other than what the expected
    checkpoints use, when loaded; the message names the offending globals and how to load a trusted file anyway.
    Caught as a :class:`WeightsError` or a :class:`DetectorError` (what such a file raised before)."""


class RankFailedError(SR4DetError, RuntimeError):
    """Another rank of a sharded (torchrun) run failed; the message names the rank and its error."""


class MissingDependencyError(SR4DetError, ImportError):
    """An optional package is needed for this feature (the message names the pip package)."""

"""A training run's folder (``TrainConfig.out``), checked before any work so that no run continues or overwrites
another one by accident:

* ``last.pt`` there and ``resume`` off: a new run would replace the checkpoint and append its rows to the old
  ``log.csv`` (two runs' step 1, 2, ... in one log); refused, naming ``--resume`` and ``--out``.
* ``resume`` on a checkpoint of another configuration (model, scale, data, losses, lr, seed ...): it used to continue
  silently with the new settings (or fail with torch's state-dict error); refused, naming what differs. The options
  in :data:`MAY_CHANGE` (more ``steps``, logging, export, validation) may change on resume.
* ``log.csv`` is cut back to the checkpoint's step on resume (rows logged after the last checkpoint of a killed run,
  and a half-written last line, would otherwise appear twice or corrupt the file) and started afresh by a new run.
* ``export`` must be a writable file path (not a folder), checked now rather than after the last step.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

from .._files import atomic_write, writable_dir
from ..errors import InputError, OutputExistsError, WeightsError
from .config import TrainConfig

#: options that may differ between a checkpoint and the run resuming it (they do not change what is trained)
MAY_CHANGE = frozenset(
    {"out", "resume", "progress", "threads", "device", "steps", "log_every", "ckpt_every", "export", "export_half", "meta"}
    | {"val", "val_limit", "val_every"}
)


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def check_run_folder(cfg: TrainConfig, checkpoint: Path, log: Path, *, write: bool = True) -> None:
    """Refuse a run that would overwrite or silently continue another (see the module docstring); prepare the log
    when ``write`` (under torchrun every rank checks, rank 0 alone writes)."""
    _check_export(cfg.export)
    if not checkpoint.exists():
        if write:
            log.unlink(missing_ok=True)  # rows of a run killed before its first checkpoint: this run starts afresh
        return
    state = load_checkpoint(checkpoint)
    step = int(state.get("step", 0))
    if not cfg.resume:
        raise OutputExistsError(
            f"{cfg.out} holds a training run (last.pt at step {step}); pass --resume (resume=True) to continue it, "
            "or choose another --out (out=) to start a new run"
        )
    old = _plain(state.get("config") or {})
    new = _plain(dataclasses.asdict(cfg))
    diffs = [f"{k}: {old[k]!r} -> {new[k]!r}" for k in new if k not in MAY_CHANGE and k in old and old[k] != new[k]]
    if diffs:
        raise OutputExistsError(
            f"--resume: {checkpoint} was trained with other settings ({'; '.join(diffs)}); resume with the same "
            "settings, or choose another --out (out=) for this configuration"
        )
    if write:
        trim_log(log, step)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A training checkpoint (``last.pt``) read with ``torch.load(weights_only=True)``: tensors, numbers, strings and
    containers only, so a file planted in an ``--out`` folder cannot run code when read. :class:`WeightsError` naming
    the file when it is not such a checkpoint (another program's pickle, truncated, or not a checkpoint at all)."""
    import pickle

    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as exc:
        raise WeightsError(
            f"{path} is not a training checkpoint sr4det can read safely ({str(exc).splitlines()[0][:200]}): "
            "sr4det reads checkpoints with torch.load(weights_only=True) and never runs code from them; remove it or "
            "choose another --out (out=)"
        ) from exc
    if not isinstance(state, dict):
        raise WeightsError(f"{path} is not a training checkpoint (a {type(state).__name__}, not a dict); remove it")
    return state


def trim_log(log: Path, step: int) -> None:
    """Keep the rows of ``log`` up to ``step`` (the checkpoint's), drop a half-written last line; atomically."""
    if not log.is_file():
        return
    lines = log.read_text().splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines.pop()  # killed while writing this row
    if not lines:
        log.unlink()
        return
    column = next(csv.reader([lines[0]])).index("step") if "step" in lines[0] else 0
    kept = [line for line in lines[1:] if _step(next(csv.reader([line]), []), column) <= step]
    atomic_write(log, "".join([lines[0], *kept]))


def _step(values: list[str], column: int) -> float:
    try:
        return float(values[column])
    except (IndexError, ValueError):
        return float("inf")


def _check_export(export: str | None) -> None:
    if not export:
        return
    path = Path(export)
    if path.is_dir():
        raise InputError(f"export {path} is a folder; give a weight file name such as {path / 'model_x4.pt'}")
    writable_dir(path.parent, "folder of --export (export=)")

"""Reading YAML files (configs, ultralytics dataset yamls): one place that turns every way a file can be wrong into a
:class:`~sr4det.errors.ConfigError` naming the file, line and column, and checks the dataset-yaml fields that other
code would trip over later.

* :func:`read_yaml`: ``yaml.safe_load`` (``!!python/...`` tags are never constructed: refused with their position),
  unreadable or non-UTF-8 files, syntax errors, and a top level that is not a mapping.
* :func:`read_dataset_yaml`: an ultralytics dataset yaml: ``path`` must be text (``path: 123`` is a number),
  ``names`` a list or ``{index: name}`` mapping, ``nc`` (if given) equal to the number of names (ultralytics refuses
  the file otherwise), and each split a path or a list of paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ConfigError


def read_yaml(path: str | Path, what: str = "config", shape: str = "a mapping of keys to values") -> dict[str, Any]:
    """The mapping in the YAML file ``path``; :class:`ConfigError` (``what`` names the file's role, ``shape`` what
    its top level must be) otherwise."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        hint = " (sr4det never constructs Python objects from YAML tags)" if "python/" in str(exc) else ""
        raise ConfigError(f"{what} {where}: invalid YAML: {problem}{hint}; fix the file at that line and column") from exc
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{what} {path}: the top level is a {type(data).__name__}, not {shape}")
    return dict(data)


def dataset_names(names: Any, path: str | Path) -> dict[int, str]:
    """``{index: name}`` from a dataset yaml's ``names`` (a list, or a mapping with keys 0, 1, ...)."""
    if isinstance(names, Mapping):
        out = {}
        for k, v in names.items():
            if isinstance(k, bool) or not isinstance(k, int) and not (isinstance(k, str) and k.isdigit()):
                raise ConfigError(
                    f"{path}: dataset yaml 'names' keys must be class indices 0, 1, ... (as in 'names: {{0: person}}'), "
                    f"got {k!r}; or write the names as a list"
                )
            out[int(k)] = str(v)
        return out
    if isinstance(names, (list, tuple)):
        return {i: str(v) for i, v in enumerate(names)}
    raise ConfigError(f"{path}: dataset yaml 'names' must be a list or a mapping, got {type(names).__name__}")


def read_dataset_yaml(path: str | Path) -> dict[str, Any]:
    """An ultralytics dataset yaml, its fields checked (see the module docstring); ``names`` as written (read them
    with :func:`dataset_names`)."""
    cfg = read_yaml(path, "dataset yaml", "an ultralytics dataset mapping (path: ..., val: ..., names: [...])")
    if "names" not in cfg:
        raise ConfigError(f"{path} has no 'names'; add the class names, e.g. 'names: [person, car]' (index order)")
    names = dataset_names(cfg["names"], path)
    nc = cfg.get("nc")
    if nc is not None and (isinstance(nc, bool) or not isinstance(nc, int) or nc != len(names)):
        raise ConfigError(
            f"{path}: 'nc: {nc}' but 'names' lists {len(names)} classes (ultralytics refuses such a file); "
            "make nc the number of names, or drop nc"
        )
    root = cfg.get("path")
    if root is not None and not isinstance(root, str):
        raise ConfigError(
            f"{path}: 'path' must be a folder name (text), got {root!r} ({type(root).__name__}); quote it "
            f"(path: '{root}') or drop it to use the yaml's folder"
        )
    for split in ("train", "val", "test"):
        value = cfg.get(split)
        if value is None:
            continue
        items = value if isinstance(value, list) else [value]
        if not items or not all(isinstance(v, str) and v for v in items):
            raise ConfigError(
                f"{path}: '{split}' must be a folder, image-list file or list of them (text), got {value!r}; quote "
                "numbers, or remove the empty split"
            )
    return cfg

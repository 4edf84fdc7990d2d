"""Where a comparison writes, checked before any work: the output folder (``results.json``, ``report.md``, plots) and
the ``save_images`` folder.

* Both must be writable folders (a file in the way, or a folder that cannot be created, used to surface as an
  ``OSError`` after all SR, detection and bootstrap).
* ``OUT/results.json`` of *another* comparison (other data, ``limit``, scale, degradation, detector, class map,
  backend or bootstrap settings, or an SR condition of the same name from another source) is not replaced unless
  ``overwrite``: :class:`~sr4det.errors.OutputExistsError` names the differences and the fix. Rerunning the same
  comparison (resume) and adding conditions to it (nothing of the old table is lost) write as before.
* ``overwrite`` removes the files an earlier comparison wrote there (:data:`OUTPUT_FILES`, as journaled) first.
* ``save_images`` names each output ``<condition>/<image stem>.png`` (what ``sr4det mos create`` matches): two
  images with one stem would share a file, so they are refused up front.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._files import writable_dir
from ..errors import InputError, OutputExistsError

RESULTS = "results.json"
#: every file a comparison may write into its output folder, journaled before the first of them is written (see
#: :mod:`sr4det._run_folder`), so that ``--overwrite`` removes an earlier run's plots as well (a plot the new run
#: does not draw, e.g. ``delta_ap_vs_psnr.png`` without an SR model, would otherwise outlive its run)
OUTPUT_FILES = ("results.json", "report.md", "examples.png", "ap_by_size.png", "delta_ap_vs_psnr.png", "gain_vs_cost.png")

_FIX = "choose another output folder (--out / out_dir=), or pass --overwrite (overwrite=True) to replace them"


def _plain(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples -> lists, keys -> text), so old and new compare equal."""
    return json.loads(json.dumps(value, default=str))


def identity(config: Mapping[str, Any], dataset: Mapping[str, Any]) -> dict[str, Any]:
    """What makes two comparisons measure the same thing, from a ``results.json``'s ``config`` and ``dataset``."""
    boot = config.get("bootstrap") or {}
    return _plain(
        {
            "data": dataset.get("source"),
            "limit": dataset.get("limit"),
            "scale": config.get("scale"),
            "degradation": config.get("degradation"),
            "class_map": config.get("class_map"),
            "coco_eval": config.get("backend"),  # results.json's key of the COCO implementation
            "bootstrap": {k: boot.get(k) for k in ("n_resamples", "seed", "confidence")},
        }
    )


def _detectors(config: Mapping[str, Any]) -> dict[str, Any]:
    """Detector label -> its identity (cache identity, else its settings); v1 results know only the main one."""
    records = config.get("detectors")
    if not isinstance(records, Mapping):
        return {"main": _plain(config.get("detector"))}
    return {
        label: _plain(r.get("cache_identity") or r.get("settings")) if isinstance(r, Mapping) else None
        for label, r in records.items()
    }


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What the run ``new`` (a ``results.json`` dict without results; ``conditions``: name -> what is known before the
    run, e.g. ``model_digest``) changes of ``old`` that would lose old results."""
    diffs = []
    a, b = identity(old.get("config") or {}, old.get("dataset") or {}), identity(new["config"], new["dataset"])
    for key in a:
        if isinstance(a[key], dict) and isinstance(b[key], dict):  # name the changed entries, not the whole record
            diffs += [
                f"{key}.{k}: {_short(a[key].get(k))} -> {_short(b[key].get(k))}"
                for k in {**a[key], **b[key]}
                if a[key].get(k) != b[key].get(k)
            ]
        elif a[key] != b[key]:
            diffs.append(f"{key}: {_short(a[key])} -> {_short(b[key])}")
    missing = [c for c in old.get("conditions") or {} if c not in new["conditions"]]
    if missing:
        diffs.append(f"conditions {missing} would be dropped")
    old_sr, new_sr = _plain((old.get("config") or {}).get("sr") or {}), _plain(new["config"]["sr"])
    for name, source in old_sr.items():
        if name in new_sr and new_sr[name] != source:
            diffs.append(f"SR condition {name!r}: {source} -> {new_sr[name]}")
        elif name in new_sr:  # the same path may hold other weights now (a file retrained or replaced in place)
            was = ((old.get("conditions") or {}).get(name) or {}).get("model_digest")
            now = (new["conditions"].get(name) or {}).get("model_digest")
            if was and now and was != now:
                diffs.append(f"SR condition {name!r}: the weights at {source} changed (digest {was} -> {now})")
    old_det, new_det = _detectors(old.get("config") or {}), _detectors(new["config"])
    for label, ident in old_det.items():
        if label in new_det and new_det[label] != ident:
            diffs.append(f"detector {label!r} (other weights or settings)")
    return diffs


def _short(value: Any, n: int = 80) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= n else text[: n - 3] + "..."


def check_out_dir(out_dir: str | Path, new: Mapping[str, Any], *, overwrite: bool) -> Path:
    """``out_dir`` as a writable folder whose ``results.json`` (if any) may be replaced by the run ``new`` (its
    ``config``, ``dataset`` and ``conditions`` as results.json will have them); see the module docstring."""
    out = writable_dir(out_dir, "output folder --out (out_dir=)")
    path = out / RESULTS
    if overwrite or not path.exists():
        return out
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise OutputExistsError(f"{path} exists but is not a results.json sr4det can read ({exc}); {_FIX}") from exc
    if not isinstance(old, dict) or not isinstance(old.get("conditions"), dict):
        raise OutputExistsError(f"{path} exists but is not the results.json of `sr4det compare`; {_FIX}")
    diffs = _differences(old, new)
    if diffs:
        raise OutputExistsError(
            f"{path} holds the results of another comparison ({'; '.join(diffs)}); running this one there would "
            f"replace them: {_FIX}. (Rerunning the same comparison, or adding conditions to it, reuses the folder.)"
        )
    return out


def check_save_images(folder: str | Path, file_names: Sequence[str]) -> Path:
    """``folder`` as a writable folder, and every image stem unique (outputs are ``<condition>/<stem>.png``)."""
    seen: dict[str, str] = {}
    for name in file_names:
        stem = Path(name).stem
        if stem in seen:
            raise InputError(
                f"save_images (--save-images) names each output <condition>/<image stem>.png (what `sr4det mos create` "
                f"matches), but {seen[stem]} and {name} share the stem {stem!r} and would write one file; rename one "
                "of them, or leave out --save-images"
            )
        seen[stem] = name
    return writable_dir(folder, "folder --save-images (save_images=)")

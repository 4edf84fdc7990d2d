"""How much of a comparison's SR and detection work the cache already holds, said on stderr: before any SR model
loads (:func:`forecast_text`: SR keys from the model digests the cache remembers under each model's fingerprint,
:func:`remember_digest`) and, unless that forecast was complete, on each rank's readable images (:func:`cached_text`)."""

from __future__ import annotations

from collections.abc import Sequence

from .cache import CompareCache, cache_key, det_key, hr_key, lr_key
from .conditions import Condition, SRCondition
from .settings import Settings
from .shard import ShardState


def remember_digest(cache: CompareCache, cond: Condition, scale: int) -> None:
    """After ``cond`` loaded: remember its model digest under its fingerprint, so the next run counts its cache up
    front (nothing for conditions without a fingerprint)."""
    fingerprint = cond.fingerprint(scale) if isinstance(cond, SRCondition) else None
    if isinstance(cond, SRCondition) and fingerprint is not None:
        cache.put_json("models", cache_key("model", fingerprint), {"digest": cond.digest})


def count_cached(
    settings: Settings,
    state: ShardState,
    conditions: Sequence[Condition],
    images,
    hr_keys: dict[int, str],
    digests: dict[str, str] | None = None,
) -> tuple[int, int]:
    """(entries the cache holds, entries needed) for SR outputs and detections of ``images``; with ``digests``
    only the SR conditions named there (and hr/lr), their keys made with those model digests."""
    done = total = 0
    for cond in conditions:
        if digests is not None and cond.kind == "sr" and cond.name not in digests:
            continue
        det_id = state.det_ids[id(cond.detector or state.detector)]
        extra = {} if digests is None or cond.kind != "sr" else {"digest": digests[cond.name]}
        for im in images:
            lkey = lr_key(hr_keys[im.id], settings.deg_key)
            key = cond.key(hr_keys[im.id], lkey, tile=settings.tile, **extra)
            dkey = det_key(key, det_id)
            steps = [state.cache.path("det", dkey, ".json")] if dkey else []
            if cond.kind == "sr":
                steps.append(state.cache.path("sr", key, ".json"))
            total += max(1, len(steps))
            done += sum(p.is_file() for p in steps)
    return done, total


def forecast_text(settings: Settings, state: ShardState, conditions: Sequence[Condition], images) -> tuple[str, bool]:
    """(``"cached: 640 of 896 SR outputs and detections ..."``, whether it covers every condition) before any SR model
    loads: SR conditions' keys come from the model digests the cache remembers from earlier runs
    (:meth:`SRCondition.fingerprint`), the images' keys from their bytes. Conditions the cache has not seen yet
    count as to be computed. ``("", False)`` without a cache."""
    cache = state.cache
    if cache.root is None:
        return "", False
    hr_keys = {}
    for im in images:
        try:
            hr_keys[im.id] = hr_key(im.path, settings.scale)
        except OSError:  # missing: the image check names it later
            continue
    digests: dict[str, str | None] = {}
    for cond in conditions:
        if isinstance(cond, SRCondition):
            fingerprint = cond.fingerprint(settings.scale)
            entry = cache.get_json("models", None if fingerprint is None else cache_key("model", fingerprint))
            digests[cond.name] = entry.get("digest") if entry else None
    unseen = [n for n, d in digests.items() if not d]
    readable = [im for im in images if im.id in hr_keys]
    known = {n: d for n, d in digests.items() if d}
    done, total = count_cached(settings, state, conditions, readable, hr_keys, known)
    total += len(unseen) * len(readable) * 2  # SR output and detections of each image
    new = f"; {len(unseen)} SR condition(s) new to this cache ({', '.join(unseen)})" if unseen else ""
    rest = "nothing to compute" if done == total else f"computing the other {total - done}"
    return f"cached: {done} of {total} SR outputs and detections of {len(readable)} images{new}; {rest}", not unseen


def cached_text(
    settings: Settings, state: ShardState, conditions: Sequence[Condition], images, hr_keys: dict[int, str], world_size: int
) -> str:
    """``"cached: 640 of 896 SR outputs and detections; computing the other 256"``: how much of the SR and detection
    work (this rank's shard, after the models loaded) the cache already holds."""
    if state.cache.root is None:
        return f"no cache: computing SR and detections of {len(images)} images x {len(conditions)} conditions"
    try:
        done, total = count_cached(settings, state, conditions, images, hr_keys)
    except (AssertionError, NotImplementedError):  # a condition whose key needs what only running sets
        return f"computing SR and detections of {len(images)} images x {len(conditions)} conditions"
    shard = " (this process's shard)" if world_size > 1 else ""
    return f"cached: {done} of {total} SR outputs and detections{shard}; computing the other {total - done}"

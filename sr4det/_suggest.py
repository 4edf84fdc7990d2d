"""Near-match suggestions for unknown names (model names, config keys, choices): ``" (did you mean 'espcn'?)"``."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` / ``" (did you mean 'x' or 'y'?)"`` for the choices closest to ``word``, else ``""``.

    Case, ``-`` and ``_`` are ignored when comparing, so ``"ESPCN"``, ``"max-det"`` and ``"rrdb_net"`` find their names."""
    options = sorted(set(choices))

    def norm(text: str) -> str:
        return text.lower().replace("-", "_")

    by_norm: dict[str, str] = {}
    for option in options:
        by_norm.setdefault(norm(option), option)
    key = norm(str(word))
    if key in by_norm:
        found = [by_norm[key]]
    else:
        found = [by_norm[m] for m in difflib.get_close_matches(key, list(by_norm), n=3, cutoff=0.6)]
        found += [o for o in options if key and len(key) >= 3 and norm(o).startswith(key) and o not in found][: 3 - len(found)]
    if not found:
        return ""
    return " (did you mean " + " or ".join(repr(f) for f in found) + "?)"

"""Give freed heap memory back to the operating system (glibc).

glibc raises its mmap threshold after large blocks are freed, so later large temporaries (a float64 copy
of an image, the gather buffers of :func:`sr4det.resize.imresize`) are served from the heap. When small
arrays that we keep are allocated between them, the freed space can no longer be returned, and a loop
that degrades a few hundred 480x320 images ended at 6.3 GB resident for 56 MB of kept data. Calling
``malloc_trim`` after each item keeps such loops flat. Elsewhere (macOS, musl, Windows) this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def trim_heap() -> bool:
    """Return freed heap pages to the OS; True if glibc's ``malloc_trim`` ran, False where it does not exist."""
    fn = _malloc_trim()
    if fn is None:
        return False
    fn(0)
    return True

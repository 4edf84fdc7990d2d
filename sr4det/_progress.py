"""Progress output: tqdm bars on a terminal, plain lines in logs.

:func:`tqdm` takes tqdm's arguments. When stderr is a terminal it is ``tqdm.auto.tqdm``; otherwise (a log file,
a pipe, CI, a batch job) it is :class:`LineProgress`, which writes one plain line at most every
:data:`LINE_INTERVAL_S` seconds and one when a top-level bar (``leave=True``) ends: no carriage returns, no
escape codes, no interleaved nested bars. ``SR4DET_PROGRESS=bar|lines|none`` forces a form.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

#: seconds between two progress lines when stderr is not a terminal
LINE_INTERVAL_S = 30.0


def _form() -> str:
    forced = os.environ.get("SR4DET_PROGRESS", "").strip().lower()
    if forced in ("bar", "lines", "none"):
        return forced
    stream = sys.stderr
    return "bar" if stream is not None and hasattr(stream, "isatty") and stream.isatty() else "lines"


def tqdm(iterable: Any = None, *args: Any, **kwargs: Any) -> Any:
    """A tqdm bar on a terminal, a :class:`LineProgress` elsewhere (same arguments)."""
    form = _form()
    if form == "bar":
        from tqdm.auto import tqdm as bar

        return bar(iterable, *args, **kwargs)
    if form == "none":
        kwargs["disable"] = True
    return LineProgress(iterable, *args, **kwargs)


class LineProgress:
    """The part of tqdm's interface sr4det uses, printed as plain lines (see the module doc)."""

    def __init__(
        self,
        iterable: Any = None,
        desc: str | None = None,
        total: float | None = None,
        leave: bool = True,
        file: Any = None,
        unit: str = "it",
        disable: bool = False,
        initial: float = 0,
        **_ignored: Any,
    ):
        self.iterable = iterable
        self.desc = desc or ""
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total = total
        self.leave = leave
        self.file = file
        self.unit = unit
        self.disable = disable
        self.n = initial
        self.postfix = ""
        self._start = self._last = time.monotonic()
        self._closed = False
        self._printed_n: float | None = None  # the count of the last line printed: close() does not repeat it

    def __iter__(self):
        if self.iterable is None:
            raise TypeError("LineProgress without an iterable is not iterable")
        try:
            for item in self.iterable:
                yield item
                self.update(1)
        finally:
            self.close()

    def __len__(self) -> int:
        return int(self.total or 0)

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def line(self) -> str:
        elapsed = time.monotonic() - self._start
        done = f"{self.n:g}/{self.total:g}" if self.total else f"{self.n:g}"
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        rate = f", {self.n / elapsed:.2f} {self.unit}/s" if elapsed > 0 and self.n else ""
        post = f", {self.postfix}" if self.postfix else ""
        return f"{self.desc + ': ' if self.desc else ''}{done} {self.unit}{pct} in {elapsed:.0f} s{rate}{post}"

    def _print(self) -> None:
        stream = self.file or sys.stderr
        self._printed_n = self.n
        if stream is not None:
            print(self.line(), file=stream, flush=True)

    def update(self, n: float = 1) -> None:
        self.n += n
        now = time.monotonic()
        if not self.disable and now - self._last >= LINE_INTERVAL_S:
            self._last = now
            self._print()

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = True, **kwargs: Any) -> None:
        items = {**(dict(ordered_dict) if ordered_dict else {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = s

    def set_description(self, desc: str | None = None, refresh: bool = True) -> None:
        self.desc = desc or ""

    def refresh(self) -> None:
        pass

    def write(self, s: str) -> None:
        print(s, file=self.file or sys.stderr)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self.disable and self.leave and self.n and self.n != self._printed_n:
            self._print()

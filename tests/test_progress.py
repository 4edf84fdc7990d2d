"""Progress output: plain lines (no carriage returns or escape codes) when stderr is not a terminal."""

from __future__ import annotations

import io

from sr4det import _progress


def test_lines_in_logs(monkeypatch):
    log = io.StringIO()
    monkeypatch.delenv("SR4DET_PROGRESS", raising=False)
    monkeypatch.setattr(_progress.sys, "stderr", log)  # a file: not a terminal
    monkeypatch.setattr(_progress, "LINE_INTERVAL_S", 0.0)  # a line per update
    outer = _progress.tqdm(range(3), desc="outer", unit="img")
    assert isinstance(outer, _progress.LineProgress)
    assert list(outer) == [0, 1, 2]
    with _progress.tqdm(total=2, desc="inner", leave=False) as bar:
        bar.update(2)
        bar.set_postfix(loss="0.5")
    text = log.getvalue()
    assert "\r" not in text
    assert "\x1b" not in text
    lines = text.splitlines()
    assert lines[:3] == [ln for ln in lines[:3] if ln.startswith("outer: ")]
    assert "outer: 3/3 img (100%)" in lines[2]  # the closing line, not repeated (the last update printed it)
    assert len(lines) == 4  # leave=False: no closing line
    assert lines[3].startswith("inner: 2/2 it (100%)")


def test_quiet_lines_and_forced_forms(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr(_progress.sys, "stderr", log)
    list(_progress.tqdm(range(3), disable=True))
    monkeypatch.setenv("SR4DET_PROGRESS", "none")
    list(_progress.tqdm(range(3)))
    assert log.getvalue() == ""
    monkeypatch.setenv("SR4DET_PROGRESS", "bar")
    from tqdm.auto import tqdm

    assert isinstance(_progress.tqdm(range(3), file=log), tqdm)


def test_the_last_line_is_not_printed_twice(monkeypatch, capsys):
    """A line printed by the last update (its interval just elapsed) is not repeated when the bar closes."""
    monkeypatch.setenv("SR4DET_PROGRESS", "lines")
    monkeypatch.setattr(_progress, "LINE_INTERVAL_S", 0.0)
    for _ in _progress.tqdm(range(3), desc="detect", unit="img"):
        pass
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" in ")[0] for line in lines] == [
        "detect: 1/3 img (33%)",
        "detect: 2/3 img (67%)",
        "detect: 3/3 img (100%)",
    ]

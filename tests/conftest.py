"""Shared fixtures. Real data comes from ../shared (or $SR4DET_SHARED) through one helper, ``shared``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_root() -> Path:
    """The shared data folder: ``$SR4DET_SHARED`` if set, else ``<repo>/../shared`` (the rule of eval/_shared.py and
    pipelines/_shared.py; tests/test_shared_locator.py checks that they agree). May not exist."""
    env = os.environ.get("SR4DET_SHARED")
    return Path(env).expanduser().resolve() if env else (REPO_ROOT.parent / "shared").resolve()


# at most 2 intra-op threads per test process, and the cores shared out among pytest-xdist workers (``-n``), so
# that parallel workers do not oversubscribe the machine
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
torch.set_num_threads(max(1, min(2, (os.cpu_count() or 1) // _WORKERS)))


@pytest.fixture(scope="session")
def shared():
    """Return a function ``shared("data", "coco128") -> Path`` that skips the test when the path is absent."""

    def get(*parts: str) -> Path:
        path = shared_root().joinpath(*parts)
        if not path.exists():
            pytest.skip(f"real data not available: {path} is missing (set SR4DET_SHARED to the shared folder)")
        return path

    return get


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep every test away from the user's caches and the network."""
    cache = tmp_path_factory.getbasetemp() / "sr4det-cache"
    monkeypatch.setenv("SR4DET_CACHE", str(cache))
    monkeypatch.setenv("SR4DET_OFFLINE", "1")
    monkeypatch.setenv("YOLO_OFFLINE", "1")


def _snapshot(root: Path) -> set[str]:
    return {os.path.join(d, f) for d, _, files in os.walk(root) for f in files} if root.is_dir() else set()


@pytest.fixture(scope="session", autouse=True)
def _shared_stays_untouched():
    """../shared is read-only by contract (root can still write there): fail the run if a test added files."""
    root = shared_root()
    before = _snapshot(root)
    yield
    added = sorted(_snapshot(root) - before)
    assert not added, f"tests wrote into the shared data folder {root}: {added[:5]}"


@pytest.fixture(autouse=True)
def _no_logging_into_closed_streams():
    """A library that configures its logger while a test captures output (ultralytics' trainer does) binds a stream
    handler to that test's capture stream, which pytest closes: every later log line then fails with "I/O operation
    on closed file" in whichever test runs next. Such handlers are pointed back at the live stdout after each test."""
    yield
    import logging
    import sys

    loggers = [logging.getLogger(), *(v for v in logging.Logger.manager.loggerDict.values() if isinstance(v, logging.Logger))]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and getattr(handler.stream, "closed", False):
                handler.stream = sys.stdout  # (setStream would flush the closed stream first)


@pytest.fixture(autouse=True)
def _one_torchrun_at_a_time(request, tmp_path_factory):
    """Tests marked ``torchrun`` launch 2-process jobs; on this 2-core machine two such jobs under ``pytest -n auto``
    (4 ranks, plus the other worker's tests) starved each other past their collective and start-up timeouts. A file
    lock shared by the xdist workers (in pytest's base temp folder) runs them one at a time."""
    if request.node.get_closest_marker("torchrun") is None:
        yield
        return
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    root = root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root  # the folder all workers share
    with FileLock(str(root / "torchrun.lock")):
        yield

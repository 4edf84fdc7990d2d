"""Degrading many images keeps the process small (glibc heap trimming, sr4det._heap)."""

from __future__ import annotations

import platform

import numpy as np
import pytest

from sr4det._heap import trim_heap
from sr4det.data.io import write_image
from sr4det.training.data import PairedPatches


def test_trim_heap_runs_exactly_where_glibc_is():
    assert trim_heap() is (platform.libc_ver()[0] == "glibc")


@pytest.mark.skipif(not trim_heap(), reason="malloc_trim exists only in glibc")
def test_degrading_many_images_does_not_keep_the_temporaries(tmp_path):
    psutil = pytest.importorskip("psutil")
    rng = np.random.default_rng(0)
    for i in range(60):
        write_image(tmp_path / f"{i:03d}.png", rng.integers(0, 256, (320 - 4 * (i % 3), 480, 3), dtype=np.uint8))
    proc = psutil.Process()
    trim_heap()
    before = proc.memory_info().rss
    pairs = PairedPatches([tmp_path], scale=4)
    grown = (proc.memory_info().rss - before) / 2**20
    kept = sum(p.hr.nbytes + p.lr.nbytes for p in pairs.pairs) / 2**20  # ~28 MB
    # without trimming, this loop grew by ~15-28 MB per image (about 1 GB here)
    assert grown < kept + 250, f"RSS grew {grown:.0f} MB to keep {kept:.0f} MB of images"

"""Files written atomically (temp file + rename) get the mode open() would give them: 0o666 & ~umask, not 0600."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

import sr4det
from sr4det._files import atomic_path, atomic_write, current_umask, default_file_mode, mkstemp, sha256_file
from sr4det.data.io import write_image
from sr4det.models import save_weights


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_current_umask_reads_without_changing_it(umask):
    assert current_umask() == umask
    assert current_umask() == umask
    assert default_file_mode() == 0o666 & ~umask


def test_mkstemp_mode_follows_the_umask(tmp_path, umask):
    fd, tmp = mkstemp(tmp_path, suffix=".tmp")
    os.close(fd)
    assert _mode(tmp) == 0o666 & ~umask
    with open(tmp_path / "plain", "w"):
        pass
    assert _mode(tmp) == _mode(tmp_path / "plain")  # the same as open() would give


def test_atomic_writers_respect_the_umask(tmp_path, umask):
    expected = 0o666 & ~umask
    written = [
        write_image(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8)),
        save_weights(tmp_path / "w.pt", sr4det.create_model("espcn", scale=2).net, arch="espcn", scale=2),
    ]
    atomic_write(tmp_path / "c" / "x.json", b"{}")
    atomic_write(tmp_path / "r.md", "hi")
    with atomic_path(tmp_path / "n" / "named.bin") as tmp:
        with open(tmp, "wb") as f:
            f.write(b"x")
    written += [tmp_path / "c" / "x.json", tmp_path / "r.md", tmp_path / "n" / "named.bin"]
    assert {str(p): _mode(p) for p in written} == {str(p): expected for p in written}


def test_atomic_path_leaves_nothing_when_the_writer_fails(tmp_path):
    target = tmp_path / "t.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        with open(tmp, "wb") as f:
            f.write(b"half")
        raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.bin"]


def test_sha256_file_matches_hashlib_across_chunk_boundaries(tmp_path):
    import hashlib

    data = np.random.default_rng(0).bytes((1 << 20) + 7)  # more than one 1 MiB chunk
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert sha256_file(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()

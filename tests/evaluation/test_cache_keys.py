"""Cache keys are part of the on-disk contract: the same inputs must map to the same SR and detection files
as before the typed-pipeline refactor (issue 13), so existing caches stay valid. The dataset is written as
uncompressed PNGs (zlib level 0: stored blocks, the same bytes with any zlib), so the image hashes are fixed."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from sr4det.data.datasets import load_coco
from sr4det.degradation import preset
from sr4det.detectors.base import Detections
from sr4det.evaluation import compare

NAMES = {0: "apple"}


def _png(arr: np.ndarray) -> bytes:
    h, w, _ = arr.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + arr[y].tobytes() for y in range(h))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 0))
        + chunk(b"IEND", b"")
    )


def make_pinned_dataset(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    images, anns = [], []
    for i, (h, w) in enumerate([(34, 41), (28, 32)]):
        y, x = np.mgrid[0:h, 0:w]
        arr = np.stack([(x * 7 + i * 30) % 256, (y * 5) % 256, ((x + y) * 3) % 256], -1).astype(np.uint8)
        (root / "images" / f"{i}.png").write_bytes(_png(arr))
        images.append({"id": i + 1, "file_name": f"{i}.png", "height": h, "width": w})
        anns.append({"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [2, 3, 12, 10], "area": 120, "iscrowd": 0})
    path = root / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "apple"}]}))
    return path


class Fixed:
    names = NAMES
    config = {"type": "pinned", "version": 1}

    def __call__(self, images):
        return [Detections([[1.0, 2.0, 9.0, 8.0]], [0.5], [0], NAMES, im.shape[:2]) for im in images]


# file names under the cache folder, computed by the code before the refactor (commit c1a5154)
PINNED = {
    "det": [
        "0f/0f719e10993999ef147dfcb2720c6b42449d5e67316b253ff5191a2a19e87159.json",
        "8a/8af85fb59f50e65ddf26e3a60fd5fddb0658a0cc685979e878a5dafa1245f5c5.json",
        "8b/8bf7b4d65741faf3ad66716e30b0d787b3ad5b12f1d9add2ae2fa8be1e08910d.json",
        "8e/8eaeefb03ba6bf27fe40287b5ed15b0bbb08e5380766664682058092f7c88675.json",
        "94/94a6f85937474f0fab9581c73873581f90bea4659bb20fbc6fc72b144ba3e322.json",
        "c1/c1ac9a8c3707be5e3324f81ceb6045239c7d7ff3009dfb68e2c3423fae08ed6c.json",
        "e7/e7f7faaaadd6389623cdf137fbc1b8f6e41496c00bf1f212ab37f561d1e050eb.json",
        "ec/ec499c8115234b42e24f6e309520b6aeffc1347a159f11f3d0f92b4740c851b5.json",
    ],
    "sr": [
        "12/1208111e585bca74d943742e018e26e456d9c455562b984c0b75733d9ed1dcb2.json",
        "12/1208111e585bca74d943742e018e26e456d9c455562b984c0b75733d9ed1dcb2.png",
        "7d/7df4bc7c8354aecb25a850c2cae7e50138f94999466cc1d895aca41b92cdc0f2.json",
        "7d/7df4bc7c8354aecb25a850c2cae7e50138f94999466cc1d895aca41b92cdc0f2.png",
        "9b/9b49de266d69de7d5e652385d840ea49faa7e515fd8b88a87fcdbecfe068a8aa.json",
        "9b/9b49de266d69de7d5e652385d840ea49faa7e515fd8b88a87fcdbecfe068a8aa.png",
        "e9/e91cdf196a8bfed5efb68bdfe8687cd08d0dcce6183b9b76cf1439ecd9bb95d4.json",
        "e9/e91cdf196a8bfed5efb68bdfe8687cd08d0dcce6183b9b76cf1439ecd9bb95d4.png",
    ],
}


def _listing(cache: Path) -> dict[str, list[str]]:
    return {
        kind: sorted(p.relative_to(cache / kind).as_posix() for p in (cache / kind).rglob("*") if p.is_file())
        for kind in ("det", "sr")
    }


def test_cache_file_names_are_unchanged(tmp_path):
    path = make_pinned_dataset(tmp_path / "ds")
    cache = tmp_path / "cache"
    compare(load_coco(path), Fixed(), sr=["bicubic", "bilinear"], scale=2, n_resamples=0, cache_dir=cache, progress=False)
    assert _listing(cache) == PINNED


# cache keys (file stems) of representative conditions, computed on main at 924b4a4 before issue 27 took the dead
# ``direct`` SR path out: the ``sr_backend`` part of the SR key stays the literal "tiler" (tile, degradation preset
# and a compiled runtime each enter the keys)
PINNED_CASES = {
    "bicubic": {
        "det": [
            "0f719e10993999ef147dfcb2720c6b42449d5e67316b253ff5191a2a19e87159",
            "8bf7b4d65741faf3ad66716e30b0d787b3ad5b12f1d9add2ae2fa8be1e08910d",
            "8eaeefb03ba6bf27fe40287b5ed15b0bbb08e5380766664682058092f7c88675",
            "94a6f85937474f0fab9581c73873581f90bea4659bb20fbc6fc72b144ba3e322",
            "c1ac9a8c3707be5e3324f81ceb6045239c7d7ff3009dfb68e2c3423fae08ed6c",
            "ec499c8115234b42e24f6e309520b6aeffc1347a159f11f3d0f92b4740c851b5",
        ],
        "sr": [
            "1208111e585bca74d943742e018e26e456d9c455562b984c0b75733d9ed1dcb2",
            "7df4bc7c8354aecb25a850c2cae7e50138f94999466cc1d895aca41b92cdc0f2",
        ],
    },
    "tile": {
        "det": [
            "77d37ca9f1c78d8ddec12871ffeccc498da504b6fd542dc9d67012595040f4a2",
            "8bf7b4d65741faf3ad66716e30b0d787b3ad5b12f1d9add2ae2fa8be1e08910d",
            "94a6f85937474f0fab9581c73873581f90bea4659bb20fbc6fc72b144ba3e322",
            "b5f9598e5c762af4dc95fc291f586632464b85e9b8695e63c423deb397ce4a3f",
            "b76ab113068f2755e799165d1eab8eac1053dc165b6c00cec3a344964cd21771",
            "c1ac9a8c3707be5e3324f81ceb6045239c7d7ff3009dfb68e2c3423fae08ed6c",
            "d33fb719aeddeae8f7c16166ccf4babb139ff6da76e264a1791388fe0f7942d3",
            "ec499c8115234b42e24f6e309520b6aeffc1347a159f11f3d0f92b4740c851b5",
        ],
        "sr": [
            "5fbf7fc73b7557a710512d6ae1a26e622479b9151513076f016d0b2bb83ae9ff",
            "ae732561e7df56291b37cf51241143a8b516b4f9091f25b3b0f2d94293189463",
            "cd61c0529fa5699cf45474f4cd9db498b51b8611564a695bd21c47345892c9b9",
            "d4fe579958e7dd5c7cea4d4dad84a4497e1777b39f2eb2074a6ed7aa71e8ea61",
        ],
    },
    "camera": {
        "det": [
            "018219f76f24bd7a04cc4f92d973a03c712d58742136c9d6d0fc1ed587f8156a",
            "8af3d486e6cdd37c4abcff3229379a4e5e25f40277bfd74b31e83f98d3b7e8cc",
            "8bf7b4d65741faf3ad66716e30b0d787b3ad5b12f1d9add2ae2fa8be1e08910d",
            "8d5e90f8ba764ed7086f6c0e168e8cba9d6af99d0fd067baee18d2c10e178939",
            "c1ac9a8c3707be5e3324f81ceb6045239c7d7ff3009dfb68e2c3423fae08ed6c",
            "d0feb84ab01cc4079e936ea694e55b27f3fdcc5a9bbc4c8281495236c2197620",
        ],
        "sr": [
            "a662ae2e61a0dc3ff12427e0b4680d2a1b8a5d3ad0009c3ef9fe16e77e8cf4ac",
            "da9a952db13604d2350451009d459b7cce5ccc435be214f3e85b3c678e7139ba",
        ],
    },
    "openvino": {
        "det": [
            "0210632f76e215ce48bc4f20220d16392d1011bccb81a48c8239745a472084f0",
            "0f719e10993999ef147dfcb2720c6b42449d5e67316b253ff5191a2a19e87159",
            "187d1116d964540a07732439711ebffdb1575ba98b521bd8a3941b8a6e2b071d",
            "8bf7b4d65741faf3ad66716e30b0d787b3ad5b12f1d9add2ae2fa8be1e08910d",
            "8eaeefb03ba6bf27fe40287b5ed15b0bbb08e5380766664682058092f7c88675",
            "94a6f85937474f0fab9581c73873581f90bea4659bb20fbc6fc72b144ba3e322",
            "c1ac9a8c3707be5e3324f81ceb6045239c7d7ff3009dfb68e2c3423fae08ed6c",
            "ec499c8115234b42e24f6e309520b6aeffc1347a159f11f3d0f92b4740c851b5",
        ],
        "sr": [
            "1208111e585bca74d943742e018e26e456d9c455562b984c0b75733d9ed1dcb2",
            "724215b03e8a2bbbed4c650b9ad4839ee7468bbdc71c766e8750ed961cace1f2",
            "7df4bc7c8354aecb25a850c2cae7e50138f94999466cc1d895aca41b92cdc0f2",
            "fa944c4e5b7b877766cc462c6f35f2bb57b670c2bb6d791b0b49696a6a2754e7",
        ],
    },
}

CASES = {
    "bicubic": dict(sr=["bicubic"], scale=2),
    "tile": dict(sr=["bicubic", "espcn"], scale=2, tile=16),
    "camera": dict(sr=["bicubic"], scale=2, degradation=preset("camera", 2)),
    "openvino": dict(sr=["espcn"], scale=2, backend="openvino"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_cache_keys_of_representative_conditions_are_pinned(tmp_path, case):
    if case == "openvino":
        pytest.importorskip("openvino")
    path = make_pinned_dataset(tmp_path / "ds")
    cache = tmp_path / "cache"
    compare(load_coco(path), Fixed(), n_resamples=0, cache_dir=cache, progress=False, **CASES[case])
    stems = {kind: sorted({Path(f).name.split(".")[0] for f in files}) for kind, files in _listing(cache).items()}
    assert stems == PINNED_CASES[case]

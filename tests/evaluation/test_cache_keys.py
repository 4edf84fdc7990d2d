"""Cache keys are part of the on-disk contract: the same inputs must map to the same SR and detection files
as before the typed-pipeline refactor (issue 13), so existing caches stay valid. The dataset is written as
uncompressed PNGs (zlib level 0: stored blocks, the same bytes with any zlib), so the image hashes are fixed."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np

from sr4det.data.datasets import load_coco
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

"""SRSlicedDetector: SR band by band -> slices -> detector, never the whole SR image; the same crops and boxes as
super-resolving the whole image first (SRDetector + SlicedDetector) on an image small enough for that (up to one
uint8 level of float rounding)."""

from __future__ import annotations

import numpy as np
import pytest

import sr4det
from sr4det.detectors import Detections, SlicedDetector, SRDetector
from sr4det.detectors.sr_sliced import SRSlicedDetector
from sr4det.errors import InputError
from sr4det.transforms import SRTransform

NAMES = {0: "a", 1: "b"}


class Recording:
    """Boxes of the bright pixels' rows/columns per crop (a deterministic function of the crop's pixels), and every
    crop it saw."""

    names = NAMES

    def __init__(self) -> None:
        self.crops: list[np.ndarray] = []

    def __call__(self, images):
        out = []
        for im in images:
            self.crops.append(im.copy())
            mask = im[:, :, 1] > 128
            if mask.any():
                ys, xs = np.nonzero(mask)
                box = [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]
                score = [float(im[:, :, 1].mean()) / 255]
            else:
                box, score = np.zeros((0, 4)), []
            out.append(Detections(box, score, [int(mask.sum()) % 2] * len(score), NAMES, im.shape[:2]))
        return out


def _image(h=90, w=130, seed=0):
    rng = np.random.default_rng(seed)
    im = rng.integers(0, 90, size=(h, w, 3), dtype=np.uint8)
    for _ in range(12):
        y, x = int(rng.integers(0, h - 12)), int(rng.integers(0, w - 12))
        im[y : y + int(rng.integers(4, 12)), x : x + int(rng.integers(4, 12)), 1] = 250
    return im


@pytest.mark.parametrize("name", ["bicubic", "espcn"])
def test_bands_give_the_same_crops_and_boxes_as_the_whole_sr_image(name):
    model = sr4det.create_model(name, scale=2, pretrained=True)
    image = _image()
    ref_det, band_det = Recording(), Recording()
    ref = SRDetector(SRTransform(model, tile=None), SlicedDetector(ref_det, slice=64, overlap=0.2, full_image=False))
    streamed = SRSlicedDetector(SRTransform(model, tile=32), band_det, slice=64, overlap=0.2, full_image=False, batch=3)
    assert len(streamed.bands(90, 130)) > 2  # several bands of slice rows
    (a,) = ref([image])
    (b,) = streamed([image])
    assert len(band_det.crops) == len(ref_det.crops) > 6
    for x, y in zip(ref_det.crops, band_det.crops, strict=True):
        # every slice of the SR image; tiled and untiled convolutions round differently in float32, so a pixel on a
        # .5 boundary may land one level apart after the uint8 rounding
        diff = np.abs(x.astype(int) - y.astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
    assert b.image_size == a.image_size == (90, 130)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-4)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_whole_image_pass_runs_on_the_input_and_boxes_map_to_the_sr_frame():
    model = sr4det.create_model("bicubic", scale=2)
    det = Recording()
    streamed = SRSlicedDetector(model, det, slice=64, overlap=0.2, full_image=True, map_back=False)
    (d,) = streamed([_image()])
    assert d.image_size == (180, 260)
    assert det.crops[0].shape == (90, 130, 3)  # the input image (first), not an SR image
    assert all(c.shape[:2] != (180, 260) for c in det.crops)
    assert streamed.config["type"] == "sr_sliced" and streamed.config["slice"] == 64
    with pytest.raises(InputError):
        SRSlicedDetector(model, det, slice=0)


def test_a_budget_the_process_already_exceeds_is_a_tile_oom_error():
    from sr4det.errors import TileOOMError

    streamed = SRSlicedDetector(sr4det.create_model("bicubic", scale=2), Recording(), slice=64, max_memory="10MB")
    with pytest.raises(TileOOMError, match="larger max_memory"):
        streamed([_image()])

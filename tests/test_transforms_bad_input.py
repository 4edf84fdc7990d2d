"""Empty images given to the transforms fail with InputError before any model runs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sr4det.errors import InputError
from sr4det.transforms import Degrade, SRTransform


@pytest.mark.parametrize("image", [
    torch.zeros(3, 0, 5), torch.zeros(0, 3, 4, 4), torch.zeros(1, 3, 4, 0, dtype=torch.uint8),
    np.zeros((0, 4, 3), np.uint8), np.zeros((4, 0), np.uint16),
])
@pytest.mark.parametrize("tile", [None, "auto"])
def test_empty_image_in_sr_transform(image, tile):
    t = SRTransform("bicubic", scale=2, tile=tile)
    with pytest.raises(InputError, match="empty"):
        t(image)


def test_empty_image_in_degrade():
    with pytest.raises(InputError, match="empty"):
        Degrade(2)(torch.zeros(0, 3, 4, 4))

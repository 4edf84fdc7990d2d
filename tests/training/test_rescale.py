"""Starting a model at a new scale: the averaged pixel-shuffle head outputs the box-averaged source output."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sr4det.errors import ScaleError
from sr4det.models import build_network
from sr4det.training.rescale import average_shuffle_head, rescale_head


@pytest.mark.parametrize(("src", "dst"), [(4, 2), (4, 1), (6, 3), (6, 2)])
def test_averaged_head_is_the_block_mean_of_the_source_output(src, dst):
    torch.manual_seed(src * 10 + dst)
    w, b = torch.randn(3 * src * src, 5, 3, 3), torch.randn(3 * src * src)
    x = torch.randn(2, 5, 7, 9)
    y_src = F.pixel_shuffle(F.conv2d(x, w, b, padding=1), src)
    w2, b2 = average_shuffle_head(w, b, 3, src, dst)
    y_dst = F.pixel_shuffle(F.conv2d(x, w2, b2, padding=1), dst) if dst > 1 else F.conv2d(x, w2, b2, padding=1)
    assert torch.allclose(y_dst, F.avg_pool2d(y_src, src // dst), atol=1e-5)


def test_scale_that_does_not_divide_is_refused():
    with pytest.raises(ScaleError, match="divides 4"):
        average_shuffle_head(torch.zeros(48, 2, 3, 3), None, 3, 4, 3)


def test_rescaled_state_dict_loads_into_the_target_scale():
    net4, _ = build_network("rfdn", 4, nf=8, num_modules=1)
    net2, _ = build_network("rfdn", 2, nf=8, num_modules=1)
    net2.load_state_dict(rescale_head(net4.state_dict(), "upsampler.0", 3, 4, 2))
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(net2(x), F.avg_pool2d(net4(x), 2), atol=1e-5)

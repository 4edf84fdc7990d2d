"""The random degradation sampler for training: exact LR size, reproducible from the generator, a real mixture
of recipes (clean bicubic included, bit-exact), and kernels that are what they claim."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from sr4det.degradation import DegradationSpec, RandomDegradation
from sr4det.degradation.random import _bessel_j1, _gauss_kernel, _sinc_kernel
from sr4det.errors import InputError, ScaleError


def _hr(h: int = 64, w: int = 96, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 2.0, y * 3.0, (x * y) % 200], -1) + rng.normal(0, 5, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_lr_is_exactly_the_scaled_size_for_every_recipe(scale):
    rd = RandomDegradation(scale)
    rng = np.random.default_rng(0)
    for i in range(40):
        h, w = scale * (8 + i % 7), scale * (9 + i % 5)
        lr = rd(_hr(h, w, i), rng)
        assert lr.shape == (h // scale, w // scale, 3) and lr.dtype == np.uint8


def test_same_generator_state_same_bytes_other_state_other_bytes():
    rd, hr = RandomDegradation(4), _hr()
    a = [rd(hr, np.random.default_rng(7)) for _ in range(2)]
    assert np.array_equal(a[0], a[1])
    others = [rd(hr, np.random.default_rng(s)) for s in range(8, 14)]
    assert any(not np.array_equal(a[0], o) for o in others)


def test_the_clean_recipe_is_the_evaluators_lr_bit_for_bit():
    rd, hr = RandomDegradation(4), _hr()
    assert np.array_equal(rd.apply(hr, [{"op": "shrink", "mode": "matlab"}], np.random.default_rng(0)), DegradationSpec(4)(hr))


def test_the_mixture_has_the_stated_proportions_and_every_step_kind():
    rd = RandomDegradation(4, p_clean=0.2, p_first_order=0.3)
    rng = np.random.default_rng(0)
    recipes = [rd.sample(rng) for _ in range(2000)]
    clean = sum(r == [{"op": "shrink", "mode": "matlab"}] for r in recipes) / len(recipes)
    second = sum(any(s["op"] == "resize" for s in r) for r in recipes) / len(recipes)
    assert abs(clean - 0.2) < 0.03 and abs(second - 0.5) < 0.04
    ops = Counter(s["op"] + ":" + str(s.get("kind", s.get("mode", ""))) for r in recipes for s in r)
    for kind in ("blur:iso", "blur:aniso", "blur:generalized", "sinc:", "noise:gaussian", "noise:poisson", "jpeg:"):
        assert ops[kind] > 0, kind


def test_degraded_recipes_change_the_image():
    rd, hr = RandomDegradation(4, p_clean=0.0), _hr()
    clean = DegradationSpec(4)(hr).astype(int)
    rng = np.random.default_rng(1)
    diffs = [np.abs(rd(hr, rng).astype(int) - clean).mean() for _ in range(20)]
    assert np.median(diffs) > 1.0


def test_bessel_j1_matches_known_values():
    x = np.array([0.5, 1.0, 2.0, 5.0, 10.0])
    ref = np.array([0.2422684577, 0.4400505857, 0.5767248078, -0.3275791376, 0.0434727462])
    assert np.allclose(_bessel_j1(x), ref, atol=1e-8)


def test_kernels_sum_to_one_and_have_their_symmetry():
    k = _sinc_kernel(math.pi / 3, 13)
    assert k.sum() == pytest.approx(1.0, abs=1e-5) and np.allclose(k, k.T) and np.allclose(k, k[::-1, ::-1])
    g = _gauss_kernel({"size": 15, "sigma": [3.0, 1.0], "theta": 0.0})
    assert g.sum() == pytest.approx(1.0, abs=1e-5)
    assert g[7, :].std() > g[:, 7].std()  # wide along x (sigma 3), narrow along y (sigma 1)


def test_bad_settings_and_inputs_are_typed_errors():
    with pytest.raises(ScaleError):
        RandomDegradation(0)
    with pytest.raises(InputError, match="p_clean"):
        RandomDegradation(4, p_clean=0.8, p_first_order=0.5)
    with pytest.raises(InputError, match="jpeg"):
        RandomDegradation(4, jpeg=(0, 90))
    with pytest.raises(InputError, match="uint8 RGB"):
        RandomDegradation(4)(np.zeros((16, 16), np.uint8), np.random.default_rng(0))


def test_description_and_config_are_recordable():
    rd = RandomDegradation(4)
    assert "random" in rd.describe() and rd.config()["type"] == "random" and rd.config()["jpeg"] == [40, 95]

"""Tiled upscaling: planning, exactness for convolutional models, blending, budgets, OOM back-off, streaming."""

from __future__ import annotations

import importlib.util
import math
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sr4det
from sr4det import TileOOMError, create_model
from sr4det.errors import InputError
from sr4det.tiling import (
    blend_weights,
    estimate_memory,
    measure_receptive_field,
    parse_memory,
    plan_tiles,
    upscale,
)
from sr4det.tiling.memory import _PROBE_CACHE, _probe_file

# small variants keep the suite fast; their receptive fields are computed from the same kwargs
SMALL = {
    "vdsr": dict(depth=6, channels=16),
    "srresnet": dict(n_blocks=2, channels=16),
    "srgan": dict(n_blocks=2, channels=16),
    "edsr": dict(n_resblocks=2, n_feats=16),
    "rrdbnet": dict(nb=1, nf=16, gc=8),
}
CONV_ARCHS = [
    "bicubic",
    "bilinear",
    "lanczos",
    "srcnn",
    "fsrcnn",
    "fsrcnn_s",
    "espcn",
    "vdsr",
    "srresnet",
    "srgan",
    "edsr",
    "rrdbnet",
]
_MODELS: dict[tuple[str, int], object] = {}


def model_for(name: str, scale: int):
    key = (name, scale)
    if key not in _MODELS:
        torch.manual_seed(zlib.crc32(f"{name}x{scale}".encode()) % 1000)  # same seed in every process (hash() is salted)
        m = create_model(name, scale=scale, **SMALL.get(name, {}))
        if any(isinstance(mod, torch.nn.BatchNorm2d) for mod in m.modules()):
            # non-trivial BN statistics, so eval-mode BN is really exercised
            for mod in m.modules():
                if isinstance(mod, torch.nn.BatchNorm2d):
                    mod.running_mean.uniform_(-0.1, 0.1)
                    mod.running_var.uniform_(0.5, 1.5)
        _MODELS[key] = m
    return _MODELS[key]


def rand_image(c: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    # smooth-ish content plus noise: not saturated, so the clamp does not hide differences
    base = torch.rand(c, max(1, h // 4), max(1, w // 4), generator=g)
    base = torch.nn.functional.interpolate(base[None], size=(h, w), mode="bilinear", align_corners=False)[0]
    return (0.7 * base + 0.3 * torch.rand(c, h, w, generator=g)).clamp(0, 1)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # the models here are tiny; on a shared 2-core machine two intra-op threads were up to 10x slower than one
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ------------------------------------------------------------------------------------------------ planning


@settings(max_examples=300, deadline=None)
@given(
    h=st.integers(1, 300),
    w=st.integers(1, 300),
    overlap=st.integers(0, 20),
    extra=st.integers(1, 120),
    mult=st.sampled_from([1, 1, 2, 4, 16]),
)
def test_plan_tiles_cores_partition_image_with_context(h, w, overlap, extra, mult):
    tile = 2 * overlap + extra
    aligned = tile // mult * mult if tile >= mult else tile  # tiles shorter than the multiple are kept
    if aligned <= 2 * overlap and not (tile >= h and tile >= w):  # a single tile needs no overlap
        with pytest.raises(InputError):
            plan_tiles(h, w, tile, overlap, mult)
        return
    try:
        tiles = plan_tiles(h, w, tile, overlap, mult)
    except InputError as exc:  # only legitimate when no aligned step fits between the overlaps
        assert "multiples" in str(exc)
        assert aligned - 2 * overlap < mult
        return
    cover = np.zeros((h, w), dtype=np.int32)
    for t in tiles:
        assert 0 <= t.y0 <= t.cy0 < t.cy1 <= t.y1 <= h
        assert 0 <= t.x0 <= t.cx0 < t.cx1 <= t.x1 <= w
        assert t.y1 - t.y0 <= tile
        assert t.x1 - t.x0 <= tile
        assert t.y0 % mult == 0
        assert t.x0 % mult == 0
        # context: every core pixel is >= overlap from box edges that are not image borders
        assert t.y0 == 0 or t.cy0 - t.y0 >= overlap
        assert t.x0 == 0 or t.cx0 - t.x0 >= overlap
        assert t.y1 == h or t.y1 - t.cy1 >= overlap
        assert t.x1 == w or t.x1 - t.cx1 >= overlap
        cover[t.cy0 : t.cy1, t.cx0 : t.cx1] += 1
    assert (cover == 1).all()


def test_plan_tiles_extra_work_is_only_the_overlap():
    # 1024 px with tile 512 and overlap 5: three equal boxes of ~348, not three boxes of 512
    tiles = plan_tiles(1024, 1024, 512, 5)
    sides = sorted({t.y1 - t.y0 for t in tiles})
    assert len(tiles) == 9
    assert max(sides) <= 352
    work = sum((t.y1 - t.y0) * (t.x1 - t.x0) for t in tiles)
    assert work / 1024**2 < 1.05


@pytest.mark.parametrize("h,w", [(0, 10), (10, 0)])
def test_plan_tiles_rejects_empty(h, w):
    with pytest.raises(InputError, match="empty"):
        plan_tiles(h, w, 64, 4)


def test_plan_tiles_rejects_tile_not_larger_than_twice_overlap():
    with pytest.raises(InputError, match="twice the overlap"):
        plan_tiles(100, 100, 20, 10)


def test_blend_weights_partition_of_unity_shape_and_borders():
    tiles = plan_tiles(50, 70, 30, 6)
    s = 2
    total = np.zeros((100, 140))
    for t in tiles:
        wt = blend_weights(t, 50, 70, 6, s)
        assert wt.shape == ((t.y1 - t.y0) * s, (t.x1 - t.x0) * s)
        assert wt.dtype == np.float32
        assert (wt > 0).all()
        assert (wt <= 1).all()
        total[t.y0 * s : t.y1 * s, t.x0 * s : t.x1 * s] += wt
        if t.y0 == 0:  # image borders are never feathered
            assert np.allclose(wt[0, (t.cx0 - t.x0) * s : (t.cx1 - t.x0) * s], 1.0)
    assert (total >= 1.0 - 1e-6).all()  # every pixel has full weight from at least its core tile


@pytest.mark.parametrize(
    "text,expected",
    [("1.5GB", 1_500_000_000), ("512MiB", 512 * 2**20), ("800m", 800_000_000), ("1 gib", 2**30), (4096, 4096), ("2e3", 2000)],
)
def test_parse_memory(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize("bad", ["", "lots", "1.5 parsecs", "-1GB", 0, True])
def test_parse_memory_rejects(bad):
    with pytest.raises(InputError):
        parse_memory(bad)


# ------------------------------------------------------------------------------------------------ exactness


@pytest.mark.parametrize("name", CONV_ARCHS)
def test_card_receptive_field_covers_measured_gradient_extent(name):
    for scale in (2, 4):
        m = model_for(name, scale)
        assert measure_receptive_field(m) <= m.card.receptive_field


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_tiled_equals_untiled_for_conv_models(data):
    name = data.draw(st.sampled_from(CONV_ARCHS), label="arch")
    scale = data.draw(st.sampled_from([s for s in (2, 3, 4) if s in sr4det.get_card(name).scales]), label="scale")
    m = model_for(name, scale)
    rf = m.card.receptive_field
    # cores of 3..16 px and images of up to ~4 tiles per side keep each example to a few dozen model calls
    core = data.draw(st.integers(max(3, m.card.size_multiple), 16), label="core")
    tile = 2 * rf + core
    h = data.draw(st.integers(1, tile + 3 * core), label="h")
    w = data.draw(st.integers(max(1, tile - 10), tile + 3 * core), label="w")
    c = data.draw(st.sampled_from([3, 3, 1, 4]), label="channels")
    x = rand_image(c, h, w, seed=h * 1000 + w)
    with torch.inference_mode():
        ref = m(x)
    y = upscale(m, x, tile=tile, overlap=rf)
    assert y.shape == ref.shape
    assert y.dtype == torch.float32
    assert float((y - ref).abs().max()) <= 1e-5


def test_one_pixel_cores_are_still_exact():
    m = model_for("espcn", 2)
    rf = m.card.receptive_field
    x = rand_image(3, 20, 23, seed=11)
    with torch.inference_mode():
        ref = m(x)
    assert float((upscale(m, x, tile=2 * rf + 1, overlap=rf) - ref).abs().max()) <= 1e-5


def test_untiled_mode_is_one_call_and_batches_work():
    m = model_for("espcn", 3)
    x = torch.stack([rand_image(3, 21, 30, seed=i) for i in range(3)])
    calls = []
    handle = m.net.register_forward_hook(lambda mod, inp, out: calls.append(inp[0].shape))
    try:
        y_none = upscale(m, x, tile=None)
    finally:
        handle.remove()
    assert len(calls) == 1
    assert y_none.shape == (3, 3, 63, 90)
    y_tiled = upscale(m, x, tile=13, overlap=m.card.receptive_field, batch_tiles=4)
    with torch.inference_mode():
        ref = m(x)
    assert float((y_none - ref).abs().max()) <= 1e-6
    assert float((y_tiled - ref).abs().max()) <= 1e-5


@pytest.mark.parametrize("layout", ["hwc", "hw", "rgba", "uint16"])
def test_numpy_input_matches_untiled_rounded(layout):
    m = model_for("fsrcnn_s", 2)
    g = np.random.default_rng(0)
    shape = {"hwc": (37, 41, 3), "hw": (37, 41), "rgba": (37, 41, 4), "uint16": (37, 41, 3)}[layout]
    dtype, maxval = (np.uint16, 65535.0) if layout == "uint16" else (np.uint8, 255.0)
    arr = g.integers(0, int(maxval) + 1, size=shape).astype(dtype)
    y = upscale(m, arr, tile=16, overlap=m.card.receptive_field)
    t = torch.from_numpy(arr.astype(np.float32) / maxval)
    t = t.permute(2, 0, 1) if arr.ndim == 3 else t[None]
    with torch.inference_mode():
        ref = m(t)
    ref = ref.permute(1, 2, 0) if arr.ndim == 3 else ref[0]
    expected = (ref * maxval).round().clamp(0, maxval).numpy().astype(dtype)
    assert y.dtype == dtype
    assert y.shape == expected.shape
    # a float difference of ~1e-7 can flip a .5 rounding: one level on a few values (more of them at 16 bits,
    # where 1e-7 is 0.007 levels)
    diff = np.abs(y.astype(np.int64) - expected.astype(np.int64))
    assert diff.max() <= 1
    assert (diff == 0).mean() > (0.99 if dtype == np.uint16 else 0.999)


def test_out_memmap_is_filled_and_returned(tmp_path):
    m = model_for("bicubic", 2)
    arr = np.random.default_rng(1).integers(0, 256, size=(30, 20, 3), dtype=np.uint8)
    src = np.memmap(tmp_path / "in.dat", dtype=np.uint8, mode="w+", shape=arr.shape)
    src[:] = arr
    out = np.memmap(tmp_path / "out.dat", dtype=np.uint8, mode="w+", shape=(60, 40, 3))
    res = upscale(m, src, tile=12, overlap=m.card.receptive_field, out=out)
    assert res is out
    direct = upscale(m, arr, tile=None)
    assert np.array_equal(np.asarray(out), direct)


def test_out_with_wrong_shape_or_dtype_is_rejected():
    m = model_for("bicubic", 2)
    arr = np.zeros((10, 10, 3), dtype=np.uint8)
    with pytest.raises(InputError, match="out must be"):
        upscale(m, arr, tile=None, out=np.zeros((20, 20, 3), dtype=np.float32))
    with pytest.raises(InputError, match="out must be"):
        upscale(m, torch.zeros(3, 10, 10), tile=None, out=torch.zeros(3, 10, 10))


@pytest.mark.parametrize(
    "image,match",
    [
        (torch.zeros(3, 0, 5), "empty"),
        (np.zeros((0, 4, 3), dtype=np.uint8), "empty"),
        (torch.zeros(3, 4, 4, dtype=torch.uint8), "float"),
        (np.zeros((4, 4, 2), dtype=np.uint8), "channels"),
        (np.zeros((4, 4), dtype=np.int32), "uint8"),
        ([[0.0]], "torch.Tensor or numpy"),
    ],
)
def test_bad_images_raise_input_error(image, match):
    with pytest.raises(InputError, match=match):
        upscale(model_for("bicubic", 2), image, tile=None)


def test_tile_not_larger_than_twice_overlap_is_a_clear_error():
    m = model_for("espcn", 2)
    with pytest.raises(InputError, match=r"larger than twice the overlap \(5 px\)"):
        upscale(m, torch.rand(3, 40, 40), tile=10, overlap=5)


# ------------------------------------------------------------------------------------------------ blending


def test_feathered_blend_of_local_model_is_exact_when_weights_skip_the_receptive_field():
    # weights are ~0 within a quarter of the overlap from artificial edges; with overlap = 4 * rf every
    # pixel that carries weight saw its full receptive field, so the normalised blend is exact
    base = model_for("espcn", 2)
    m = sr4det.SRModel(base.net, base.card.replace(non_local=True), 2).eval()
    rf = base.card.receptive_field
    x = rand_image(3, 70, 95, seed=3)
    with torch.inference_mode():
        ref = m(x)
    y = upscale(m, x, tile=8 * rf + 6, overlap=4 * rf)
    assert len(plan_tiles(70, 95, 8 * rf + 6, 4 * rf)) > 4
    assert float((y - ref).abs().max()) <= 1e-5
    arr = (x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    y8 = upscale(m, arr, tile=8 * rf + 6, overlap=4 * rf)  # the strip writer on the uint8 path too
    ref8 = upscale(m, arr, tile=None)
    assert np.abs(y8.astype(int) - ref8.astype(int)).max() <= 1


def _eval_baselines():
    """eval/_baselines.py (benchmark-only code, not part of the library), loaded by path."""
    path = Path(__file__).resolve().parents[1] / "eval" / "_baselines.py"
    spec = importlib.util.spec_from_file_location("_sr4det_eval_baselines", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.shared
def test_craft_feathered_beats_naive_and_hard_crop(shared):
    from sr4det.data.io import read_image, to_tensor
    from sr4det.resize import imresize

    hard_crop_upscale = _eval_baselines().hard_crop_upscale
    model = sr4det.load_model(shared("weights", "sr", "spandrel", "CRAFT_x4_ntire2024_team34.pth"))
    assert model.card.non_local
    hr, _ = read_image(shared("data", "sr_benchmark", "BSD100", "img_005_SRF_4_HR.png"))
    lr = imresize(to_tensor(hr)[:, :192, :256], scale=0.25).clamp(0, 1)  # 48 x 64 LR
    with torch.inference_mode():
        ref = model(lr)
    ours = upscale(model, lr, tile=48, overlap=12)
    naive = hard_crop_upscale(model, lr, 32, 0)
    hard = hard_crop_upscale(model, lr, 32, 10)
    mean = {k: float((v - ref).abs().mean()) for k, v in {"ours": ours, "naive": naive, "hard": hard}.items()}
    worst = {k: float((v - ref).abs().max()) for k, v in {"ours": ours, "naive": naive, "hard": hard}.items()}
    # CRAFT is never exact under tiling; feathering must still beat both hard-edged schemes
    assert mean["ours"] < min(mean["hard"], mean["naive"]), mean
    assert worst["ours"] < min(worst["hard"], worst["naive"]), worst


# ------------------------------------------------------------------------------------------------ memory


def test_probe_is_cached_in_memory_and_on_disk():
    m = create_model("espcn", scale=2)
    _PROBE_CACHE.clear()
    calls = []
    handle = m.net.register_forward_hook(lambda mod, inp, out: calls.append(1))
    try:
        mm = estimate_memory(m)
        n = len(calls)
        assert n >= 2
        assert mm.per_pixel > 0
        assert estimate_memory(m) == mm  # memory cache
        assert len(calls) == n
        _PROBE_CACHE.clear()
        assert estimate_memory(m) == mm  # disk cache
        assert len(calls) == n
    finally:
        handle.remove()
    assert _probe_file().is_file()


def test_probe_per_pixel_is_at_least_the_output_and_grows_with_width():
    small = estimate_memory(create_model("edsr", scale=4, n_resblocks=1, n_feats=8))
    wide = estimate_memory(create_model("edsr", scale=4, n_resblocks=1, n_feats=32))
    assert small.per_pixel >= 3 * 16 * 4  # the float32 x4 RGB output alone
    assert wide.per_pixel > 2 * small.per_pixel  # feature maps scale with the channel count


def test_auto_tile_from_budget_is_exact_and_tiles():
    m = model_for("fsrcnn", 2)
    rf = m.card.receptive_field
    x = rand_image(3, 90, 110, seed=5)
    mm = estimate_memory(m)
    budget = mm.bytes(40 * 40) + 40 * 40 * (3 * 4 + 2 * 4 * 3 * 4)  # room for a tile of about 40 px
    calls = []
    handle = m.net.register_forward_hook(lambda mod, inp, out: calls.append(tuple(inp[0].shape[-2:])))
    try:
        y = upscale(m, x, tile="auto", max_memory=budget, overlap=rf)
    finally:
        handle.remove()
    assert len(calls) > 4
    assert max(max(c) for c in calls) <= 41
    with torch.inference_mode():
        ref = m(x)
    assert float((y - ref).abs().max()) <= 1e-5
    # a generous budget gives one tile
    calls.clear()
    handle = m.net.register_forward_hook(lambda mod, inp, out: calls.append(1))
    try:
        upscale(m, x, tile="auto", max_memory="4GB")
    finally:
        handle.remove()
    assert len(calls) == 1


def test_budget_too_small_raises_tile_oom_error_with_numbers():
    m = model_for("espcn", 2)
    with pytest.raises(TileOOMError, match="too small") as info:
        upscale(m, torch.rand(3, 64, 64), tile="auto", max_memory="10KB")
    # the documented minimum for a 64 px input: the largest of 2 x overlap + 1, the card's min size and 16 px,
    # rounded up to the card's size multiple
    floor = max(2 * m.card.default_overlap + 1, m.card.min_size, 16)
    mult = max(1, m.card.size_multiple)
    assert info.value.min_tile == -(-floor // mult) * mult
    assert info.value.bytes_requested > 10_000


def test_output_larger_than_budget_streams_to_memmap():
    m = model_for("bicubic", 4)
    arr = np.random.default_rng(2).integers(0, 256, size=(200, 200, 3), dtype=np.uint8)
    need = 200 * 200 * 16 * 3  # uint8 output bytes
    y = upscale(m, arr, tile="auto", max_memory=int(need * 1.5))
    assert isinstance(y, np.memmap)
    assert np.array_equal(np.asarray(y), upscale(m, arr, tile=None))


# ------------------------------------------------------------------------------------------------ OOM back-off


class _OOMAbove:
    """Forward hook raising an out-of-memory error for network inputs larger than `limit` pixels per side."""

    def __init__(self, limit: int, exc_factory):
        self.limit, self.exc_factory, self.sides = limit, exc_factory, []

    def __call__(self, module, inputs):
        side = max(inputs[0].shape[-2:])
        self.sides.append(side)
        if side > self.limit:
            raise self.exc_factory()


@pytest.mark.parametrize(
    "exc_factory",
    [
        lambda: torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        lambda: RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 bytes"
        ),
        lambda: RuntimeError("CUDA error: out of memory"),
    ],
)
def test_oom_halves_the_tile_redoes_only_that_tile_and_stays_exact(exc_factory):
    m = model_for("espcn", 2)
    rf = m.card.receptive_field
    x = rand_image(3, 100, 100, seed=7)
    with torch.inference_mode():
        ref = m(x)
    hook = _OOMAbove(40, exc_factory)
    handle = m.net.register_forward_pre_hook(hook)
    try:
        with pytest.warns(UserWarning, match="out of memory"):
            y = upscale(m, x, tile=64, overlap=rf)
    finally:
        handle.remove()
    assert float((y - ref).abs().max()) <= 1e-5
    failures = [s for s in hook.sides if s > 40]
    assert len(failures) == 1  # after the first failure every later tile uses the halved size
    assert max(hook.sides[hook.sides.index(failures[0]) + 1 :]) <= 32


def test_oom_below_min_tile_raises_tile_oom_error():
    m = model_for("espcn", 2)
    rf = m.card.receptive_field
    handle = m.net.register_forward_pre_hook(_OOMAbove(4, lambda: torch.OutOfMemoryError("out of memory")))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(TileOOMError) as info:
                upscale(m, torch.rand(3, 60, 60), tile=48, overlap=rf)
    finally:
        handle.remove()
    err = info.value
    assert err.min_tile == max(2 * rf + 1, 16)
    assert err.tile < 2 * err.min_tile
    assert err.device == "cpu"
    assert isinstance(err.__cause__, torch.OutOfMemoryError)


def test_other_errors_are_not_swallowed():
    m = model_for("espcn", 2)
    handle = m.net.register_forward_pre_hook(_OOMAbove(0, lambda: RuntimeError("shape mismatch")))
    try:
        with pytest.raises(RuntimeError, match="shape mismatch"):
            upscale(m, torch.rand(3, 30, 30), tile=20, overlap=2)
    finally:
        handle.remove()


def test_batched_tiles_fall_back_to_single_tiles_on_oom():
    m = model_for("espcn", 2)
    rf = m.card.receptive_field
    x = rand_image(3, 60, 60, seed=9)

    def pre(module, inputs):
        if inputs[0].shape[0] > 1:
            raise torch.OutOfMemoryError("out of memory")

    handle = m.net.register_forward_pre_hook(pre)
    try:
        y = upscale(m, x, tile=24, overlap=rf, batch_tiles=4)
    finally:
        handle.remove()
    with torch.inference_mode():
        ref = m(x)
    assert float((y - ref).abs().max()) <= 1e-5


def test_progress_bar_and_bf16_autocast_run(capsys):
    m = model_for("fsrcnn_s", 2)
    x = rand_image(3, 40, 40)
    y = upscale(m, x, tile=20, overlap=m.card.receptive_field, progress=True, dtype=torch.bfloat16, channels_last=True)
    assert "tile" in capsys.readouterr().err
    with torch.inference_mode():
        ref = m(x)
    assert y.dtype == torch.float32
    assert float((y - ref).abs().mean()) < 0.02  # bf16: close, not exact
    m.to(memory_format=torch.contiguous_format)


def test_sr4det_upscale_is_the_public_name():
    assert sr4det.upscale is upscale
    assert math.isfinite(float(upscale(model_for("bicubic", 2), torch.rand(1, 5, 5), tile=None).sum()))


@pytest.mark.parametrize("tile", ["auto", 8, 64])
def test_image_smaller_than_the_minimum_tile_is_one_tile(tile):
    """A tiny image fits in one tile, which needs no overlap, whatever the model's receptive field."""
    model = sr4det.create_model("espcn", scale=4)
    x = torch.rand(3, 8, 7)
    with torch.inference_mode():
        expected = model(x)
    torch.testing.assert_close(upscale(model, x, tile=tile), expected, atol=1e-6, rtol=0)

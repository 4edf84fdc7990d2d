"""SRTransform and Degrade: v1 types, v2 targets in every box format, composition, pickling, DataLoader workers."""

from __future__ import annotations

import pickle

import numpy as np
import PIL.Image
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, Dataset
from torchvision import tv_tensors
from torchvision.ops import masks_to_boxes
from torchvision.transforms import v2

from sr4det import create_model
from sr4det.errors import InputError, ScaleError
from sr4det.resize import imresize_uint8
from sr4det.transforms import Degrade, SRTransform

FORMATS = ["XYXY", "XYWH", "CXCYWH", "XYWHR", "CXCYWHR", "XYXYXYXY"]
_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _sr(scale: int = 2, **kw) -> SRTransform:
    return SRTransform("bicubic", scale=scale, tile=None, **kw)


@st.composite
def _boxes(draw, fmt: str, h: int, w: int):
    n = draw(st.integers(0, 5))
    coord = st.floats(0, min(h, w) - 1, allow_nan=False, width=32)
    values = draw(st.lists(st.lists(coord, min_size=8, max_size=8), min_size=n, max_size=n))
    data = torch.tensor(values, dtype=torch.float32).reshape(n, 8)
    width = {"XYXYXYXY": 8, "XYWHR": 5, "CXCYWHR": 5}.get(fmt, 4)
    data = data[:, :width].clone()
    if fmt in ("XYWHR", "CXCYWHR"):
        data[:, 4] = data[:, 4] % 90  # an angle: must not be scaled
    return tv_tensors.BoundingBoxes(data, format=fmt, canvas_size=(h, w))


# ------------------------------------------------------------------------------------------- v1-style inputs
def test_pil_in_pil_out():
    t = _sr(3)
    for mode in ("RGB", "L", "RGBA"):
        img = PIL.Image.fromarray(np.random.default_rng(0).integers(0, 256, (7, 9, len(mode)), dtype=np.uint8).squeeze())
        img = img.convert(mode)
        out = t(img)
        assert isinstance(out, PIL.Image.Image)
        assert out.mode == mode
        assert out.size == (27, 21)
    assert t(PIL.Image.new("P", (5, 4))).mode == "RGB"  # palette images come back as RGB


def test_tensor_types_and_ranges_are_kept():
    t = _sr(2)
    u8 = torch.randint(0, 256, (3, 6, 5), dtype=torch.uint8)
    out = t(u8)
    assert out.dtype == torch.uint8
    assert out.shape == (3, 12, 10)
    assert type(out) is torch.Tensor
    f = u8.float() / 255
    out_f = t(f)
    assert out_f.dtype == torch.float32
    assert 0 <= out_f.min()
    assert out_f.max() <= 1
    # uint8 path = float path rounded: same values, same range
    assert (out.float() - out_f * 255).abs().max() <= 0.5 + 1e-3
    batch = torch.rand(2, 3, 4, 5, dtype=torch.float64)
    out_b = t(batch)
    assert out_b.shape == (2, 3, 8, 10)
    assert out_b.dtype == torch.float64
    img = tv_tensors.Image(u8)
    assert isinstance(t(img), tv_tensors.Image)
    assert t(img).shape == (3, 12, 10)
    with pytest.raises(InputError):
        t(torch.zeros(6, 5, 3, dtype=torch.uint8))  # HWC tensor
    with pytest.raises(InputError):
        t(torch.zeros(3, 6, 5, dtype=torch.int32))


def test_numpy_rgb_and_bgr():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    out_rgb = _sr(2)(rgb)
    out_bgr = _sr(2, channel_order="bgr")(np.ascontiguousarray(rgb[:, :, ::-1]))
    assert out_rgb.shape == (12, 14, 3)
    assert out_rgb.dtype == np.uint8
    np.testing.assert_array_equal(out_bgr, out_rgb[:, :, ::-1])
    gray = rng.integers(0, 256, (6, 7), dtype=np.uint8)
    assert _sr(2)(gray).shape == (12, 14)
    with pytest.raises(InputError):
        SRTransform("bicubic", scale=2, tile=None, channel_order="rbg")


def test_matches_the_model_and_tiler():
    """tile=None is the direct model call; a small tile through sr4det.tiling gives the same result."""
    model = create_model("espcn", scale=2, pretrained=False)
    x = torch.rand(1, 3, 20, 18)
    with torch.inference_mode():
        ref = model(x)
    torch.testing.assert_close(SRTransform(model, tile=None)(x), ref)
    pytest.importorskip("sr4det.tiling")
    torch.testing.assert_close(SRTransform(model, tile=12)(x), ref, atol=1e-5, rtol=0)


def test_model_spec_and_scale_checks():
    model = create_model("bicubic", scale=3)
    assert SRTransform(model, tile=None).scale == 3
    with pytest.raises(ScaleError):
        SRTransform(model, scale=2, tile=None)
    with pytest.raises(InputError):
        SRTransform("no-such-model", tile=None)
    with pytest.raises(InputError):
        SRTransform(42)


# ------------------------------------------------------------------------------------------- v2 targets
@_SETTINGS
@given(data=st.data(), fmt=st.sampled_from(FORMATS), scale=st.sampled_from([2, 3, 4]), h=st.integers(3, 9), w=st.integers(3, 9))
def test_boxes_scaled_exactly_in_every_format(data, fmt, scale, h, w):
    boxes = data.draw(_boxes(fmt, h, w))
    image = tv_tensors.Image(torch.rand(3, h, w))
    out = _sr(scale)({"image": image, "boxes": boxes, "labels": torch.arange(len(boxes))})
    assert out["image"].shape[-2:] == (h * scale, w * scale)
    assert isinstance(out["boxes"], tv_tensors.BoundingBoxes)
    assert out["boxes"].canvas_size == (h * scale, w * scale)
    assert out["boxes"].format == boxes.format
    expected = boxes.as_subclass(torch.Tensor).clone()
    if fmt in ("XYWHR", "CXCYWHR"):
        expected[:, :4] *= scale
    else:
        expected *= scale
    torch.testing.assert_close(out["boxes"].as_subclass(torch.Tensor), expected, rtol=0, atol=0)
    torch.testing.assert_close(out["labels"], torch.arange(len(boxes)))  # plain tensors beside an image pass through


@_SETTINGS
@given(data=st.data(), fmt=st.sampled_from(FORMATS), scale=st.sampled_from([2, 3, 4]))
def test_degrade_then_sr_boxes_round_trip(data, fmt, scale):
    h = data.draw(st.integers(scale, 5 * scale))
    w = data.draw(st.integers(scale, 5 * scale))
    boxes = data.draw(_boxes(fmt, h, w))
    sample = {"image": tv_tensors.Image(torch.rand(3, h, w)), "boxes": boxes}
    lr = Degrade(scale)(sample)
    lh, lw = h // scale, w // scale
    assert lr["image"].shape[-2:] == (lh, lw)
    assert lr["boxes"].canvas_size == (lh, lw)
    back = _sr(scale)(lr)
    assert back["image"].shape[-2:] == (lh * scale, lw * scale)
    assert back["boxes"].canvas_size == (lh * scale, lw * scale)
    if (lh * scale, lw * scale) == (h, w) and fmt in ("XYXY", "XYWH", "CXCYWH"):  # no mod-crop: exact inverse
        torch.testing.assert_close(back["boxes"].as_subclass(torch.Tensor), boxes.as_subclass(torch.Tensor), rtol=1e-6, atol=1e-4)


def test_keypoints_and_masks():
    if not hasattr(tv_tensors, "KeyPoints"):
        pytest.skip("this torchvision has no KeyPoints")
    kp = tv_tensors.KeyPoints(torch.tensor([[1.5, 2.0], [4.0, 0.5]]), canvas_size=(6, 5))
    mask = tv_tensors.Mask(torch.zeros(2, 6, 5, dtype=torch.uint8))
    mask[0, 1:3, 2:4] = 1
    out = _sr(3)({"image": tv_tensors.Image(torch.rand(3, 6, 5)), "kp": kp, "mask": mask})
    torch.testing.assert_close(out["kp"].as_subclass(torch.Tensor), kp.as_subclass(torch.Tensor) * 3)
    assert out["kp"].canvas_size == (18, 15)
    assert out["mask"].shape == (2, 18, 15)
    assert out["mask"].dtype == torch.uint8
    torch.testing.assert_close(masks_to_boxes(out["mask"][:1]), torch.tensor([[6.0, 3.0, 11.0, 8.0]]))  # nearest: 3x3 blocks


@_SETTINGS
@given(seed=st.integers(0, 2**16), scale=st.sampled_from([2, 3]))
def test_compose_with_flips_and_crops_keeps_boxes_and_pixels_aligned(seed, scale):
    """A bright rectangle, its box and its mask go through SR -> flip -> crop; they must still coincide."""
    g = torch.Generator().manual_seed(seed)
    h, w = 12, 14
    y0, x0 = int(torch.randint(0, h - 5, (1,), generator=g)), int(torch.randint(0, w - 5, (1,), generator=g))
    y1, x1 = y0 + 4, x0 + 5
    img = torch.full((3, h, w), 0.1)
    img[:, y0:y1, x0:x1] = 0.9
    mask = torch.zeros(1, h, w, dtype=torch.uint8)
    mask[:, y0:y1, x0:x1] = 1
    sample = {
        "image": tv_tensors.Image(img),
        "boxes": tv_tensors.BoundingBoxes([[x0, y0, x1, y1]], format="XYXY", canvas_size=(h, w), dtype=torch.float32),
        "mask": tv_tensors.Mask(mask),
    }
    torch.manual_seed(seed)
    pipe = v2.Compose(
        [
            _sr(scale),
            v2.RandomHorizontalFlip(p=1.0),
            v2.RandomVerticalFlip(p=0.5),
            v2.RandomCrop((h * scale - 2, w * scale - 3)),
        ]
    )
    out = pipe(sample)
    m = out["mask"]
    if m.sum() == 0:
        return  # cropped away entirely
    box = out["boxes"].as_subclass(torch.Tensor)
    torch.testing.assert_close(box, masks_to_boxes(m) + torch.tensor([0.0, 0.0, 1.0, 1.0]))  # pixel-edge convention
    inside = out["image"][:, m[0].bool()]
    assert inside.mean() > 0.75  # the bright object is where its mask and box say
    # far from the object (one LR pixel of bicubic ringing aside) the image is background
    far = torch.ones_like(m[0], dtype=torch.bool)
    bx0, by0, bx1, by1 = box[0].round().int().tolist()
    far[max(0, by0 - 2 * scale) : by1 + 2 * scale, max(0, bx0 - 2 * scale) : bx1 + 2 * scale] = False
    if far.any():
        assert out["image"][:, far].mean() < 0.2


def test_plain_tensor_boxes_are_not_silently_passed_through():
    img = tv_tensors.Image(torch.rand(3, 5, 5))
    with pytest.raises(InputError, match="BoundingBoxes"):
        _sr(2)({"image": img, "boxes": torch.tensor([[0.0, 0.0, 2.0, 2.0]])})
    with pytest.raises(InputError, match="BoundingBoxes"):  # no explicit image: still not silently unscaled
        _sr(2)({"image": torch.rand(3, 5, 5), "boxes": torch.tensor([[0.0, 0.0, 2.0, 2.0]])})
    with pytest.raises(InputError, match="wrap_dataset_for_transforms_v2"):  # raw CocoDetection targets
        _sr(2)((PIL.Image.new("RGB", (5, 5)), [{"bbox": [0, 0, 2, 2], "category_id": 1}]))
    with pytest.warns(UserWarning, match="BoundingBoxes"):
        _sr(2)((img, torch.tensor([[0.0, 0.0, 2.0, 2.0]])))


def test_target_frame_mismatch_is_an_error():
    img = tv_tensors.Image(torch.rand(3, 5, 5))
    wrong = tv_tensors.BoundingBoxes([[0, 0, 2, 2]], format="XYXY", canvas_size=(10, 10))
    with pytest.raises(InputError, match="canvas"):
        _sr(2)({"image": img, "boxes": wrong})


# ------------------------------------------------------------------------------------------- Degrade
def test_degrade_equals_matlab_imresize_after_modcrop():
    rng = np.random.default_rng(2)
    hr = rng.integers(0, 256, (19, 22, 3), dtype=np.uint8)
    lr = Degrade(4)(hr)
    assert lr.shape == (4, 5, 3)
    assert lr.dtype == np.uint8
    np.testing.assert_array_equal(lr, imresize_uint8(hr[:16, :20], 0.25))
    pil = Degrade(4)(PIL.Image.fromarray(hr))
    np.testing.assert_array_equal(np.asarray(pil), lr)
    t = Degrade(4)(torch.from_numpy(hr).permute(2, 0, 1).contiguous())
    np.testing.assert_array_equal(t.permute(1, 2, 0).numpy(), lr)


def test_degrade_options():
    rng = np.random.default_rng(3)
    hr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    plain = Degrade(2)(hr).astype(int)
    noisy_a = Degrade(2, noise_std=10, seed=7)(hr).astype(int)
    noisy_b = Degrade(2, noise_std=10, seed=7)(hr).astype(int)
    np.testing.assert_array_equal(noisy_a, noisy_b)  # seeded: a function of (seed, image)
    assert 6 < (noisy_a - plain).std() < 14
    assert not np.array_equal(Degrade(2, noise_std=10, seed=8)(hr), noisy_a)
    blurred = Degrade(2, blur_sigma=2.0)(hr).astype(int)
    assert np.abs(np.diff(blurred, axis=1)).mean() < np.abs(np.diff(plain, axis=1)).mean()
    jpg = Degrade(2, jpeg_quality=10)(hr)
    assert jpg.shape == plain.shape
    assert not np.array_equal(jpg, plain)
    f = Degrade(2, noise_std=5, jpeg_quality=50, seed=0)(torch.rand(3, 10, 10))
    assert f.dtype == torch.float32
    assert f.shape == (3, 5, 5)
    assert 0 <= f.min()
    assert f.max() <= 1
    for bad in (dict(scale=0), dict(scale=2.5), dict(scale=2, method="cubic"), dict(scale=2, jpeg_quality=0)):
        with pytest.raises((ScaleError, InputError)):
            Degrade(**bad)
    with pytest.raises(InputError):
        Degrade(4)(np.zeros((3, 3, 3), np.uint8))  # smaller than the scale


def test_degrade_masks_and_modcrop_clamps_boxes():
    mask = tv_tensors.Mask(torch.zeros(1, 10, 11, dtype=torch.uint8))
    mask[0, 4:8, 4:8] = 1
    boxes = tv_tensors.BoundingBoxes([[4.0, 4.0, 8.0, 8.0], [6.0, 2.0, 11.0, 10.0]], format="XYXY", canvas_size=(10, 11))
    out = Degrade(4)({"image": tv_tensors.Image(torch.rand(3, 10, 11)), "boxes": boxes, "mask": mask})
    assert out["image"].shape == (3, 2, 2)
    assert out["mask"].shape == (1, 2, 2)
    assert out["boxes"].canvas_size == (2, 2)
    # second box ran past the mod-cropped 8x8 canvas: clamped, then / 4
    torch.testing.assert_close(out["boxes"].as_subclass(torch.Tensor), torch.tensor([[1.0, 1.0, 2.0, 2.0], [1.5, 0.5, 2.0, 2.0]]))
    assert out["mask"][0].tolist() == [[0, 0], [0, 1]]


# ------------------------------------------------------------------------------------------- pickling / workers
def test_pickle_drops_the_model_and_reloads_it():
    t = SRTransform("bicubic", scale=2, tile=None)
    blob = pickle.dumps(t)
    u = pickle.loads(blob)
    assert u._sr_model is None  # the spec travels, not the model
    assert u(torch.rand(3, 4, 4)).shape == (3, 8, 8)
    x = torch.rand(3, 5, 5)
    for own in (
        SRTransform(create_model("espcn", scale=2), tile=None),
        SRTransform("espcn", scale=2, tile=None, pretrained=False),
    ):
        copy = pickle.loads(pickle.dumps(own))  # instances and random inits travel with their weights
        assert copy._sr_model is not None
        torch.testing.assert_close(copy(x), own(x))


class _Tiny(Dataset):
    """The transforms are built in the main process and travel to the workers with the dataset."""

    def __init__(self, weights):
        self.degrade = Degrade(2)
        self.sr = SRTransform(weights, tile=None)  # a weight file: reloaded lazily in each worker
        self.pipe = v2.Compose([self.degrade, self.sr])

    def __len__(self) -> int:
        return 6

    def __getitem__(self, i: int):
        g = torch.Generator().manual_seed(i)
        img = tv_tensors.Image(torch.randint(0, 256, (3, 8, 8), dtype=torch.uint8, generator=g))
        boxes = tv_tensors.BoundingBoxes([[i, i, i + 2, i + 2]], format="XYXY", canvas_size=(8, 8), dtype=torch.float32)
        out = self.pipe({"image": img, "boxes": boxes})
        out["model_pid"] = self.sr._model_pid
        return out


@pytest.mark.timeout(120)
def test_dataloader_with_two_workers(tmp_path):
    import os

    from sr4det.models import save_weights

    model = create_model("espcn", scale=2)
    weights = save_weights(tmp_path / "espcn_x2.pt", model.net, arch="espcn", scale=2)
    ds = _Tiny(weights)
    loader = DataLoader(ds, batch_size=2, num_workers=2, collate_fn=lambda b: b)
    items = [s for batch in loader for s in batch]
    assert len(items) == 6
    for i, s in enumerate(items):
        assert s["image"].shape == (3, 8, 8)
        assert s["image"].dtype == torch.uint8
        torch.testing.assert_close(
            s["boxes"].as_subclass(torch.Tensor), torch.tensor([[i, i, i + 2, i + 2]], dtype=torch.float32)
        )
    pids = {s["model_pid"] for s in items}
    assert os.getpid() not in pids  # each worker loaded its own model
    assert len(pids) == 2
    for i, s in enumerate(items):  # the workers' reloaded models are the main process's model
        torch.testing.assert_close(s["image"], ds[i]["image"])


# ------------------------------------------------------------------------------------------- functional API
def test_functional_kernels_match_the_transforms():
    from sr4det.transforms import functional as F

    sr, deg = _sr(2), Degrade(2)
    img = torch.randint(0, 256, (3, 6, 8), dtype=torch.uint8)
    torch.testing.assert_close(F.super_resolve(img, 2, upscaler=sr.upscale), sr(img), rtol=0, atol=0)
    arr = img.permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(F.degrade(arr, deg.spec), deg(arr))
    boxes = tv_tensors.BoundingBoxes([[1.0, 2.0, 5.0, 6.0]], format="XYXY", canvas_size=(6, 8))
    out = F.super_resolve(boxes, 3)  # targets need no upscaler
    assert out.canvas_size == (18, 24)
    assert out.tolist() == [[3.0, 6.0, 15.0, 18.0]]
    mask = F.degrade(tv_tensors.Mask(torch.ones(1, 6, 8, dtype=torch.uint8)), deg.spec)
    assert isinstance(mask, tv_tensors.Mask)
    assert mask.shape == (1, 3, 4)
    with pytest.raises(InputError, match="upscaler"):
        F.super_resolve(img, 2)
    with pytest.raises(InputError, match="unsupported input type str"):
        F.degrade("image.png", deg.spec)


def test_custom_tv_tensor_kernels_plug_into_the_transforms():
    from sr4det.transforms import functional as F

    class Heatmap(tv_tensors.TVTensor):  # a custom tv_tensor: passed through until it has a kernel
        pass

    sample = lambda: (tv_tensors.Image(torch.rand(3, 4, 4)), Heatmap(torch.ones(4, 4)))  # noqa: E731
    assert type(_sr(2)(sample())[1]) is Heatmap
    assert _sr(2)(sample())[1].shape == (4, 4)
    with pytest.raises(InputError):
        F.super_resolve(Heatmap(torch.ones(4, 4)), 2)  # no fallback to the plain-tensor kernel

    @F.register_kernel(F.super_resolve, Heatmap)
    def _heatmap(hm, scale, **kwargs):
        return tv_tensors.wrap(hm.as_subclass(torch.Tensor).repeat_interleave(scale, -1).repeat_interleave(scale, -2), like=hm)

    try:
        out = _sr(2)(sample())[1]
        assert type(out) is Heatmap
        assert out.shape == (8, 8)
        with pytest.raises(ValueError, match="already"):
            F.register_kernel(F.super_resolve, Heatmap)(_heatmap)
    finally:
        F._KERNELS[F.super_resolve].pop(Heatmap)


def test_only_public_torchvision_hooks_are_overridden():
    """torchvision >= 0.21 makes make_params / transform / check_inputs public; nothing private is overridden."""
    from torchvision.transforms.v2 import Transform

    from sr4det.transforms._base import ResamplingTransform

    private = {name for name in vars(Transform) if name.startswith("_") and not name.startswith("__")}
    for cls in (ResamplingTransform, SRTransform, Degrade):
        overridden = private & set(vars(cls))
        assert overridden <= {"_transformed_types"}, f"{cls.__name__} overrides {sorted(overridden)}"

"""Tests for cssl_edu.augment: the per-image and batched SimCLR recipes and their agreement.

Statistical comparisons use fixed seeds (the autouse fixture seeds torch's global RNG, the batched
path gets explicit generators), so they are deterministic; thresholds are set well above the
sampling noise of the sample sizes used (noted at each threshold).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms as T1
import torchvision.transforms.v2.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

from cssl_edu.augment import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    AugmentConfig,
    EvalTransform,
    SimCLRAugment,
    sample_params,
    simclr_transform,
)
from cssl_edu.augment.blur import gaussian_blur
from cssl_edu.augment.color import (
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    color_jitter,
    hsv_to_rgb,
    rgb_to_hsv,
)
from cssl_edu.augment.config import default_blur_kernel
from cssl_edu.augment.geometry import crop_resize_flip, rotate, sample_crop_boxes

requires_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

MEAN = torch.tensor(CIFAR10_MEAN).view(3, 1, 1)
STD = torch.tensor(CIFAR10_STD).view(3, 1, 1)

# every op off: what is left is the resize and the normalisation
ALL_OFF = dict(crop=False, flip_p=0.0, jitter_p=0.0, grayscale_p=0.0, blur=False)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def unnormalise(y: torch.Tensor) -> torch.Tensor:
    """Normalised views (..., 3, S, S) back to [0, 1] units."""
    return y * STD.to(y.device) + MEAN.to(y.device)


def smooth_images(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """uint8 (n, 3, size, size) colourful images: random 6x6 colour fields upsampled (so crops matter)."""
    g = gen(seed)
    low = torch.rand((n, 3, 6, 6), generator=g)
    img = F.interpolate(low, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)
    return (img * 255).round().to(torch.uint8)


@pytest.fixture(autouse=True)
def _one_thread():
    """Run these tests single-threaded: their tensors are small, and on a busy shared machine every
    hand-off inside a 2-thread pool can wait a whole scheduler slice, which made the file 10x slower.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def per_image(transform, images: torch.Tensor, views: int = 1) -> torch.Tensor:
    """Apply the per-image transform ``views`` times to every image (the test-side loop)."""
    return torch.stack([transform(img) for _ in range(views) for img in images])


def ks_statistic(a: torch.Tensor, b: torch.Tensor) -> float:
    """Two-sample Kolmogorov-Smirnov statistic sup |F_a - F_b|."""
    a, b = a.double().flatten().sort().values, b.double().flatten().sort().values
    grid = torch.cat((a, b))
    fa = torch.searchsorted(a, grid, right=True).double() / a.numel()
    fb = torch.searchsorted(b, grid, right=True).double() / b.numel()
    return float((fa - fb).abs().max())


def ks_threshold(n: int, m: int, alpha: float = 1e-4) -> float:
    """Asymptotic KS critical value c(alpha) * sqrt((n + m) / (n m)), c = sqrt(-ln(alpha / 2) / 2)."""
    return math.sqrt(-math.log(alpha / 2) / 2) * math.sqrt((n + m) / (n * m))


def binomial_ok(hits: int | float, n: int, p: float, z: float = 4.5) -> bool:
    return abs(hits / n - p) <= z * math.sqrt(p * (1 - p) / n) + 1e-12


# ----------------------------------------------------------------------------- shapes, devices


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_batched_output_shape_dtype(dtype: torch.dtype) -> None:
    x = smooth_images(5, 40)
    x = x if dtype == torch.uint8 else (x.to(dtype) / 255)
    y, params = SimCLRAugment(24)(x, generator=gen(), return_params=True)
    assert y.shape == (5, 3, 24, 24) and y.dtype == torch.float32 and y.is_contiguous()
    assert torch.isfinite(y).all()
    assert params["crop_box"].shape == (5, 4) and params["jitter_order"].shape == (5, 4)
    assert all(v.shape[0] == 5 for v in params.values())


def test_non_square_input_and_blur_on() -> None:
    x = torch.randint(0, 256, (3, 3, 50, 70), dtype=torch.uint8)
    aug = SimCLRAugment(64, blur_p=1.0)
    assert aug.config.blur and aug.config.blur_kernel == 7
    y, p = aug(x, generator=gen(), return_params=True)
    assert y.shape == (3, 3, 64, 64) and p["blur"].all()
    top, left, h, w = p["crop_box"].unbind(1)
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 50).all() and (left + w <= 70).all()


def test_per_image_transform_shape_dtype() -> None:
    t = simclr_transform(32)
    y = t(smooth_images(1, 40)[0])
    assert type(y) is torch.Tensor and y.shape == (3, 32, 32) and y.dtype == torch.float32


def test_input_is_not_modified() -> None:
    x = smooth_images(4).float() / 255
    before = x.clone()
    SimCLRAugment(32, blur=True, blur_p=1.0, noise_p=1.0, cutout_p=1.0)(x, generator=gen())
    assert torch.equal(x, before)


def test_eval_transform() -> None:
    x = smooth_images(4, 48)
    ev = EvalTransform(32, CIFAR10_MEAN, CIFAR10_STD)
    y = ev(x)
    ref = (TF.resize(x.float() / 255, [32, 32], antialias=True) - MEAN) / STD
    assert y.shape == (4, 3, 32, 32) and y.dtype == torch.float32
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(ev(x[0]), ref[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(EvalTransform(48)(x), (x.float() / 255 - MEAN) / STD)


# ----------------------------------------------------------------------------- each op alone


@pytest.mark.parametrize("size", [32, 24, 40])
def test_identity_when_all_ops_off(size: int) -> None:
    x = smooth_images(6, 32)
    expect = TF.resize(x.float() / 255, [size, size], antialias=True)
    y_b = unnormalise(SimCLRAugment(size, **ALL_OFF)(x))
    y_a = unnormalise(per_image(simclr_transform(size, **ALL_OFF), x))
    torch.testing.assert_close(y_b, expect, atol=2e-6, rtol=0)
    torch.testing.assert_close(y_a, expect, atol=2e-6, rtol=0)
    if size == 32:
        torch.testing.assert_close(y_b, x.float() / 255, atol=2e-6, rtol=0)


def test_flip_mirrors_exactly() -> None:
    x = smooth_images(64)
    base = unnormalise(SimCLRAugment(32, **ALL_OFF)(x))
    off = {**ALL_OFF, "flip_p": 0.5}
    y, p = SimCLRAugment(32, **off)(x, generator=gen(1), return_params=True)
    y = unnormalise(y)
    torch.testing.assert_close(y[p["flip"]], base[p["flip"]].flip(-1), atol=1e-6, rtol=0)
    torch.testing.assert_close(y[~p["flip"]], base[~p["flip"]], atol=1e-6, rtol=0)
    assert 0 < int(p["flip"].sum()) < 64
    # per image: every output is the image or its mirror
    ya = unnormalise(per_image(simclr_transform(32, **off), x))
    same = (ya - base).abs().flatten(1).amax(1) < 1e-6
    mirrored = (ya - base.flip(-1)).abs().flatten(1).amax(1) < 1e-6
    assert (same ^ mirrored).all()


def test_grayscale_uses_itu_r_601_2_luma() -> None:
    x = smooth_images(8)
    off = {**ALL_OFF, "grayscale_p": 1.0}
    y_b = unnormalise(SimCLRAugment(32, **off)(x))
    y_a = unnormalise(per_image(simclr_transform(32, **off), x))
    xf = x.float() / 255
    luma = 0.2989 * xf[:, 0] + 0.587 * xf[:, 1] + 0.114 * xf[:, 2]
    for y in (y_b, y_a):
        torch.testing.assert_close(y[:, 0], y[:, 1], atol=1e-6, rtol=0)
        torch.testing.assert_close(y[:, 1], y[:, 2], atol=1e-6, rtol=0)
        torch.testing.assert_close(y[:, 0], luma, atol=1e-6, rtol=0)
        torch.testing.assert_close(y, TF.rgb_to_grayscale(xf, num_output_channels=3), atol=1e-6, rtol=0)


def test_brightness_multiplies_and_clamps() -> None:
    x = smooth_images(6).float() / 255
    b = torch.tensor([0.0, 0.5, 1.0, 1.3, 2.0, 0.6])
    y = adjust_brightness(x, b)
    torch.testing.assert_close(y, (x * b.view(-1, 1, 1, 1)).clamp(0, 1))
    assert y[4].max() == 1.0 and y[0].max() == 0.0


def test_single_jitter_ops_match_torchvision() -> None:
    x = smooth_images(6).float() / 255
    f = torch.tensor([0.0, 0.3, 0.9, 1.0, 1.4, 2.0])
    h = torch.tensor([-0.5, -0.2, -0.05, 0.0, 0.1, 0.45])
    for i in range(6):
        torch.testing.assert_close(
            adjust_contrast(x, f)[i], TF.adjust_contrast(x[i], float(f[i])), atol=1e-6, rtol=0
        )
        torch.testing.assert_close(
            adjust_saturation(x, f)[i], TF.adjust_saturation(x[i], float(f[i])), atol=1e-6, rtol=0
        )
        torch.testing.assert_close(adjust_hue(x, h)[i], TF.adjust_hue(x[i], float(h[i])), atol=2e-5, rtol=0)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_hsv_round_trip(seed: int) -> None:
    x = torch.rand((2, 3, 5, 7), generator=gen(seed))
    x[0, :, 0, 0] = 0.5  # a gray pixel (no hue)
    x[1, :, 1, 1] = torch.tensor([0.7, 0.7, 0.2])  # a tie between R and G
    hsv = rgb_to_hsv(x)
    assert hsv.min() >= 0 and hsv[:, 0].max() < 1 and hsv[:, 1:].max() <= 1
    torch.testing.assert_close(hsv_to_rgb(hsv), x, atol=1e-5, rtol=0)
    tv_rgb_to_hsv = getattr(getattr(TF, "_color", None), "_rgb_to_hsv", None)  # private: may move
    if tv_rgb_to_hsv is not None:
        torch.testing.assert_close(hsv, tv_rgb_to_hsv(x), atol=1e-5, rtol=0)


def test_color_jitter_stages_match_torchvision_chain() -> None:
    """Each sample's own factors in its own order equal torchvision's ops applied one by one."""
    n = 24
    x = smooth_images(n).float() / 255
    g = gen(3)
    factors = torch.stack(
        (
            0.6 + 0.8 * torch.rand(n, generator=g),
            0.6 + 0.8 * torch.rand(n, generator=g),
            0.6 + 0.8 * torch.rand(n, generator=g),
            -0.1 + 0.2 * torch.rand(n, generator=g),
        ),
        dim=1,
    )
    order = torch.rand((n, 4), generator=g).argsort(1)
    apply = torch.rand(n, generator=g) < 0.8
    y = color_jitter(x.clone(), factors, order, apply)
    ops = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation, TF.adjust_hue)
    for i in range(n):
        ref = x[i]
        if apply[i]:
            for op in order[i].tolist():
                ref = ops[op](ref, float(factors[i, op]))
        torch.testing.assert_close(y[i], ref, atol=3e-5, rtol=0)
    assert torch.equal(y[~apply], x[~apply])


def test_blur_matches_torchvision_and_preserves_constant() -> None:
    x = smooth_images(5, 64).float() / 255
    sigma = torch.tensor([0.1, 0.5, 1.0, 1.5, 2.0])
    y = gaussian_blur(x, sigma, 7)
    for i in range(5):
        ref = TF.gaussian_blur(x[i], [7, 7], [float(sigma[i])] * 2)
        torch.testing.assert_close(y[i], ref, atol=1e-5, rtol=0)
    const = torch.full((5, 3, 64, 64), 0.37)
    torch.testing.assert_close(gaussian_blur(const, sigma, 7), const, atol=1e-6, rtol=0)
    # the whole recipe with blur only, on a constant image, keeps the image's mean
    c8 = torch.full((4, 3, 64, 64), 93, dtype=torch.uint8)
    off = {**ALL_OFF, "blur": True, "blur_p": 1.0}
    for y in (SimCLRAugment(64, **off)(c8), per_image(simclr_transform(64, **off), c8)):
        torch.testing.assert_close(unnormalise(y), torch.full_like(y, 93 / 255), atol=1e-5, rtol=0)


def test_blur_kernel_size_and_auto() -> None:
    assert [default_blur_kernel(s) for s in (8, 32, 64, 96, 224)] == [3, 3, 7, 9, 23]
    assert not AugmentConfig.create(32).blur and AugmentConfig.create(64).blur
    assert AugmentConfig.create(32, blur=True).blur and not AugmentConfig.create(96, blur=False).blur


def test_config_ranges() -> None:
    c = AugmentConfig.create(32)
    assert c.crop_scale == (0.2, 1.0) and AugmentConfig.create(64).crop_scale == (0.08, 1.0)
    assert AugmentConfig.create(64, crop_scale=(0.3, 0.9)).crop_scale == (0.3, 0.9)
    assert c.brightness == pytest.approx((0.6, 1.4)) and c.hue == pytest.approx((-0.1, 0.1))
    strong = AugmentConfig.create(32, strength=10.0)
    assert strong.brightness == (0.0, 5.0) and strong.hue == (-0.5, 0.5)
    assert AugmentConfig.create(32, strength=0.0).saturation == (1.0, 1.0)


@pytest.mark.parametrize(("in_size", "out_size"), [(32, 32), (32, 48), (96, 32), (40, 64)])
def test_crop_resize_flip_matches_torchvision(in_size: int, out_size: int) -> None:
    x = smooth_images(16, in_size)
    g = gen(5)
    scale = (0.08, 1.0)
    u = torch.rand((16, 22), generator=g)
    boxes = sample_crop_boxes(u[:, :10], u[:, 10:20], u[:, 20:], in_size, in_size, scale, (3 / 4, 4 / 3))
    flip = torch.rand(16, generator=g) < 0.5
    y = crop_resize_flip(x, boxes, out_size, flip)
    for i in range(16):
        t, l, h, w = boxes[i].tolist()
        ref = TF.resized_crop(x[i].float() / 255, t, l, h, w, [out_size, out_size], antialias=True)
        ref = ref.flip(-1) if flip[i] else ref
        torch.testing.assert_close(y[i], ref, atol=2e-6, rtol=0)


def test_crop_fallback_is_torchvisions_central_box() -> None:
    # a 10 x 100 image with 90-100 % crops: every attempt is too tall, so torchvision falls back
    u = torch.rand((8, 22), generator=gen())
    boxes = sample_crop_boxes(u[:, :10], u[:, 10:20], u[:, 20:], 10, 100, (0.9, 1.0), (3 / 4, 4 / 3))
    ref = T1.RandomResizedCrop.get_params(torch.zeros(3, 10, 100), [0.9, 1.0], [3 / 4, 4 / 3])
    assert ref == (0, 43, 10, 13)
    assert (boxes == torch.tensor(ref)).all()


def test_rotation_matches_torchvision() -> None:
    x = smooth_images(4).float() / 255
    angles = torch.tensor([90.0, -90.0, 30.0, -12.0])
    y = rotate(x, angles)
    for i in range(4):
        ref = TF.rotate(x[i], float(angles[i]), interpolation=TF.InterpolationMode.BILINEAR)
        if abs(angles[i]) == 90:
            torch.testing.assert_close(y[i], ref, atol=1e-5, rtol=0)
        else:  # edges differ in how the zero fill is blended; compare the inner disc
            yy, xx = torch.meshgrid(torch.arange(32) - 15.5, torch.arange(32) - 15.5, indexing="ij")
            inner = (yy**2 + xx**2) < 13**2
            torch.testing.assert_close(y[i][:, inner], ref[:, inner], atol=1e-4, rtol=0)


def test_cutout_and_noise() -> None:
    x = torch.full((64, 3, 32, 32), 128, dtype=torch.uint8)
    off = {**ALL_OFF, "cutout_p": 1.0, "cutout_size": 0.25}
    y, p = SimCLRAugment(32, **off)(x, generator=gen(), return_params=True)
    zero = (y == 0).all(1)  # (B, S, S)
    cy, cx = p["cutout_center"].unbind(1)
    rows = (torch.arange(32) >= (cy - 4).view(-1, 1)) & (torch.arange(32) < (cy + 4).view(-1, 1))
    cols = (torch.arange(32) >= (cx - 4).view(-1, 1)) & (torch.arange(32) < (cx + 4).view(-1, 1))
    assert torch.equal(zero, rows[:, :, None] & cols[:, None, :])
    interior = ((cy >= 4) & (cy < 28) & (cx >= 4) & (cx < 28)).nonzero().squeeze(1)
    assert (zero[interior].sum((1, 2)) == 64).all()
    ya = per_image(simclr_transform(32, **off), x[:32])
    za = (ya == 0).all(1).sum((1, 2))
    assert (za <= 64).all() and (za > 0).all()

    off = {**ALL_OFF, "noise_p": 1.0, "noise_sigma": 0.05}
    for y in (SimCLRAugment(32, **off)(x, generator=gen()), per_image(simclr_transform(32, **off), x[:16])):
        d = unnormalise(y) - 128 / 255
        assert abs(float(d.std()) - 0.05) < 0.003 and abs(float(d.mean())) < 0.003


# ----------------------------------------------------------------------------- per-sample draws


def test_every_image_draws_its_own_parameters() -> None:
    x = smooth_images(1).expand(16, -1, -1, -1)
    y, p = SimCLRAugment(32)(x, generator=gen(), return_params=True)
    flat = y.flatten(1)
    assert (torch.cdist(flat, flat) + torch.eye(16) * 1e9).min() > 1e-3  # 16 different views
    assert p["crop_box"].unique(dim=0).shape[0] > 12
    assert p["brightness"].unique().numel() == 16
    assert p["jitter_order"].unique(dim=0).shape[0] > 8


def test_same_seed_reproduces_exactly() -> None:
    x = smooth_images(8)
    aug = SimCLRAugment(32, blur=True, blur_p=0.5, rotation_p=0.5, noise_p=0.5, cutout_p=0.5)
    y1, p1 = aug(x, generator=gen(42), return_params=True)
    y2, p2 = aug(x, generator=gen(42), return_params=True)
    assert torch.equal(y1, y2) and all(torch.equal(p1[k], p2[k]) for k in p1)
    assert not torch.equal(y1, aug(x, generator=gen(43)))
    torch.manual_seed(7)
    y3 = aug(x)
    torch.manual_seed(7)
    assert torch.equal(y3, aug(x))


def test_output_stays_in_range_for_extreme_strength() -> None:
    x = smooth_images(32)
    y = unnormalise(SimCLRAugment(32, strength=5.0, jitter_p=1.0)(x, generator=gen()))
    assert torch.isfinite(y).all() and y.min() >= -1e-5 and y.max() <= 1 + 1e-5


# ----------------------------------------------------------------------------- (a) vs (b) statistics


def test_crop_distribution_matches_torchvision_sampler() -> None:
    n = 4000
    p = sample_params(n, 32, 32, AugmentConfig.create(32), gen(11))
    _, _, h, w = p["crop_box"].double().unbind(1)
    ref = torch.tensor(
        [
            T1.RandomResizedCrop.get_params(torch.empty(3, 32, 32), [0.2, 1.0], [3 / 4, 4 / 3])
            for _ in range(n)
        ],
        dtype=torch.float64,
    )
    rh, rw = ref[:, 2], ref[:, 3]
    thr = ks_threshold(n, n)  # about 0.097 at alpha = 1e-4 for n = 4000
    assert ks_statistic(h * w / 1024, rh * rw / 1024) < thr
    assert ks_statistic(w / h, rw / rh) < thr
    assert ks_statistic(ref[:, 0], p["crop_box"][:, 0]) < thr  # top offsets
    area = h * w / 1024
    assert area.min() >= 0.18 and area.max() <= 1.0 and 0.55 < float(area.mean()) < 0.65


def test_batched_probabilities() -> None:
    n = 20000
    p = sample_params(n, 64, 64, AugmentConfig.create(64), gen(12))
    assert binomial_ok(p["flip"].sum(), n, 0.5)
    assert binomial_ok(p["jitter"].sum(), n, 0.8)
    assert binomial_ok(p["grayscale"].sum(), n, 0.2)
    assert binomial_ok(p["blur"].sum(), n, 0.5)
    # the composition-study extras are drawn but off by default (probability 0)
    assert not (p["rotate"].any() or p["noise"].any() or p["cutout"].any())
    # brightness ~ U(0.6, 1.4), hue ~ U(-0.1, 0.1), blur sigma ~ U(0.1, 2)
    thr = ks_threshold(n, n)
    ref = torch.rand(n, generator=gen(13))
    assert ks_statistic(p["brightness"], 0.6 + 0.8 * ref) < thr
    assert ks_statistic(p["hue"], -0.1 + 0.2 * ref) < thr
    assert ks_statistic(p["blur_sigma"], 0.1 + 1.9 * ref) < thr
    # every permutation of the 4 jitter ops about equally often
    counts = torch.unique(p["jitter_order"], dim=0, return_counts=True)[1]
    assert (
        counts.numel() == 24 and binomial_ok(counts.min(), n, 1 / 24) and binomial_ok(counts.max(), n, 1 / 24)
    )


def test_per_image_probabilities_and_brightness_distribution() -> None:
    n = 800
    gray = torch.full((1, 3, 16, 16), 128, dtype=torch.uint8).expand(n, -1, -1, -1)
    # jitter only, on a gray image: contrast, saturation, hue leave gray alone, so out = b * in
    jit = {**ALL_OFF, "jitter_p": 0.8}
    ya = unnormalise(per_image(simclr_transform(16, **jit), gray))[:, 0, 0, 0]
    yb, pb = SimCLRAugment(16, **jit)(gray, generator=gen(14), return_params=True)
    yb = unnormalise(yb)[:, 0, 0, 0]
    changed_a = (ya - 128 / 255).abs() > 1e-6
    assert binomial_ok(changed_a.sum(), n, 0.8) and binomial_ok(pb["jitter"].sum(), n, 0.8)
    b_a = ya[changed_a] / (128 / 255)
    b_b = yb[pb["jitter"]] / (128 / 255)
    torch.testing.assert_close(b_b, pb["brightness"][pb["jitter"]], atol=2e-4, rtol=0)
    assert b_a.min() >= 0.6 - 1e-3 and b_a.max() <= 1.4 + 1e-3
    assert ks_statistic(b_a, b_b) < ks_threshold(b_a.numel(), b_b.numel())

    # grayscale only on colourful images: fraction with equal channels
    x = smooth_images(n // 4).repeat(4, 1, 1, 1)
    ya = per_image(simclr_transform(32, **{**ALL_OFF, "grayscale_p": 0.2}), x)
    is_gray = (ya[:, 0] * STD[0] + MEAN[0] - (ya[:, 1] * STD[1] + MEAN[1])).abs().amax((1, 2)) < 1e-5
    assert binomial_ok(is_gray.sum(), n, 0.2)

    # flip only
    base = unnormalise(SimCLRAugment(32, **ALL_OFF)(x))
    ya = unnormalise(per_image(simclr_transform(32, **{**ALL_OFF, "flip_p": 0.5}), x))
    flipped = (ya - base.flip(-1)).abs().flatten(1).amax(1) < 1e-6
    assert binomial_ok(flipped.sum(), n, 0.5)


def _compare_view_statistics(images: torch.Tensor, views: int, **kw) -> None:
    """Per-image per-channel mean and std of views from (a) and (b) must have the same distribution."""
    ya = per_image(simclr_transform(32, **kw), images, views)
    yb = torch.cat([SimCLRAugment(32, **kw)(images, generator=gen(100 + v)) for v in range(views)])
    n = ya.shape[0]
    thr = ks_threshold(n, n)  # about 0.13 for n = 600 (alpha = 1e-4)
    for c in range(3):
        assert ks_statistic(ya[:, c].mean((1, 2)), yb[:, c].mean((1, 2))) < thr
        assert ks_statistic(ya[:, c].std((1, 2)), yb[:, c].std((1, 2))) < thr
    # pooled moments: the per-view mean varies with sd ~0.45 and views of one image are correlated,
    # so 0.15 is several standard errors for ~100 images
    assert abs(float(ya.mean() - yb.mean())) < 0.15 and abs(float(ya.std() / yb.std() - 1)) < 0.05


def test_view_statistics_match_between_implementations() -> None:
    _compare_view_statistics(smooth_images(100, seed=21), views=6)
    _compare_view_statistics(smooth_images(60, 40, seed=22), views=5, rotation_p=0.5, blur=True, noise_p=0.3)


def test_view_statistics_match_on_cifar(cifar_subset_path: Path) -> None:
    images = (
        torch.from_numpy(np.load(cifar_subset_path)["train_images"][:120]).permute(0, 3, 1, 2).contiguous()
    )
    _compare_view_statistics(images, views=5)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs",
    [
        {"image_size": 0},
        {"image_size": 32.0},
        {"image_size": True},
        {"crop_scale": (0.0, 1.0)},
        {"crop_scale": (0.5, 0.2)},
        {"crop_scale": (0.1, 1.5)},
        {"crop_scale": 0.5},
        {"flip_p": 1.5},
        {"jitter_p": -0.1},
        {"grayscale_p": float("nan")},
        {"blur_p": "half"},
        {"strength": -1.0},
        {"strength": float("inf")},
        {"mean": (0.5, 0.5)},
        {"std": (0.2, 0.0, 0.2)},
        {"blur": "yes"},
        {"crop": None},
        {"rotation_degrees": 200},
        {"cutout_size": 0.0},
        {"noise_sigma": -0.1},
    ],
)
def test_bad_arguments_raise(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        SimCLRAugment(**kwargs)
    with pytest.raises(ValueError):
        simclr_transform(**kwargs)


@pytest.mark.parametrize(
    "x",
    [
        torch.zeros(3, 32, 32, dtype=torch.uint8),
        torch.zeros(2, 1, 32, 32, dtype=torch.uint8),
        torch.zeros(2, 32, 32, 3, dtype=torch.uint8),
        torch.zeros(0, 3, 32, 32, dtype=torch.uint8),
        torch.zeros(2, 3, 32, 32, dtype=torch.int32),
        np.zeros((2, 3, 32, 32), dtype=np.uint8),
    ],
)
def test_bad_batch_raises(x) -> None:
    with pytest.raises(ValueError):
        SimCLRAugment(32)(x)
    with pytest.raises(ValueError):
        EvalTransform(32)(x if not isinstance(x, torch.Tensor) or x.dim() != 3 else x[:1])


@pytest.mark.parametrize(
    "x",
    [torch.zeros(1, 3, 32, 32, dtype=torch.uint8), torch.zeros(1, 32, 32, dtype=torch.uint8), "image"],
)
def test_per_image_bad_input_raises(x) -> None:
    with pytest.raises(ValueError):
        simclr_transform(32)(x)


def test_eval_transform_bad_arguments() -> None:
    with pytest.raises(ValueError):
        EvalTransform(4)
    with pytest.raises(ValueError):
        EvalTransform(32, mean=(0.5,), std=(0.2, 0.2, 0.2))


# ----------------------------------------------------------------------------- CUDA


@pytest.mark.gpu
@requires_cuda
def test_cuda_matches_cpu() -> None:
    x = smooth_images(64, 48)
    aug = SimCLRAugment(32, blur=True, rotation_p=0.5, cutout_p=0.5)
    y_cpu, p_cpu = aug(x, generator=gen(5), return_params=True)
    y_gpu, p_gpu = aug.cuda()(x.cuda(), generator=gen(5), return_params=True)
    assert y_gpu.device.type == "cuda" and all(v.device.type == "cuda" for v in p_gpu.values())
    assert all(torch.equal(p_cpu[k], p_gpu[k].cpu()) for k in p_cpu)
    torch.testing.assert_close(y_gpu.cpu(), y_cpu, atol=1e-4, rtol=0)
    # a CUDA generator draws on the device; noise too
    g = torch.Generator(device="cuda").manual_seed(0)
    y1 = SimCLRAugment(32, noise_p=1.0)(x.cuda(), generator=g)
    g.manual_seed(0)
    assert torch.equal(y1, SimCLRAugment(32, noise_p=1.0)(x.cuda(), generator=g))
    ev = EvalTransform(32)
    torch.testing.assert_close(ev(x.cuda()).cpu(), ev(x), atol=1e-5, rtol=0)

"""Tests of cssl_edu.data: ImageDataset, the Shapes generator and renderer, views and loaders."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cssl_edu.data import (
    BACKGROUNDS,
    SCENES,
    SHAPE_CLASSES,
    SHAPE_SDFS,
    DeviceLoader,
    ImageDataset,
    MultiViewDataset,
    bias_subsets,
    hue_band_aligned,
    make_shapes,
    render_shapes,
    rerender,
    sample_shape_factors,
)

C = len(SHAPE_CLASSES)


@pytest.fixture(scope="module")
def shapes_all() -> ImageDataset:
    """600 train images over all three backgrounds (module-scoped: generated once)."""
    return make_shapes(600, seed=3, backgrounds=BACKGROUNDS)


def _plain(labels, **kw):
    """Render on a uniform black background so the object mask is simply `pixel != 0`."""
    defaults = {"hue": 0.0, "scale": 0.35, "rotation": 0.0, "x": 0.5, "y": 0.5, "bg_value": 0.0}
    return render_shapes(torch.as_tensor(labels), **(defaults | kw))


def _mask(images: torch.Tensor) -> torch.Tensor:
    return images.amax(dim=1) > 0  # (N, H, W), object pixels (black background)


# ---------------------------------------------------------------------------- ImageDataset
def _tiny(n: int = 6) -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, 4, 5), dtype=torch.uint8, generator=g)
    return ImageDataset(images, torch.arange(n) % 3, ["a", "b", "c"], {"f": torch.arange(n).float()}, "tiny")


def test_dataset_item_len_and_stats():
    ds = _tiny()
    assert len(ds) == 6
    image, label = ds[4]
    assert image.shape == (3, 4, 5) and image.dtype == torch.uint8 and label == 1 and isinstance(label, int)
    x = ds.images.double() / 255
    np.testing.assert_allclose(ds.mean, x.mean(dim=(0, 2, 3)).numpy(), atol=1e-12)
    np.testing.assert_allclose(ds.std, x.std(dim=(0, 2, 3), unbiased=False).numpy(), atol=1e-12)
    assert isinstance(ds.mean, tuple) and len(ds.std) == 3
    assert ds.image_size == 4


def test_dataset_subset_and_to():
    ds = _tiny()
    sub = ds.subset([5, 0])
    assert torch.equal(sub.images, ds.images[[5, 0]])
    assert sub.labels.tolist() == [2, 0] and sub.factors["f"].tolist() == [5.0, 0.0]
    masked = ds.subset(ds.labels == 1)
    assert masked.labels.tolist() == [1, 1]
    assert len(ds.subset(slice(1, 4))) == 3
    assert ds.to("cpu") is ds
    assert ds.class_counts() == {"a": 2, "b": 2, "c": 2}
    with pytest.raises(ValueError, match="out of range"):
        ds.subset([6])
    with pytest.raises(ValueError, match="boolean mask"):
        ds.subset(torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="integers"):
        ds.subset(torch.tensor([0.5]))


def test_dataset_unlabeled_labels_are_allowed():
    ds = ImageDataset(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), torch.tensor([-1, -1]), [])
    assert ds[0][1] == -1
    assert ds.class_counts() == {"unlabeled": 2}


@pytest.mark.parametrize(
    ("images", "labels", "classes", "factors", "match"),
    [
        (torch.zeros(2, 3, 4, 4), torch.zeros(2, dtype=torch.long), ["a"], None, "uint8"),
        (
            torch.zeros(2, 4, 4, 3, dtype=torch.uint8),
            torch.zeros(2, dtype=torch.long),
            ["a"],
            None,
            r"\(N, 3, H, W\)",
        ),
        (
            torch.zeros(2, 3, 4, 4, dtype=torch.uint8),
            torch.zeros(3, dtype=torch.long),
            ["a"],
            None,
            "2 images but 3 labels",
        ),
        (torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.zeros(2, dtype=torch.int32), ["a"], None, "int64"),
        (torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.tensor([0, 1]), ["a"], None, "no class name"),
        (torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.tensor([0, -2]), ["a"], None, ">= -1"),
        (torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.tensor([0, 0]), "a", None, "list of class-name"),
        (
            torch.zeros(2, 3, 4, 4, dtype=torch.uint8),
            torch.tensor([0, 0]),
            ["a"],
            {"hue": torch.zeros(3)},
            "factor 'hue'",
        ),
    ],
)
def test_dataset_validation(images, labels, classes, factors, match):
    with pytest.raises(ValueError, match=match):
        ImageDataset(images, labels, classes, factors)


def test_empty_dataset_has_no_mean():
    ds = ImageDataset(torch.zeros(0, 3, 4, 4, dtype=torch.uint8), torch.zeros(0, dtype=torch.long), [])
    with pytest.raises(ValueError, match="empty"):
        _ = ds.mean


# ---------------------------------------------------------------------------- Shapes: basics
def test_shapes_types_shapes_and_factor_ranges(shapes_all):
    ds = shapes_all
    n = len(ds)
    assert ds.images.shape == (n, 3, 32, 32) and ds.images.dtype == torch.uint8
    assert ds.labels.dtype == torch.int64 and ds.classes == list(SHAPE_CLASSES) and ds.name == "shapes"
    assert torch.bincount(ds.labels).tolist() == [n // C] * C  # balanced
    f = ds.factors
    for key in ("hue", "saturation", "value", "scale", "rotation", "x", "y", "background", "bias_aligned"):
        assert f[key].shape == (n,), key
    assert f["clutter_box"].shape[:1] == (n,) and f["clutter_box"].shape[2] == 4
    assert ((f["hue"] >= 0) & (f["hue"] < 1)).all()
    lo, hi = SCENES["object"]["scale_range"]
    assert ((f["scale"] >= lo) & (f["scale"] <= hi)).all()
    lo, hi = SCENES["object"]["position_range"]
    assert ((f["x"] >= lo) & (f["x"] <= hi)).all() and ((f["y"] >= lo) & (f["y"] <= hi)).all()
    assert ((f["rotation"] >= 0) & (f["rotation"] <= 2 * math.pi)).all()
    assert set(f["background"].tolist()) == {0, 1, 2}
    # distractors only on cluttered images, 3 or more each
    visible = f["clutter_visible"].sum(1)
    assert (visible[f["background"] != 2] == 0).all() and (visible[f["background"] == 2] >= 3).all()


def test_shapes_default_backgrounds_follow_the_scene():
    assert set(make_shapes(120, scene="object").factors["background"].tolist()) == {0, 1}
    assert set(make_shapes(60, scene="scene").factors["background"].tolist()) == {2}
    assert set(make_shapes(60, backgrounds=("textured",)).factors["background"].tolist()) == {1}


def test_shapes_are_deterministic_and_splits_differ():
    a = make_shapes(64, seed=5)
    b = make_shapes(64, seed=5)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert all(torch.equal(a.factors[k], b.factors[k]) for k in a.factors)
    other_seed = make_shapes(64, seed=6)
    test = make_shapes(64, seed=5, split="test")
    assert not torch.equal(a.factors["hue"], other_seed.factors["hue"])
    assert not torch.equal(a.factors["hue"], test.factors["hue"])
    assert (a.images != test.images).flatten(1).any(1).all()  # every image differs


def test_each_class_draws_a_different_shape():
    masks = _mask(_plain(torch.arange(len(SHAPE_SDFS)), classes=list(SHAPE_SDFS))).float()
    areas = masks.sum((1, 2))
    assert (areas > 0.08 * 32 * 32).all() and areas.max() / areas.min() < 2.5  # comparable sizes
    inter = masks.flatten(1) @ masks.flatten(1).T
    iou = inter / (areas[:, None] + areas[None, :] - inter)
    off_diagonal = iou[~torch.eye(len(SHAPE_SDFS), dtype=torch.bool)]
    assert off_diagonal.max() < 0.95, iou  # hexagon vs circle is the closest pair (an opt-in class)
    assert iou[:C, :C][~torch.eye(C, dtype=torch.bool)].max() < 0.9, iou  # the default classes
    # in a generated dataset, the label decides the shape: with the pose held fixed, every
    # image of a class has the same mask and different classes have different masks
    ds = make_shapes(120, seed=1, backgrounds=("plain", "textured"))
    pose = {"rotation": 0.0, "scale": 0.3, "x": 0.5, "y": 0.5, "background": 0, "bg_value": 0.0}
    fixed = _mask(rerender(ds, **pose, hue=0.0, saturation=1.0, value=1.0))
    for c in range(C):
        assert (fixed[ds.labels == c] == fixed[ds.labels == c][0]).all()
    per_class = torch.stack([fixed[ds.labels == c][0] for c in range(C)]).flatten(1).float()
    assert torch.cdist(per_class, per_class, p=1)[~torch.eye(C, dtype=torch.bool)].min() > 20


def test_renderer_geometry_position_size_colour():
    # a disc of radius 0.85 * scale * S at (x, y), in pure red
    img = _plain([0], hue=0.0, saturation=1.0, value=1.0, scale=0.25, x=0.3, y=0.7, classes=["circle"])
    m = _mask(img)[0].float()
    ys, xs = torch.meshgrid(torch.arange(32.0) + 0.5, torch.arange(32.0) + 0.5, indexing="ij")
    cov = img[0, 0].float() / 255  # red channel = coverage on black
    assert abs(float((cov * xs).sum() / cov.sum()) - 0.3 * 32) < 0.1
    assert abs(float((cov * ys).sum() / cov.sum()) - 0.7 * 32) < 0.1
    assert abs(float(cov.sum()) - math.pi * (0.85 * 0.25 * 32) ** 2) < 2.0  # area, anti-aliased
    assert img[0, :, 22, 10].tolist() == [255, 0, 0]
    assert m.sum() > 0 and img[0, 1:].max() == 0  # no green/blue anywhere


def test_rotation_leaves_circles_and_rings_alone_but_turns_squares():
    labels = torch.tensor([0, 5, 1])  # circle, ring, square
    a = _plain(labels, rotation=0.0)
    b = _plain(labels, rotation=0.6)
    diff = (a.int() - b.int()).abs().flatten(1).amax(1)
    assert diff[0] <= 1 and diff[1] <= 1 and diff[2] > 100


def test_clutter_draws_each_distractor_where_its_box_is():
    args = ([0, 1], 0.1, 0.3, 0.0, 0.5, 0.5)
    plain = render_shapes(*args, background=0)
    assert torch.equal(render_shapes(*args, background=2, clutter_box=torch.zeros(2, 0, 4)), plain)
    box = torch.tensor([[[0.1, 0.1, 0.05, 0.05]], [[0.8, 0.2, 0.1, 0.03]]])  # (N=2, K=1, 4)
    red = torch.tensor([[[1.0, 0.0, 0.0]]]).expand(2, 1, 3)
    cluttered = render_shapes(*args, background=2, clutter_box=box, clutter_color=red, clutter_round=0.0)
    changed = (cluttered != plain).any(1)  # (N, H, W)
    # box 0: centre 3.2 px, half-size 1.6 px -> covers [1.6, 4.8]: pixel centres 1.5 ... 4.5
    assert changed[0, 1:5, 1:5].all() and changed[0].sum() == 16
    # box 1: x in [22.4, 28.8] -> columns 22..28; y in [5.44, 7.36] -> rows 5..7
    assert changed[1, 5:8, 22:29].all() and changed[1].sum() == 21
    assert cluttered[0, :, 3, 3].tolist() == [255, 0, 0]
    hidden = render_shapes(*args, background=2, clutter_box=box, clutter_visible=False)
    assert torch.equal(hidden, plain)


def test_explicit_rendering_reproduces_make_shapes(shapes_all):
    ds = shapes_all
    again = render_shapes(ds.labels, **ds.factors, image_size=32, classes=ds.classes)
    assert torch.equal(again, ds.images)
    part = ds.subset(torch.arange(0, 600, 7))
    assert (render_shapes(part.labels, **part.factors).int() - part.images.int()).abs().max() <= 1
    assert torch.equal(rerender(ds), ds.images)


def test_rerender_sweeps_one_factor_holding_the_others(shapes_all):
    ds = shapes_all.subset(shapes_all.factors["background"] == 0)
    moved = rerender(ds, x=0.45)
    assert not torch.equal(moved, ds.images)
    same_x = rerender(ds, x=ds.factors["x"])
    assert torch.equal(same_x, ds.images)
    # changing the label keeps the pose and colours but draws another shape
    as_stars = rerender(ds, labels=torch.full_like(ds.labels, 3))
    star_idx = (ds.labels == 3).nonzero().squeeze(1)
    other_idx = (ds.labels != 3).nonzero().squeeze(1)
    assert torch.equal(as_stars[star_idx], ds.images[star_idx])
    assert (as_stars[other_idx] != ds.images[other_idx]).flatten(1).any(1).all()
    with pytest.raises(ValueError, match="Shapes dataset"):
        rerender(ImageDataset(ds.images, ds.labels, ds.classes))


def test_64px_draws_the_same_picture_at_twice_the_resolution():
    small = make_shapes(24, image_size=32, seed=2)
    big = make_shapes(24, image_size=64, seed=2)
    assert big.images.shape == (24, 3, 64, 64)
    assert torch.equal(small.labels, big.labels)
    down = torch.nn.functional.avg_pool2d(big.images.float(), 2)
    assert (down - small.images.float()).abs().mean() < 4.0  # same scene, up to sampling


def test_scene_switch_makes_objects_small_and_anywhere():
    obj = make_shapes(300, scene="object", seed=4)
    scn = make_shapes(300, scene="scene", seed=4)
    assert scn.factors["scale"].max() < obj.factors["scale"].min()
    assert scn.factors["x"].std() > 2 * obj.factors["x"].std()
    # the object covers a smaller part of the image: measure it on a black background
    area = {}
    for name, ds in (("object", obj), ("scene", scn)):
        bare = rerender(ds, background=0, bg_value=0.0)
        area[name] = _mask(bare).float().mean()
    assert area["scene"] < 0.4 * area["object"]
    custom = make_shapes(50, scale_range=(0.2, 0.2), position_range=(0.5, 0.5), rotation_range=(0.0, 0.0))
    assert (custom.factors["scale"] == 0.2).all() and (custom.factors["x"] == 0.5).all()
    assert (custom.factors["rotation"] == 0).all()


# ---------------------------------------------------------------------------- the bias knob
def test_hue_band_membership():
    labels = torch.tensor([0, 0, 2, 2, 2])
    hue = torch.tensor([0.99, 0.5, 2 / 6, 2 / 6 + 0.09, 2 / 6 - 0.09])
    assert hue_band_aligned(hue, labels, 6).tolist() == [True, False, True, False, False]


@pytest.mark.parametrize("p", [0.0, 0.5, 0.9])
def test_bias_fraction_in_train_and_uniform_test(p):
    n = 6000
    labels, train = sample_shape_factors(n, bias=p, split="train", generator=torch.Generator().manual_seed(1))
    expected = p + (1 - p) / C
    assert abs(train["bias_aligned"].float().mean().item() - expected) < 0.025
    assert torch.equal(train["bias_aligned"], hue_band_aligned(train["hue"], labels, C))
    _, test = sample_shape_factors(n, bias=p, split="test", generator=torch.Generator().manual_seed(2))
    assert abs(test["bias_aligned"].float().mean().item() - 1 / C) < 0.025
    counts = torch.histc(test["hue"], bins=6, min=0, max=1)  # uniform hue
    assert (counts / n - 1 / 6).abs().max() < 0.03


def test_bias_changes_hue_only():
    a = make_shapes(200, bias=0.0, seed=7)
    b = make_shapes(200, bias=1.0, seed=7)
    assert torch.equal(a.labels, b.labels)
    for key in ("scale", "rotation", "x", "y", "background", "bg_hue", "clutter_box"):
        assert torch.equal(a.factors[key], b.factors[key]), key
    assert b.factors["bias_aligned"].all() and not torch.equal(a.factors["hue"], b.factors["hue"])


def test_bias_subsets_partition_the_test_split():
    test = make_shapes(600, split="test", bias=1.0, seed=0)
    aligned, conflicting = bias_subsets(test)
    assert len(aligned) + len(conflicting) == 600
    assert set(aligned.tolist()).isdisjoint(conflicting.tolist())
    assert test.factors["bias_aligned"][aligned].all() and not test.factors["bias_aligned"][conflicting].any()
    assert 60 < len(aligned) < 140  # about 1/6: the test split ignores the bias
    with pytest.raises(ValueError, match="bias_aligned"):
        bias_subsets(ImageDataset(test.images, test.labels, test.classes))


# ---------------------------------------------------------------------------- Shapes: bad input
@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"bias": 1.5}, "bias"),
        ({"scene": "street"}, "scene"),
        ({"backgrounds": ("grass",)}, "backgrounds"),
        ({"backgrounds": "plain"}, "backgrounds"),
        ({"image_size": 8}, "image_size"),
        ({"split": "dev"}, "split"),
        ({"classes": ["circle", "blob"]}, "shape"),
        ({"classes": ["circle"]}, "classes"),
        ({"scale_range": (0.3, 0.2)}, "scale_range"),
        ({"seed": -1}, "seed"),
    ],
)
def test_make_shapes_rejects_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        make_shapes(10, **kw)


def test_render_shapes_rejects_bad_factors():
    with pytest.raises(ValueError, match="unknown Shapes factor"):
        render_shapes([0], 0.1, 0.3, 0.0, 0.5, 0.5, colour=1.0)
    with pytest.raises(ValueError, match="one value per image"):
        render_shapes([0, 1], torch.zeros(3), 0.3, 0.0, 0.5, 0.5)
    with pytest.raises(ValueError, match="hue"):
        render_shapes([0], 1.5, 0.3, 0.0, 0.5, 0.5)
    with pytest.raises(ValueError, match="class indices"):
        render_shapes([6], 0.1, 0.3, 0.0, 0.5, 0.5)
    with pytest.raises(ValueError, match="background"):
        render_shapes([0], 0.1, 0.3, 0.0, 0.5, 0.5, background=3)
    with pytest.raises(ValueError, match="clutter_box"):
        render_shapes([0], 0.1, 0.3, 0.0, 0.5, 0.5, clutter_round=torch.zeros(1, 2))
    assert render_shapes(torch.zeros(0, dtype=torch.long), 0.1, 0.3, 0.0, 0.5, 0.5).shape == (0, 3, 32, 32)


# ---------------------------------------------------------------------------- DeviceLoader
def _numbered(n: int) -> ImageDataset:
    """Image i is filled with the value i (mod 256), so a batch can be checked against its indices."""
    images = (torch.arange(n) % 256).to(torch.uint8).view(n, 1, 1, 1).expand(n, 3, 2, 2).contiguous()
    return ImageDataset(images, torch.arange(n) % 4, list("abcd"))


def test_device_loader_covers_every_index_once_per_epoch():
    ds = _numbered(103)
    loader = DeviceLoader(ds, 10, drop_last=False, seed=1)
    assert len(loader) == 11
    batches = list(loader.epoch(0))
    assert [len(b[2]) for b in batches] == [10] * 10 + [3]  # the short last batch is kept
    idx = torch.cat([b[2] for b in batches])
    assert sorted(idx.tolist()) == list(range(103))
    for images, labels, indices in batches:
        assert images.dtype == torch.uint8 and images.shape[1:] == (3, 2, 2)
        assert torch.equal(images[:, 0, 0, 0].long(), indices % 256) and torch.equal(labels, indices % 4)


def test_device_loader_drop_last():
    loader = DeviceLoader(_numbered(103), 10, seed=1)
    assert len(loader) == 10
    idx = torch.cat([b[2] for b in loader.epoch(2)])
    assert len(idx) == 100 and len(set(idx.tolist())) == 100


def test_device_loader_permutation_is_a_pure_function_of_seed_and_epoch():
    ds = _numbered(50)
    a, b = DeviceLoader(ds, 8, seed=3), DeviceLoader(ds, 8, seed=3)
    expected = torch.randperm(50, generator=torch.Generator().manual_seed(3 * 100003 + 4))
    assert torch.equal(a.permutation(4), expected)
    assert torch.equal(a.permutation(4), b.permutation(4))
    assert not torch.equal(a.permutation(4), a.permutation(5))
    assert not torch.equal(a.permutation(4), DeviceLoader(ds, 8, seed=4).permutation(4))
    assert torch.equal(DeviceLoader(ds, 8, shuffle=False).permutation(9), torch.arange(50))


def test_device_loader_resumes_mid_epoch_exactly():
    loader = DeviceLoader(_numbered(64), 8, seed=2)
    full = [b[2] for b in loader.epoch(3)]
    tail = [b[2] for b in loader.epoch(3, start_batch=5)]
    assert len(tail) == 3 and all(torch.equal(x, y) for x, y in zip(full[5:], tail))
    assert list(loader.epoch(3, start_batch=len(loader))) == []
    with pytest.raises(ValueError, match="start_batch"):
        loader.epoch(3, start_batch=9)
    with pytest.raises(ValueError, match="epoch"):
        loader.epoch(-1)


def test_device_loader_iteration_advances_and_set_epoch():
    loader = DeviceLoader(_numbered(32), 8, seed=0)
    first = torch.cat([b[2] for b in loader])
    second = torch.cat([b[2] for b in loader])
    assert torch.equal(first, loader.permutation(0)) and torch.equal(second, loader.permutation(1))
    loader.set_epoch(0)
    assert loader.epoch_index == 0
    assert torch.equal(torch.cat([b[2] for b in loader]), first)


def test_device_loader_rejects_bad_arguments():
    ds = _numbered(10)
    with pytest.raises(ValueError, match="larger than the dataset"):
        DeviceLoader(ds, 11)
    assert len(DeviceLoader(ds, 11, drop_last=False)) == 1
    with pytest.raises(ValueError, match="batch_size"):
        DeviceLoader(ds, 0)
    with pytest.raises(ValueError, match="ImageDataset"):
        DeviceLoader(ds.images, 2)  # type: ignore[arg-type]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_device_loader_on_cuda_matches_cpu():
    ds = make_shapes(100, seed=0)
    cpu = list(DeviceLoader(ds, 16, seed=1).epoch(2))
    gpu = list(DeviceLoader(ds, 16, seed=1, device="cuda").epoch(2))
    for (xi, yi, ii), (xg, yg, ig) in zip(cpu, gpu):
        assert (
            xg.is_cuda
            and torch.equal(xi, xg.cpu())
            and torch.equal(yi, yg.cpu())
            and torch.equal(ii, ig.cpu())
        )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_shapes_render_on_cuda_like_cpu():
    cpu = make_shapes(200, seed=0, backgrounds=BACKGROUNDS)
    gpu = make_shapes(200, seed=0, backgrounds=BACKGROUNDS, device="cuda")
    assert gpu.images.is_cuda and torch.equal(cpu.labels, gpu.labels.cpu())
    diff = (cpu.images.int() - gpu.images.cpu().int()).abs()
    assert diff.max() <= 2 and (diff > 0).float().mean() < 0.01


# ---------------------------------------------------------------------------- MultiViewDataset
def test_multiview_dataset_calls_the_transform_per_view():
    ds = _numbered(12)
    calls = []

    def transform(img: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return img.float() + len(calls)

    mv = MultiViewDataset(ds, transform, n_views=3)
    views, label, index = mv[5]
    assert len(mv) == 12 and len(views) == 3 and label == 1 and index == 5
    assert [float(v[0, 0, 0]) for v in views] == [6.0, 7.0, 8.0]  # three separate calls
    loader = torch.utils.data.DataLoader(mv, batch_size=4)
    batch_views, labels, indices = next(iter(loader))
    assert len(batch_views) == 3 and batch_views[0].shape == (4, 3, 2, 2)
    assert indices.tolist() == [0, 1, 2, 3] and labels.tolist() == [0, 1, 2, 3]


def test_multiview_dataset_asymmetric_transforms_and_errors():
    ds = _numbered(4)
    mv = MultiViewDataset(ds, [lambda x: x.float(), lambda x: -x.float()], n_views=2)
    v1, v2 = mv[3][0]
    assert torch.equal(v1, -v2)
    with pytest.raises(ValueError, match="one per view"):
        MultiViewDataset(ds, [lambda x: x], n_views=2)
    with pytest.raises(ValueError, match="n_views"):
        MultiViewDataset(ds, lambda x: x, n_views=0)
    with pytest.raises(ValueError, match="callable"):
        MultiViewDataset(ds, "flip")  # type: ignore[arg-type]

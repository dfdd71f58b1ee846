"""cssl_edu.analysis on constructed cases with known answers.

The Shapes sweeps use three hand-built encoders whose invariances are known exactly:

- ``MaxMinEncoder`` keeps, per pixel, only the largest and smallest channel value. On a gray
  background a pixel is ``g + alpha (c - g)`` with the object colour ``c = hsv(hue, s, v)``, whose
  largest channel is ``v`` and smallest ``v (1 - s)`` for every hue, so the encoder is exactly
  invariant to hue (and to a hue rotation of the image).
- ``ChromaEncoder`` is linear: the image's mean opponent-colour vector ``(R - (G + B)/2,
  sqrt(3)/2 (G - B))``. On a gray background its direction depends on the object's hue alone, so
  it encodes hue and nothing else a cosine can see: changing the hue moves it exactly as much as
  changing the image (score 0), changing anything else does not move it (score 1).
- a random ConvNet sits between the two.
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cssl_edu.analysis import (
    AUGMENTATIONS,
    TRANSFORMS,
    SharedBitsMethod,
    apply_transform,
    augment_kwargs,
    category_invariance,
    compare_invariance,
    embed_2d,
    factor_invariance,
    factor_values,
    feature_suppression_experiment,
    firing_invariance,
    geometry_over_training,
    instance_category_invariance,
    invariance_score,
    markdown_table,
    object_scene_experiment,
    paste_bits,
    pca,
    pivot,
    plot_bias,
    plot_embedding,
    plot_geometry,
    plot_invariance,
    plot_rsm,
    random_codes,
    random_encoder,
    render_factor_sweep,
    similarity_matrix,
    sort_order,
    spurious_correlation_experiment,
    transform_invariance,
    tsne,
)
from cssl_edu.config import make_config
from cssl_edu.data import ImageDataset, make_shapes, rerender
from cssl_edu.methods import Method
from cssl_edu.train import Trainer

matplotlib.use("Agg")

#: equal normalisation in every channel keeps the per-pixel channel order (MaxMinEncoder needs it)
EQUAL = {"mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)}


class MaxMinEncoder(nn.Module):
    feature_dim = 128

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = torch.stack([x.amax(1), x.amin(1)], 1)
        return F.adaptive_avg_pool2d(f, 8).flatten(1)


class ChromaEncoder(nn.Module):
    feature_dim = 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r, g, b = x.unbind(1)
        return torch.stack([(r - (g + b) / 2).mean((1, 2)), (g - b).mean((1, 2)) * math.sqrt(3) / 2], 1)


pytestmark = pytest.mark.usefixtures("one_thread")  # many tiny ops: a second thread only adds waiting


@pytest.fixture(scope="module")
def gray_shapes() -> ImageDataset:
    """64 Shapes images on plain *gray* backgrounds (background saturation 0), factors updated."""
    ds = make_shapes(64, seed=3, backgrounds=("plain",))
    factors = dict(ds.factors or {})
    factors["bg_saturation"] = torch.zeros(len(ds))
    return ImageDataset(
        rerender(ds, bg_saturation=factors["bg_saturation"]), ds.labels, ds.classes, factors, "shapes"
    )


@pytest.fixture(scope="module")
def sweep(gray_shapes: ImageDataset) -> dict[str, torch.Tensor]:
    return render_factor_sweep(gray_shapes, ("hue", "rotation"), n_values=4)


# ---------------------------------------------------------------- scores on features
def _reference_scores(h: torch.Tensor, h_t: torch.Tensor) -> tuple[float, float]:
    """Positive and baseline cosine from the full N x N matrix (the direct definition)."""
    c = F.normalize(h.double(), dim=1) @ F.normalize(h_t.double(), dim=1).T
    off = ~torch.eye(len(h), dtype=torch.bool)
    return float(c.diag().mean()), float(c[off].mean())


def test_invariance_score_known_values_and_reference() -> None:
    g = torch.Generator().manual_seed(0)
    h = torch.randn(500, 32, generator=g).relu()
    assert invariance_score(h, 2.5 * h)["score"] == pytest.approx(1.0, abs=1e-9)
    unrelated = torch.randn(500, 32, generator=g).relu()
    res = invariance_score(h, unrelated)
    assert abs(res["score"]) < 0.05 and res["baseline"] > 0.3  # ReLU features: alike, yet score ~ 0
    pos, base = _reference_scores(h, unrelated)
    assert res["positive"] == pytest.approx(pos, abs=1e-10)
    assert res["baseline"] == pytest.approx(base, abs=1e-10)
    noisy = [invariance_score(h, h + s * torch.randn(h.shape, generator=g))["score"] for s in (0.1, 0.5, 2.0)]
    assert 1 > noisy[0] > noisy[1] > noisy[2] > 0
    collapsed = torch.ones(10, 4)
    assert invariance_score(collapsed, collapsed)["score"] == 0.0


def test_firing_invariance_known_values_and_reference() -> None:
    g = torch.Generator().manual_seed(1)
    h = torch.randn(40, 24, generator=g)
    assert firing_invariance(h, h.clone(), k=5)["score"] == pytest.approx(1.0)
    # units are standardised with h's statistics: a small perturbation keeps most units firing
    near = firing_invariance(h, h + 0.05 * torch.randn(h.shape, generator=g), k=5)["score"]
    assert 0.7 < near < 1.0
    perm = torch.randperm(40, generator=g)
    res = firing_invariance(h, h[perm], k=5)
    # explicit pair loops over the top-k sets (standardised with h's statistics)
    z, zt = (h - h.mean(0)) / h.std(0), (h[perm] - h.mean(0)) / h.std(0)
    sets = [set(r.topk(5).indices.tolist()) for r in z]
    sets_t = [set(r.topk(5).indices.tolist()) for r in zt]
    overlap = np.mean([len(sets[i] & sets_t[i]) / 5 for i in range(40)])
    chance = np.mean([len(sets[i] & sets_t[j]) / 5 for i in range(40) for j in range(40) if i != j])
    assert res["overlap"] == pytest.approx(overlap) and res["chance"] == pytest.approx(chance)
    assert abs(res["score"]) < 0.2
    with pytest.raises(ValueError, match="k"):
        firing_invariance(h, h, k=24)


def test_category_invariance_known_values_and_reference() -> None:
    g = torch.Generator().manual_seed(2)
    y = torch.arange(6).repeat(20)
    one_hot = F.one_hot(y, 6).double()
    assert category_invariance(one_hot, y)["score"] == pytest.approx(1.0)
    assert abs(category_invariance(torch.randn(120, 16, generator=g), y)["score"]) < 0.05
    h = one_hot + 0.8 * torch.randn(120, 6, generator=g, dtype=torch.float64)
    res = category_invariance(h, y)
    c = F.normalize(h, dim=1) @ F.normalize(h, dim=1).T
    same = (y[:, None] == y[None]) & ~torch.eye(120, dtype=torch.bool)
    assert res["positive"] == pytest.approx(float(c[same].mean()))
    assert res["baseline"] == pytest.approx(float(c[~torch.eye(120, dtype=torch.bool)].mean()))
    assert 0 < res["score"] < 1
    with pytest.raises(ValueError, match="two classes"):
        category_invariance(h, torch.zeros(120, dtype=torch.long))
    with pytest.raises(ValueError, match="labels"):
        category_invariance(h, y[:-1])


def test_scores_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="same shape"):
        invariance_score(torch.randn(5, 3), torch.randn(4, 3))
    with pytest.raises(ValueError, match="NaN"):
        invariance_score(torch.full((5, 3), float("nan")), torch.randn(5, 3))
    with pytest.raises(ValueError, match="2-D"):
        invariance_score(torch.randn(5), torch.randn(5))


# ---------------------------------------------------------------- Shapes factor sweeps
def test_factor_sweep_invariant_linear_and_random_encoders(gray_shapes: ImageDataset, sweep: dict) -> None:
    """Exactly invariant -> 1; encodes the factor linearly -> ~0; a random ConvNet in between."""
    scores = {}
    for name, enc in [
        ("maxmin", MaxMinEncoder()),
        ("chroma", ChromaEncoder()),
        ("random", random_encoder(seed=0)),
    ]:
        rows = factor_invariance(enc, gray_shapes, sweep=sweep, **EQUAL)
        scores[name] = {r["factor"]: r for r in rows}
        assert [r["n_values"] for r in rows] == [4, 4]
    assert scores["maxmin"]["hue"]["score"] == pytest.approx(1.0, abs=1e-6)
    assert scores["maxmin"]["hue"]["firing"] == pytest.approx(1.0)
    assert abs(scores["chroma"]["hue"]["score"]) < 0.05
    assert scores["chroma"]["rotation"]["score"] > 0.99  # the chroma direction ignores rotation
    assert scores["maxmin"]["rotation"]["score"] < 0.95  # the max/min map does see rotation
    rnd = scores["random"]["hue"]["score"]
    assert scores["chroma"]["hue"]["score"] + 0.05 < rnd < scores["maxmin"]["hue"]["score"] - 0.05


def test_factor_values_and_sweep_validation(gray_shapes: ImageDataset) -> None:
    hue = factor_values(gray_shapes, "hue", 4)
    assert torch.allclose(hue, torch.tensor([0.0, 0.25, 0.5, 0.75]))  # a circle: no repeated end point
    scale = factor_values(gray_shapes, "scale", 3)
    assert float(scale[0]) == pytest.approx(float(gray_shapes.factors["scale"].min()))
    assert torch.equal(factor_values(gray_shapes, "background", 5), torch.tensor([0]))  # plain only
    assert render_factor_sweep(gray_shapes, ("background",)) == {}  # one value: nothing to compare
    with pytest.raises(ValueError, match="not among"):
        factor_values(gray_shapes, "weather")
    with pytest.raises(ValueError, match="n_values"):
        factor_values(gray_shapes, "hue", 1)
    with pytest.raises(ValueError, match="sequence"):
        render_factor_sweep(gray_shapes, "hue")


def test_transform_invariance_and_instance_category(gray_shapes: ImageDataset) -> None:
    rows = transform_invariance(
        MaxMinEncoder(), gray_shapes.images, transforms=("color", "rotation"), strengths=(0.0, 1.0), **EQUAL
    )
    by = {(r["transform"], r["strength"]): r["score"] for r in rows}
    assert by[("color", 0.0)] == pytest.approx(1.0) and by[("rotation", 0.0)] == pytest.approx(1.0)
    assert by[("color", 1.0)] > 0.999  # a hue rotation keeps every pixel's max and min channel
    assert by[("rotation", 1.0)] < 0.9
    ic = instance_category_invariance(ChromaEncoder(), gray_shapes, **EQUAL)
    assert set(ic) == {"instance", "instance_firing", "category"}
    assert abs(ic["category"]) < 0.1  # hue is drawn independently of the class (bias 0)


def test_compare_invariance_rows(gray_shapes: ImageDataset) -> None:
    rows = compare_invariance(
        {"maxmin": MaxMinEncoder(), "chroma": ChromaEncoder()},
        gray_shapes,
        factors=("hue",),
        n_values=2,
        transforms=("blur",),
        **EQUAL,
    )
    assert [r["encoder"] for r in rows] == ["maxmin", "chroma"]
    assert set(rows[0]) == {"encoder", "hue", "t:blur", "instance", "category"}
    assert rows[0]["hue"] > rows[1]["hue"]
    with pytest.raises(ValueError, match="empty"):
        compare_invariance({}, gray_shapes)


# ---------------------------------------------------------------- transformations
def test_transforms_identity_range_and_determinism() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=g)
    for name in TRANSFORMS:
        assert torch.equal(apply_transform(x, name, 0.0), x.float() / 255)
        y = apply_transform(x, name, 0.7, seed=5)
        assert y.shape == (4, 3, 32, 32) and y.dtype == torch.float32
        assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0 + 1e-6
        assert torch.equal(y, apply_transform(x, name, 0.7, seed=5))
        assert not torch.allclose(y, x.float() / 255, atol=1e-3), name
    with pytest.raises(ValueError, match="unknown transformation"):
        apply_transform(x, "warp", 0.5)
    with pytest.raises(ValueError, match="strength"):
        apply_transform(x, "blur", 1.5)
    with pytest.raises(ValueError, match="square"):
        apply_transform(torch.zeros(1, 3, 8, 16), "rotation", 0.5)


def test_transforms_geometry_known_answers() -> None:
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    # a half turn of a square image about its centre is a flip of both axes
    assert torch.allclose(apply_transform(x, "rotation", 1.0), x.flip(-1, -2), atol=1e-4)
    # translation at strength 1 moves a dot by S/4 = 8 pixels
    dot = torch.zeros(1, 3, 32, 32)
    dot[..., 14:18, 14:18] = 1.0
    moved = apply_transform(dot, "translation", 1.0)[0, 0]
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")

    def centre(m: torch.Tensor) -> torch.Tensor:
        return torch.stack([(m * yy).sum() / m.sum(), (m * xx).sum() / m.sum()])

    assert float((centre(moved) - centre(dot[0, 0])).norm()) == pytest.approx(8.0, abs=0.05)
    # zooming out by 1/2 keeps a quarter of a centred square's area; the occluder covers half the image
    square = torch.zeros(1, 3, 32, 32)
    square[..., 8:24, 8:24] = 1.0
    assert float(apply_transform(square, "scale", 1.0)[0, 0].sum()) == pytest.approx(64.0, abs=0.5)
    noise = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    changed = (apply_transform(noise, "occlusion", 1.0) != noise).any(1).float().mean()
    assert float(changed) == pytest.approx(round(math.sqrt(0.5) * 32) ** 2 / 1024, abs=1e-6)


def test_transforms_colour_known_answers() -> None:
    red = torch.zeros(1, 3, 16, 16)
    red[:, 0] = 1.0
    cyan = apply_transform(red, "color", 1.0)
    assert torch.allclose(cyan[0, :, 0, 0], torch.tensor([0.0, 1.0, 1.0]), atol=1e-5)
    gray = apply_transform(torch.rand(2, 3, 16, 16), "grayscale", 1.0)
    assert torch.allclose(gray[:, 0], gray[:, 1]) and torch.allclose(gray[:, 1], gray[:, 2])
    flat = torch.full((1, 3, 16, 16), 0.3)
    assert torch.allclose(apply_transform(flat, "blur", 1.0), flat, atol=1e-6)
    noise = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    assert float(apply_transform(noise, "blur", 1.0).var()) < 0.2 * float(noise.var())


# ---------------------------------------------------------------- diagnostics
def test_similarity_matrix_sorted_by_factors() -> None:
    y = torch.tensor([2, 0, 1, 0, 2, 1])
    hue = torch.tensor([0.5, 0.9, 0.1, 0.2, 0.3, 0.0])
    order = sort_order(y, hue)
    assert order.tolist() == np.lexsort((hue.numpy(), y.numpy())).tolist()
    feats = F.one_hot(y, 3).float() + 0.01
    rsm, o = similarity_matrix(feats, y)
    assert torch.equal(y[o], torch.tensor([0, 0, 1, 1, 2, 2]))
    blocks = torch.block_diag(*[torch.ones(2, 2)] * 3).bool()
    assert float(rsm[blocks].min()) > 0.99 and float(rsm[~blocks].max()) < 0.1
    centred, _ = similarity_matrix(feats, y, center=True)  # one-hot minus the mean: -1/2 across blocks
    assert torch.allclose(centred[~blocks], torch.tensor(-0.5), atol=1e-5)
    with pytest.raises(ValueError, match="shape"):
        sort_order(y, hue[:-1])


def test_pca_recovers_a_line() -> None:
    g = torch.Generator().manual_seed(4)
    t = torch.randn(50, generator=g, dtype=torch.float64)
    v = F.normalize(torch.randn(6, generator=g, dtype=torch.float64), dim=0)
    x = t[:, None] * v * 3.0 + torch.randn(6, generator=g, dtype=torch.float64)
    y = pca(x, 2)
    assert torch.allclose(y[:, 0].abs().double(), ((t - t.mean()) * 3.0).abs(), atol=1e-4)
    assert float(y[:, 1].abs().max()) < 1e-4
    with pytest.raises(ValueError, match="dim"):
        pca(x, 7)


def test_tsne_separates_clusters_and_is_deterministic() -> None:
    g = torch.Generator().manual_seed(5)
    centres = 10 * torch.randn(3, 10, generator=g)
    y = torch.arange(3).repeat_interleave(40)
    x = centres[y] + torch.randn(120, 10, generator=g)
    emb = tsne(x, perplexity=15, n_iter=250, seed=0)
    assert emb.shape == (120, 2) and torch.isfinite(emb).all()
    d = torch.cdist(emb, emb).fill_diagonal_(float("inf"))
    assert bool((y[d.argmin(1)] == y).all())  # 1-NN in the map: every point next to its own cluster
    assert torch.equal(emb, tsne(x, perplexity=15, n_iter=250, seed=0))
    assert embed_2d(x, "pca").shape == (120, 2)
    with pytest.raises(ValueError, match="pca"):
        embed_2d(x, "umap")


def test_geometry_over_training_tiny_run(tmp_path) -> None:
    ds = make_shapes(64, seed=0)
    cfg = make_config(
        "cpu", n_train=64, epochs=2, batch_size=32, knn_every=0, out_dir=str(tmp_path), device="cpu"
    )
    trainer = Trainer(cfg, train_set=ds, progress=False)
    rows = geometry_over_training(trainer, make_shapes(32, seed=0, split="test").images)
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    assert all(math.isfinite(r["alignment"]) and r["uniformity"] <= 0 for r in rows)
    assert math.isnan(rows[0]["loss"]) and math.isfinite(rows[2]["loss"])
    assert trainer.step == 4


# ---------------------------------------------------------------- feature suppression pieces
def test_paste_bits_layout_and_shared_codes() -> None:
    codes = torch.tensor([[True, False, True], [False, False, True]])
    views = torch.zeros(2, 3, 2, 2)
    views_big = torch.zeros(2, 3, 4, 4)
    out = paste_bits(views_big, codes, amplitude=2.0)
    assert out[0, :, 0, :3].tolist() == [[2.0, -2.0, 2.0]] * 3
    assert out[1, :, 0, :3].tolist() == [[-2.0, -2.0, 2.0]] * 3
    assert float(out[:, :, 0, 3:].abs().sum() + out[:, :, 1:].abs().sum()) == 0.0  # the rest untouched
    with pytest.raises(ValueError, match="quarter"):
        paste_bits(views, codes)

    seen: list[list[torch.Tensor]] = []

    class Record(Method):
        n_views = 2

        def forward(self, views, labels, indices):  # type: ignore[override]
            seen.append(views)
            return {"loss": torch.zeros(())}

    wrapped = SharedBitsMethod(Record(random_encoder()), random_codes(10, 8, seed=0))
    v1, v2 = torch.randn(3, 3, 32, 32), torch.randn(3, 3, 32, 32)
    wrapped([v1, v2], torch.zeros(3, dtype=torch.long), torch.tensor([4, 0, 7]))
    a, b = seen[0]
    assert torch.equal(a[:, :, 0, :8], b[:, :, 0, :8])  # both views carry the same code
    expected = torch.where(random_codes(10, 8, seed=0)[[4, 0, 7]], 2.0, -2.0)
    assert torch.equal(a[:, 0, 0, :8], expected)
    assert torch.equal(a[:, :, 1:], v1[:, :, 1:])


def test_shared_bits_keep_the_inner_methods_views_multi_crop_included() -> None:
    from cssl_edu.augment import SimCLRAugment
    from cssl_edu.methods import build_method

    swav = build_method(
        "swav", random_encoder(), num_prototypes=6, n_small_crops=2, proj_hidden_dim=16, proj_out_dim=8
    )
    wrapped = SharedBitsMethod(swav, random_codes(10, 8, seed=0))
    images = make_shapes(4, seed=0).images
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    views = wrapped.make_views(images, SimCLRAugment(32), g1)
    want = swav.make_views(images, SimCLRAugment(32), g2)
    assert (
        [tuple(v.shape) for v in views]
        == [tuple(v.shape) for v in want]
        == [(4, 3, 32, 32)] * 2 + [(4, 3, 16, 16)] * 2
    )
    assert all(torch.equal(a, b) for a, b in zip(views, want))
    out = wrapped(views, torch.zeros(4, dtype=torch.long), torch.arange(4))
    assert torch.isfinite(out["loss"])


# ---------------------------------------------------------------- tables, plots, training helpers
def test_markdown_table_and_pivot() -> None:
    rows = [{"m": "simclr", "p": 0.9, "acc": 0.51234}, {"m": "sup", "p": 0.9, "acc": float("nan")}]
    table = markdown_table(rows, digits=2)
    assert table.splitlines() == [
        "| m | p | acc |",
        "|---|---|---|",
        "| simclr | 0.90 | 0.51 |",
        "| sup | 0.90 | — |",
    ]
    assert pivot(rows, "m", "p", "acc")[0] == {"m": "simclr", "0.9": 0.51234}
    with pytest.raises(ValueError, match="empty"):
        markdown_table([])
    with pytest.raises(ValueError, match="no key"):
        pivot(rows, "m", "q", "acc")


def test_plots_have_titles_and_labels() -> None:
    import matplotlib.pyplot as plt

    y = torch.arange(3).repeat_interleave(4)
    rsm, order = similarity_matrix(F.one_hot(y, 3).float(), y)
    figs = [
        plot_rsm(rsm, groups=y[order], group_names=["a", "b", "c"]),
        plot_embedding(torch.randn(12, 2), y, names=["a", "b", "c"]),
        plot_embedding(torch.randn(12, 2), torch.rand(12), color_label="hue"),
        plot_invariance([{"encoder": "e", "hue": 0.5, "x": 0.9}], ["hue", "x"]),
        plot_bias(
            [{"method": "simclr", "bias": p, "aligned_acc": 0.9, "conflicting_acc": 0.5} for p in (0.0, 0.9)]
        ),
        plot_geometry(
            [{"epoch": e, "alignment": 1.0, "uniformity": -2.0, "collapse_ratio": 0.8} for e in (0, 1)]
        ),
    ]
    for fig in figs:
        for ax in fig.axes:
            if ax.get_label() == "<colorbar>":
                continue
            assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
        plt.close(fig)


def test_augment_sets_and_random_encoder() -> None:
    assert augment_kwargs("no_color") == {"crop_scale": (0.5, 1.0), **AUGMENTATIONS["no_color"]}
    assert augment_kwargs({"crop_scale": (0.2, 1.0)})["crop_scale"] == (0.2, 1.0)
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment_kwargs("cutmix")
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(random_encoder(seed=1)(x), random_encoder(seed=1)(x))
    with pytest.raises(ValueError, match="unknown method"):
        spurious_correlation_experiment(methods=("byol",))


# ---------------------------------------------------------------- the experiments end to end
@pytest.mark.slow
def test_experiments_smoke() -> None:
    """Shrunk spurious-correlation, object/scene and feature-suppression runs, end to end."""
    rows = spurious_correlation_experiment(
        ("simclr", "supervised"),
        (0.0, 0.99),
        n_train=256,
        n_test=240,
        epochs=1,
        batch_size=128,
        include_random=True,
    )
    assert len(rows) == 6
    gap = {(r["method"], r["bias"]): r["gap"] for r in rows}
    for m in ("random", "simclr", "supervised"):
        assert gap[(m, 0.99)] > gap[(m, 0.0)]  # the colour shortcut shows up in the biased probe
    assert all(
        0 <= r["aligned_acc"] <= 1 and r["train_aligned_fraction"] > 0.9 for r in rows if r["bias"] == 0.99
    )
    scene = object_scene_experiment(n_train=256, n_test=120, epochs=1, batch_size=128)
    assert {(r["train_scene"], r["eval_scene"]) for r in scene} == {
        (t, e) for t in ("random", "object", "scene") for e in ("object", "scene")
    }
    sup = feature_suppression_experiment((0, 64), n_train=256, n_test=120, epochs=1, batch_size=128)
    assert [r["n_bits"] for r in sup] == [0, 64]
    assert math.isnan(sup[0]["bit_acc"]) and sup[1]["bit_acc"] > 0.5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_analysis_runs_a_cuda_encoder_on_cpu_data() -> None:
    from cssl_edu.analysis import encode_with_bits, instance_category_invariance, random_codes

    ds = make_shapes(64, seed=0)
    enc = random_encoder().cuda()
    cpu_scores = instance_category_invariance(random_encoder(), ds)
    gpu_scores = instance_category_invariance(enc, ds)
    for key, value in cpu_scores.items():
        assert gpu_scores[key] == pytest.approx(value, abs=1e-3)
    codes = random_codes(len(ds), 8, seed=0)
    f = encode_with_bits(enc, ds.images, codes, mean=ds.mean, std=ds.std)
    assert f.device.type == "cpu" and f.shape[0] == 64

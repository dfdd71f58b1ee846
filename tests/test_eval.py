"""kNN, linear probes and embedding geometry on constructed cases with known answers."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from cssl_edu.eval import (
    alignment,
    collapse_std,
    knn_accuracy,
    knn_predict,
    label_fraction_probe,
    linear_probe,
    uniformity,
)


def _clusters(n_per: int, c: int, d: int, noise: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    # the class centres are shared by every split (fixed seed); ``seed`` only changes the noise
    centers = F.normalize(torch.randn(c, d, generator=torch.Generator().manual_seed(1234)), dim=1) * 3
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(c).repeat_interleave(n_per)
    return centers[y] + noise * torch.randn(len(y), d, generator=g), y


def test_knn_reference_on_small_case() -> None:
    """Compare with a direct per-query implementation of the weighted vote."""
    x, y = _clusters(20, 3, 8, 1.5)
    q, _ = _clusters(5, 3, 8, 1.5, seed=1)
    pred = knn_predict(x, y, q, k=7, temperature=0.2, chunk_size=4)
    xn, qn = F.normalize(x, dim=1), F.normalize(q, dim=1)
    for i in range(len(q)):
        s = (xn @ qn[i]).double()
        top = s.topk(7)
        votes = torch.zeros(3, dtype=torch.float64)
        for sim, j in zip(top.values, top.indices):
            votes[y[j]] += math.exp(sim / 0.2)
        assert int(pred[i]) == int(votes.argmax())


def test_knn_separable_clusters_are_perfect_and_chunking_is_invisible() -> None:
    x, y = _clusters(50, 4, 16, 0.1)
    q, yq = _clusters(20, 4, 16, 0.1, seed=2)
    assert knn_accuracy(x, y, q, yq, k=10) == 1.0
    assert torch.equal(knn_predict(x, y, q, k=10, chunk_size=7), knn_predict(x, y, q, k=10, chunk_size=1000))


def test_knn_ignores_unlabeled_and_clips_k() -> None:
    x, y = _clusters(5, 2, 4, 0.1)
    y = y.clone()
    y[0] = -1
    pred = knn_predict(x, y, x[1:3], k=1000)
    assert pred.shape == (2,)


def test_knn_bad_input() -> None:
    x, y = _clusters(5, 2, 4, 0.1)
    with pytest.raises(ValueError, match="same dimension"):
        knn_predict(x, y, torch.randn(3, 5))
    with pytest.raises(ValueError, match="train_labels"):
        knn_predict(x, y[:-1], x)
    with pytest.raises(ValueError, match="temperature"):
        knn_predict(x, y, x, temperature=0)


def test_linear_probe_separable_and_random_labels() -> None:
    x, y = _clusters(40, 3, 10, 0.5)
    q, yq = _clusters(20, 3, 10, 0.5, seed=3)
    assert linear_probe(x, y, q, yq, epochs=30)["test_acc"] > 0.95
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(120, 10, generator=g)
    res = linear_probe(
        noise,
        torch.randint(0, 3, (120,), generator=g),
        torch.randn(300, 10, generator=g),
        torch.randint(0, 3, (300,), generator=g),
        epochs=30,
    )
    assert res["test_acc"] < 0.5  # chance is 1/3


def test_label_fraction_probe_keeps_classes_balanced() -> None:
    x, y = _clusters(100, 4, 10, 0.8)
    q, yq = _clusters(30, 4, 10, 0.8, seed=4)
    res = label_fraction_probe(x, y, q, yq, (0.01, 0.1, 1.0), epochs=20)
    assert set(res) == {0.01, 0.1, 1.0}
    assert all(0.25 < v <= 1.0 for v in res.values())
    with pytest.raises(ValueError, match="fractions"):
        label_fraction_probe(x, y, q, yq, (0.0,))


def test_alignment_uniformity_collapse_known_values() -> None:
    z = torch.randn(64, 8)
    assert float(alignment(z, 3 * z)) == pytest.approx(0.0, abs=1e-6)  # same direction
    assert float(alignment(z, -z)) == pytest.approx(4.0, rel=1e-5)  # antipodal: ‖2u‖² = 4
    same = torch.ones(16, 8)
    assert float(uniformity(same)) == pytest.approx(0.0, abs=1e-6)  # log E exp(0) = 0
    # uniformity of a spread embedding is lower (better) than of a clustered one
    spread = torch.randn(512, 8)
    tight = torch.ones(512, 8) + 0.05 * torch.randn(512, 8)
    assert float(uniformity(spread)) < float(uniformity(tight)) - 1
    c = collapse_std(torch.ones(32, 16) + 1e-4 * torch.randn(32, 16))
    assert c["ratio"] < 0.01
    c = collapse_std(torch.randn(4096, 16))
    assert c["reference"] == pytest.approx(0.25) and 0.9 < c["ratio"] < 1.1


def test_uniformity_matches_direct_formula() -> None:
    z = F.normalize(torch.randn(30, 5, dtype=torch.float64), dim=1)
    vals = [math.exp(-2 * float((z[i] - z[j]).pow(2).sum())) for i in range(30) for j in range(i + 1, 30)]
    assert float(uniformity(z)) == pytest.approx(math.log(sum(vals) / len(vals)), rel=1e-5)

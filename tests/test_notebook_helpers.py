"""The small helpers the course notebooks share (``cssl_edu.notebook``)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import pytest
import torch

from cssl_edu.notebook import (
    cpu_threads,
    find_cifar_subset,
    format_table,
    nearest_neighbours,
    pca_2d,
    plot_embedding_2d,
    show_retrieval,
)

matplotlib.use("Agg")


def test_cpu_threads_backs_off_on_a_busy_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CSSL_EDU_THREADS", raising=False)
    assert cpu_threads(cores=2, load=0.3) == 2
    assert cpu_threads(cores=2, load=4.0) == 1
    assert cpu_threads(cores=16, load=0.0) == 4  # never more than 4
    assert cpu_threads(cores=1, load=9.0) == 1
    monkeypatch.setenv("CSSL_EDU_THREADS", "3")
    assert cpu_threads(cores=2, load=9.0) == 3
    monkeypatch.setenv("CSSL_EDU_THREADS", "zero")
    with pytest.raises(ValueError, match="CSSL_EDU_THREADS"):
        cpu_threads()


def test_find_cifar_subset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CSSL_EDU_CIFAR_NPZ", raising=False)
    monkeypatch.delenv("CSSL_EDU_CIFAR_SUBSET", raising=False)
    missing = tmp_path / "nope.npz"
    assert find_cifar_subset(missing) is None
    f = tmp_path / "c.npz"
    f.write_bytes(b"x")
    assert find_cifar_subset(missing, f) == f.resolve()
    other = tmp_path / "env.npz"
    other.write_bytes(b"y")
    monkeypatch.setenv("CSSL_EDU_CIFAR_NPZ", str(other))
    assert find_cifar_subset(f) == other.resolve()  # the environment variable wins


def test_format_table() -> None:
    t = format_table([{"a": 1, "b": 0.123}, {"a": 2, "c": "x"}], floatfmt=".2f")
    lines = t.splitlines()
    assert lines[0] == "| a | b | c |"
    assert lines[2] == "| 1 | 0.12 |  |"
    assert lines[3] == "| 2 |  | x |"
    assert format_table([{"a": 1}], columns=["b"]).splitlines()[-1] == "|  |"
    with pytest.raises(ValueError, match="at least one row"):
        format_table([])


def test_pca_2d_finds_the_main_directions() -> None:
    g = torch.Generator().manual_seed(0)
    # variance 9 along e3, 1 along e1, tiny elsewhere
    x = torch.randn(500, 5, generator=g) * torch.tensor([1.0, 0.01, 3.0, 0.01, 0.01]) + 7.0
    y = pca_2d(x)
    assert y.shape == (500, 2) and y.dtype == torch.float32
    assert torch.allclose(y.mean(0), torch.zeros(2), atol=1e-4)
    assert torch.allclose(y[:, 0].abs(), (x[:, 2] - x[:, 2].mean()).abs(), atol=0.05)
    assert y[:, 0].var() > 5 * y[:, 1].var()
    # deterministic sign: the same data gives the same picture, and so does a sign-flipped copy
    assert torch.equal(pca_2d(x), y)
    assert torch.allclose(pca_2d(-x).abs(), y.abs(), atol=1e-4)
    with pytest.raises(ValueError, match="pca_2d"):
        pca_2d(torch.zeros(1, 3))


def test_nearest_neighbours() -> None:
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [-1.0, 0.0]])
    idx = nearest_neighbours(bank[:1], bank, k=2)
    assert idx.tolist() == [[0, 2]]
    idx = nearest_neighbours(bank[:1], bank, k=2, exclude=torch.tensor([0]))
    assert idx.tolist() == [[2, 1]]
    with pytest.raises(ValueError, match="k must be"):
        nearest_neighbours(bank, bank, k=4, exclude=torch.arange(4))
    with pytest.raises(ValueError, match="same D"):
        nearest_neighbours(torch.zeros(2, 3), bank)


def test_plots_build_without_a_display() -> None:
    import matplotlib.pyplot as plt

    g = torch.Generator().manual_seed(0)
    f, y = torch.randn(60, 8, generator=g), torch.arange(60) % 3
    ax = plot_embedding_2d(f, y, ["a", "b", "c"], title="t")
    assert ax.get_xlabel() == "principal component 1"
    with pytest.raises(ValueError, match="must match"):
        plot_embedding_2d(f, y[:5])
    imgs = torch.randint(0, 256, (10, 3, 8, 8), dtype=torch.uint8, generator=g)
    nn_idx = nearest_neighbours(imgs[:2].flatten(1).float(), imgs.flatten(1).float(), k=3)
    fig = show_retrieval(imgs[:2], imgs, nn_idx, correct=torch.ones(2, 3, dtype=torch.bool), title="r")
    assert len(fig.axes) == 2 * 4
    plt.close("all")

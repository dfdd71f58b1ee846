"""Figures for the analyses: every function returns a matplotlib ``Figure`` with labelled axes and a title.

Nothing is shown or saved here; call ``fig.savefig(...)`` or let a notebook display it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from cssl_edu._validation import as_float_tensor, check_rows

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _pyplot():  # imported on first use, as elsewhere in the package: importing the module stays cheap
    import matplotlib.pyplot as plt

    return plt


def plot_rsm(
    rsm: Tensor,
    *,
    groups: Tensor | None = None,
    group_names: Sequence[str] | None = None,
    title: str = "representational similarity",
    label: str = "images (sorted)",
) -> Figure:
    """Heat map of an (N, N) similarity matrix; ``groups`` (N,), sorted like the matrix, draws block lines.

    Args:
        rsm: from :func:`~cssl_edu.analysis.diagnostics.similarity_matrix`.
        groups: the primary sort key in matrix order (e.g. ``labels[order]``): a line where it changes.
        group_names: tick labels for the groups, indexed by group value.
    """
    rsm = as_float_tensor(rsm, "rsm", finite=False)
    if rsm.dim() != 2 or rsm.shape[0] != rsm.shape[1]:
        raise ValueError(f"rsm must be a square (N, N) matrix, got shape {tuple(rsm.shape)}.")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4.5))
    im = ax.imshow(rsm.cpu().numpy(), cmap="viridis", vmin=-1 if float(rsm.min()) < 0 else 0, vmax=1)
    fig.colorbar(im, ax=ax, label="cosine similarity")
    if groups is not None:
        g = groups.cpu().numpy()
        edges = np.flatnonzero(np.diff(g)) + 0.5
        for e in edges:
            ax.axhline(e, color="w", lw=0.6)
            ax.axvline(e, color="w", lw=0.6)
        if group_names is not None:
            starts = np.concatenate([[0], edges + 0.5])
            ends = np.concatenate([edges + 0.5, [len(g)]])
            ax.set_xticks(
                (starts + ends) / 2 - 0.5, [group_names[int(g[int(s)])] for s in starts], rotation=45
            )
            ax.set_yticks((starts + ends) / 2 - 0.5, [group_names[int(g[int(s)])] for s in starts])
    ax.set_xlabel(label)
    ax.set_ylabel(label)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_embedding(
    coords: Tensor,
    color_by: Tensor | None = None,
    *,
    title: str = "2-D embedding",
    method: str = "PCA",
    color_label: str = "class",
    names: Sequence[str] | None = None,
) -> Figure:
    """Scatter plot of (N, 2) coordinates coloured by a per-point value (class or a factor).

    ``coords`` is a float (N, 2) tensor (or nested list); ``color_by`` an (N,) tensor of classes
    (integers) or values (floats), or None for one colour.
    """
    coords = as_float_tensor(coords, "coords", finite=False)
    if coords.dim() != 2 or coords.shape[1] != 2:
        raise ValueError(f"coords must be (N, 2), got shape {tuple(coords.shape)}.")
    xy = coords.cpu().numpy()
    if color_by is None:
        color_by = torch.zeros(coords.shape[0], dtype=torch.long)
    if not isinstance(color_by, Tensor) or color_by.shape != (coords.shape[0],):
        raise ValueError(f"color_by must be a tensor of shape ({coords.shape[0]},) (one value per point).")
    c = color_by.cpu().numpy()
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 4.5))
    categorical = not np.issubdtype(c.dtype, np.floating)
    if categorical:
        for value in np.unique(c):
            sel = c == value
            name = names[int(value)] if names is not None else str(value)
            ax.scatter(xy[sel, 0], xy[sel, 1], s=6, label=name)
        ax.legend(title=color_label, fontsize=7, markerscale=2)
    else:
        sc = ax.scatter(xy[:, 0], xy[:, 1], s=6, c=c, cmap="hsv" if "hue" in color_label else "viridis")
        fig.colorbar(sc, ax=ax, label=color_label)
    ax.set_xlabel(f"{method} 1")
    ax.set_ylabel(f"{method} 2")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_invariance(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    *,
    name_key: str = "encoder",
    title: str = "invariance per factor",
) -> Figure:
    """Grouped bars: one group per column (factor), one bar per row (encoder); y is the invariance score.

    ``rows`` is a non-empty list of dicts, each with ``name_key``; ``columns`` defaults to every
    key holding a number, in first-seen order.
    """
    rows = check_rows(rows, keys=(name_key,))
    if columns is None:
        columns = [
            k
            for k in dict.fromkeys(k for r in rows for k in r)
            if k != name_key and all(isinstance(r.get(k, 0.0), (int, float)) for r in rows)
        ]
    if not rows or not columns:
        raise ValueError("plot_invariance needs rows (one per encoder) and the columns (factors) to plot.")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.1 * len(columns) + 2.5, 3.6))
    width = 0.8 / len(rows)
    x = np.arange(len(columns))
    for i, r in enumerate(rows):
        ax.bar(
            x + (i - (len(rows) - 1) / 2) * width,
            [float(r.get(c, np.nan)) for c in columns],
            width,
            label=str(r[name_key]),
        )
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xticks(x, list(columns))
    ax.set_xlabel("factor changed (others held fixed)")
    ax.set_ylabel("invariance score (1 = invariant, 0 = random pair)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_bias(
    rows: Sequence[Mapping[str, Any]], *, title: str = "colour shortcut: aligned vs conflicting"
) -> Figure:
    """Accuracy against bias ``p`` per method: solid = bias-aligned, dashed = bias-conflicting test images."""
    if not rows:
        raise ValueError("plot_bias needs the rows of spurious_correlation_experiment.")
    rows = check_rows(rows, keys=("method", "bias"))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    biases = sorted({float(r["bias"]) for r in rows})
    pos = np.arange(len(biases))
    for i, m in enumerate(methods):
        color = f"C{i}"
        by_p = {float(r["bias"]): r for r in rows if r["method"] == m}
        for key, style in (("aligned_acc", "-"), ("conflicting_acc", "--")):
            ax.plot(
                pos,
                [by_p[p][key] if p in by_p else np.nan for p in biases],
                style,
                color=color,
                marker="o",
                label=f"{m} ({key.split('_')[0]})",
            )
    ax.set_xticks(pos, [f"{p:g}" for p in biases])
    ax.set_xlabel("colour-class correlation p (train)")
    ax.set_ylabel("test accuracy (linear probe)")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return fig


def plot_geometry(
    rows: Sequence[Mapping[str, Any]], *, title: str = "embedding geometry during training"
) -> Figure:
    """Alignment and uniformity (left) and the collapse ratio (right) per epoch."""
    if not rows:
        raise ValueError("plot_geometry needs the rows of geometry_over_training.")
    rows = check_rows(rows, keys=("epoch", "alignment", "uniformity", "collapse_ratio"))
    epochs = [r["epoch"] for r in rows]
    plt = _pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3.2))
    a.plot(epochs, [r["alignment"] for r in rows], marker="o", label="alignment (lower: positives closer)")
    a.plot(epochs, [r["uniformity"] for r in rows], marker="s", label="uniformity (lower: more spread)")
    a.set_xlabel("epoch")
    a.set_ylabel("loss value")
    a.set_title("alignment and uniformity")
    a.legend(fontsize=7)
    b.plot(epochs, [r["collapse_ratio"] for r in rows], marker="o")
    b.axhline(1.0, color="k", lw=0.6, ls=":")
    b.set_xlabel("epoch")
    b.set_ylabel("std · √d (0 = collapsed)")
    b.set_title("collapse check")
    fig.suptitle(title)
    fig.tight_layout()
    return fig

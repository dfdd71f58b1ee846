"""Linear probes on frozen features: the standard measure of representation quality.

A logistic-regression classifier W h + b is trained with full-batch-free mini-batch AdamW on
features that were extracted once, so a probe on 50,000 CIFAR features takes seconds on a GPU
and well under a minute on a CPU.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from cssl_edu._validation import as_labels, check_finite, check_matrix, check_number, check_positive_int
from cssl_edu.eval.knn import labelled_test_rows


def _standardise(train: Tensor, *others: Tensor) -> list[Tensor]:
    mu, sd = train.mean(0, keepdim=True), train.std(0, keepdim=True).clamp_min(1e-6)
    return [(t - mu) / sd for t in (train, *others)]


def linear_probe(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    *,
    epochs: int = 100,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    batch_size: int = 1024,
    num_classes: int | None = None,
    seed: int = 0,
    return_correct: bool = False,
) -> dict[str, Any]:
    """Train a linear classifier on (standardised) frozen features; return train and test accuracy.

    Args:
        train_features: (N, D) any float dtype, finite; train_labels: (N,) int class ids (a list
            is accepted); rows labelled −1 (unlabelled) are left out, at least 2 must remain.
        test_features: (M, D); test_labels: (M,) int class ids. Rows labelled −1 are left out
            with a ``UserWarning`` saying how many; a test class absent from the labelled
            training rows raises ``ValueError`` naming it (the probe could never predict it).
        epochs, lr, weight_decay, batch_size: AdamW with a cosine schedule.
        seed: fixes the initialisation and the mini-batch order.
        return_correct: also return ``"test_correct"``, a bool tensor (M',) on the CPU: whether
            the probe is right on each labelled test row, in order — what per-subset accuracies
            (e.g. bias-aligned vs conflicting images) and paired tests need.

    Returns:
        ``{"train_acc": …, "test_acc": …}`` in [0, 1] (and ``"test_correct"``, see above).
    """
    check_matrix(train_features, "train_features")
    check_matrix(test_features, "test_features")
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            f"train and test features must have the same dimension, got {train_features.shape[1]} "
            f"and {test_features.shape[1]}."
        )
    train_labels = as_labels(train_labels, train_features.shape[0], "train_labels")
    test_labels = as_labels(test_labels, test_features.shape[0], "test_labels")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(
            f"the linear probe needs epochs ≥ 1 (an int), got {epochs!r}: with no training its "
            "accuracy would be that of a random classifier."
        )
    if not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(
            f"the linear probe's lr must be a finite number > 0, got {lr!r}: with lr 0 the probe never trains."
        )
    batch_size = check_positive_int(batch_size, "batch_size")
    weight_decay = check_number(weight_decay, "weight_decay", low=0)
    check_finite(train_features, "train_features")
    check_finite(test_features, "test_features")
    keep = train_labels >= 0
    x, y = (
        train_features[keep.to(train_features.device)].float(),
        train_labels[keep].to(train_features.device),
    )
    if y.numel() < 2:
        raise ValueError(
            f"linear_probe needs at least 2 labelled training rows (label ≥ 0) to standardise the features "
            f"and fit a classifier, got {y.numel()}."
        )
    test_keep, yt = labelled_test_rows(y, test_labels, "linear_probe")
    xt = test_features if test_keep is None else test_features[test_keep.to(test_features.device)]
    xt, yt = xt.float(), yt.to(test_features.device)
    x, xt = _standardise(x, xt)
    if num_classes is not None:
        c = check_positive_int(num_classes, "num_classes")
        if int(y.max()) >= c:
            raise ValueError(f"num_classes = {c}, but a training label is {int(y.max())}.")
    else:  # one output per distinct label id (sparse ids such as 10**9 cost nothing)
        classes = torch.unique(y)  # every test class is among them (checked above)
        c = classes.numel()
        if int(classes[-1]) != c - 1:  # ids are not 0..C-1: renumber them, in order
            y = torch.searchsorted(classes, y)
            yt = torch.searchsorted(classes, yt)
    g = torch.Generator(device="cpu").manual_seed(seed)
    w = torch.nn.Linear(x.shape[1], c).to(x.device)
    with torch.no_grad():
        w.weight.copy_(torch.randn(w.weight.shape, generator=g) * 0.01)
        w.bias.zero_()
    opt = torch.optim.AdamW(w.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = max(1, -(-x.shape[0] // batch_size))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0], generator=g).to(x.device)
        for start in range(0, x.shape[0], batch_size):
            idx = perm[start : start + batch_size]
            loss = F.cross_entropy(w(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    with torch.no_grad():
        train_acc = float((w(x).argmax(1) == y).float().mean())
        test_correct = w(xt).argmax(1) == yt
        test_acc = float(test_correct.float().mean())
    out: dict[str, Any] = {"train_acc": train_acc, "test_acc": test_acc}
    if return_correct:
        out["test_correct"] = test_correct.cpu()
    return out


def balanced_subset(labels: Tensor, fraction: float, seed: int = 0) -> Tensor:
    """Indices of ⌈fraction · n_c⌉ (≥ 1) random examples of every class c (labels ≥ 0 only).

    ``labels``: (N,) int class ids, −1 = unlabelled (never chosen); a list is accepted.
    ``fraction`` in (0, 1]. Returns int64 indices on the CPU, class by class.
    """
    fraction = check_number(fraction, "fraction", low=0, low_open=True, high=1)
    y = as_labels(labels, None, "labels", device=torch.device("cpu"))
    g = torch.Generator().manual_seed(seed)
    keep = []
    for c in torch.unique(y[y >= 0]).tolist():
        idx = (y == c).nonzero().flatten()
        n = max(1, int(-(-fraction * idx.numel() // 1)))
        keep.append(idx[torch.randperm(idx.numel(), generator=g)[:n]])
    return torch.cat(keep)


def label_fraction_probe(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    fractions: tuple[float, ...] = (0.01, 0.1, 1.0),
    *,
    seed: int = 0,
    **probe_kwargs: float | int,
) -> dict[float, float]:
    """Linear-probe test accuracy when only a class-balanced fraction of the labels is available.

    For each fraction f, ⌈f · n_c⌉ labelled examples of every class c are kept (at least one),
    chosen with a fixed seed; the probe trains on those alone.

    Returns:
        ``{fraction: test accuracy}``.
    """
    for f in fractions:
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f <= 1:
            raise ValueError(f"label fractions must be in (0, 1], got {f}.")
    check_matrix(train_features, "train_features")
    check_finite(train_features, "train_features")  # also the rows a small fraction leaves out
    train_labels = as_labels(
        train_labels, train_features.shape[0], "train_labels", device=train_features.device
    )
    out: dict[float, float] = {}
    for f in fractions:
        sel = balanced_subset(train_labels, f, seed).to(train_features.device)
        res = linear_probe(
            train_features[sel],
            train_labels[sel],
            test_features,
            test_labels,
            seed=seed,
            **probe_kwargs,  # type: ignore[arg-type]
        )
        out[f] = res["test_acc"]
    return out

"""Weighted k-nearest-neighbour classification on L2-normalised features (Wu et al. 2018).

For a test feature q and the k most cosine-similar training features x_j (similarity s_j),
class c gets the vote Σ_{j: y_j = c} exp(s_j / T); the prediction is the arg-max class.
This is the standard monitor for self-supervised training: no training, one matmul.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from cssl_edu._validation import check_matrix, check_temperature


@torch.no_grad()
def knn_predict(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    *,
    k: int = 200,
    temperature: float = 0.1,
    num_classes: int | None = None,
    chunk_size: int = 1024,
) -> Tensor:
    """Predict labels (M,) for ``test_features`` (M, D) from ``train_features`` (N, D), ``train_labels`` (N,).

    Test features are processed ``chunk_size`` at a time, so memory stays O(chunk · N).
    Unlabeled training rows (label < 0) are ignored. ``k`` is clipped to N.
    """
    check_matrix(train_features, "train_features")
    check_matrix(test_features, "test_features")
    check_temperature(temperature)
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            f"train and test features must have the same dimension, got {train_features.shape[1]} "
            f"and {test_features.shape[1]}."
        )
    if train_labels.shape != (train_features.shape[0],):
        raise ValueError(
            f"train_labels must have shape ({train_features.shape[0]},), got {tuple(train_labels.shape)}."
        )
    keep = train_labels >= 0
    if not bool(keep.all()):
        train_features, train_labels = train_features[keep], train_labels[keep]
    if train_labels.numel() == 0:
        raise ValueError("no labelled training features: kNN needs labels (label ≥ 0).")
    if k < 1:
        raise ValueError(f"k must be ≥ 1, got {k}.")
    k = min(k, train_features.shape[0])
    c = int(num_classes if num_classes is not None else int(train_labels.max()) + 1)
    device = test_features.device
    bank = F.normalize(train_features.to(device).float(), dim=1)
    labels = train_labels.to(device)
    preds = []
    for start in range(0, test_features.shape[0], chunk_size):
        q = F.normalize(test_features[start : start + chunk_size].float(), dim=1)
        sim, idx = (q @ bank.T).topk(k, dim=1)  # (m, k)
        weights = (sim / temperature).exp()
        votes = torch.zeros(q.shape[0], c, device=device).scatter_add_(1, labels[idx], weights)
        preds.append(votes.argmax(1))
    return torch.cat(preds)


def knn_accuracy(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    **kwargs: float | int | None,
) -> float:
    """Top-1 accuracy in [0, 1] of :func:`knn_predict` (keyword arguments are passed on)."""
    pred = knn_predict(train_features, train_labels, test_features, **kwargs)  # type: ignore[arg-type]
    return float((pred.cpu() == test_labels.cpu()).float().mean())

"""Weighted k-nearest-neighbour classification on L2-normalised features (Wu et al. 2018).

For a test feature q and the k most cosine-similar training features x_j (similarity s_j),
class c gets the vote Σ_{j: y_j = c} exp(s_j / T); the prediction is the arg-max class.
This is the standard monitor for self-supervised training: no training, one matmul.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from cssl_edu._validation import check_finite, check_matrix, check_positive_int, check_temperature


def check_labels(labels: Tensor, n: int, name: str) -> None:
    """Raise ``ValueError`` unless ``labels`` is an integer tensor of shape ``(n,)``.

    A shape of ``(1,)`` or ``(n, 1)`` would broadcast against the predictions and give a
    meaningless accuracy, so it is refused rather than reshaped.
    """
    if not isinstance(labels, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape ({n},), got {type(labels).__name__}.")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer class ids, got dtype {labels.dtype}; use .long().")
    if tuple(labels.shape) != (n,):
        raise ValueError(
            f"{name} must have shape ({n},) (one label per feature row), got {tuple(labels.shape)}; "
            "flatten it with .reshape(-1) if it holds one label per row."
        )


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
    Unlabeled training rows (label < 0) are ignored. ``k`` is clipped to N. The votes are
    counted over the distinct training labels (C' of them), not over ``max(label) + 1``
    slots, so sparse label ids cost nothing; ties go to the smaller label.
    """
    check_matrix(train_features, "train_features")
    check_matrix(test_features, "test_features")
    check_temperature(temperature)
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int ≥ 1, got {k!r}.")
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            f"train and test features must have the same dimension, got {train_features.shape[1]} "
            f"and {test_features.shape[1]}."
        )
    check_labels(train_labels, train_features.shape[0], "train_labels")
    check_finite(train_features, "train_features")
    check_finite(test_features, "test_features")
    keep = train_labels >= 0
    if not bool(keep.all()):
        train_features, train_labels = train_features[keep], train_labels[keep]
    if train_labels.numel() == 0:
        raise ValueError("no labelled training features: kNN needs labels (label ≥ 0).")
    if num_classes is not None and int(train_labels.max()) >= int(num_classes):
        raise ValueError(f"num_classes = {num_classes}, but a training label is {int(train_labels.max())}.")
    k = min(k, train_features.shape[0])
    device = test_features.device
    classes, dense = torch.unique(train_labels.to(device), return_inverse=True)  # sorted ids, (N,) in [0, C')
    bank = F.normalize(train_features.to(device).float(), dim=1)
    preds = []
    for start in range(0, test_features.shape[0], chunk_size):
        q = F.normalize(test_features[start : start + chunk_size].float(), dim=1)
        sim, idx = (q @ bank.T).topk(k, dim=1)  # (m, k)
        weights = (sim / temperature).exp()
        votes = torch.zeros(q.shape[0], classes.numel(), device=device).scatter_add_(1, dense[idx], weights)
        preds.append(classes[votes.argmax(1)])
    return torch.cat(preds)


def knn_accuracy(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    **kwargs: float | int | None,
) -> float:
    """Top-1 accuracy in [0, 1] of :func:`knn_predict` (keyword arguments are passed on).

    ``test_labels`` must have shape (M,), one per row of ``test_features``.
    """
    if isinstance(test_features, Tensor) and test_features.dim() == 2:
        check_labels(test_labels, test_features.shape[0], "test_labels")
    pred = knn_predict(train_features, train_labels, test_features, **kwargs)  # type: ignore[arg-type]
    return float((pred.cpu() == test_labels.cpu()).float().mean())

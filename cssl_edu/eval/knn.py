"""Weighted k-nearest-neighbour classification on L2-normalised features (Wu et al. 2018).

For a test feature q and the k most cosine-similar training features x_j (similarity s_j),
class c gets the vote Σ_{j: y_j = c} exp(s_j / T); the prediction is the arg-max class.
This is the standard monitor for self-supervised training: no training, one matmul.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor

from cssl_edu._validation import as_labels, check_finite, check_matrix, check_positive_int, check_temperature


def labelled_test_rows(
    train_labels: Tensor, test_labels: Tensor, caller: str
) -> tuple[Tensor | None, Tensor]:
    """The test rows an accuracy can be computed on, and their labels, for ``caller``.

    Both arguments are int64 label vectors (already checked by
    :func:`~cssl_edu._validation.as_labels`). Test rows labelled −1 (unlabelled) are left out
    with a ``UserWarning`` that says how many; a test class that no labelled training row has
    raises ``ValueError`` naming it, since the classifier could never predict it and the accuracy
    would be silently capped. Costs a ``unique`` and an ``isin`` over the labels.

    Returns:
        ``(keep, labels)``: ``keep`` is ``None`` when every row is kept, else a bool mask (M,).
    """
    train_classes = torch.unique(train_labels[train_labels >= 0].to(test_labels.device))
    if train_classes.numel() == 0:
        raise ValueError(
            f"{caller}: no labelled training row (every train_labels entry is −1); it needs labels ≥ 0."
        )
    keep: Tensor | None = None
    unlabelled = test_labels < 0
    n_unlabelled = int(unlabelled.sum())
    if n_unlabelled:
        if n_unlabelled == test_labels.numel():
            raise ValueError(
                f"{caller}: every test label is −1 (unlabelled), so there is no accuracy to compute; "
                "pass the labelled test split."
            )
        warnings.warn(
            f"{caller}: left out {n_unlabelled} of {test_labels.numel()} test rows labelled −1 (unlabelled); "
            "the accuracy is over the other rows.",
            UserWarning,
            stacklevel=3,
        )
        keep = ~unlabelled
        test_labels = test_labels[keep]
    unseen = ~torch.isin(test_labels, train_classes)
    if bool(unseen.any()):
        missing = torch.unique(test_labels[unseen]).tolist()
        raise ValueError(
            f"{caller}: test_labels hold class(es) {missing[:10]}{' …' if len(missing) > 10 else ''} that no "
            f"labelled training row has ({int(unseen.sum())} test rows), so the classifier could never predict "
            "them; give the training features every test class, or leave those test rows out."
        )
    return keep, test_labels


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

    Features: any float dtype (compared in float32), finite; train and test may sit on
    different devices (the bank is moved to the test features' device). ``train_labels``: int
    class ids ≥ 0, −1 = unlabelled (those rows are left out of the bank); a list of ints is
    accepted.
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
    train_labels = as_labels(train_labels, train_features.shape[0], "train_labels")
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

    ``test_labels``: (M,) int class ids, one per row of ``test_features`` (a list is accepted).
    Rows labelled −1 (unlabelled) are left out with a ``UserWarning`` saying how many; a test
    class that no labelled training row has raises ``ValueError`` naming it (kNN could never
    predict it). Training rows labelled −1 are left out of the bank, as in :func:`knn_predict`.
    """
    check_matrix(train_features, "train_features")
    check_matrix(test_features, "test_features")
    train_labels = as_labels(train_labels, train_features.shape[0], "train_labels")
    test_labels = as_labels(test_labels, test_features.shape[0], "test_labels")
    keep, test_labels = labelled_test_rows(train_labels, test_labels, "knn_accuracy")
    if keep is not None:
        test_features = test_features[keep.to(test_features.device)]
    pred = knn_predict(train_features, train_labels, test_features, **kwargs)  # type: ignore[arg-type]
    return float((pred.cpu() == test_labels.cpu()).float().mean())

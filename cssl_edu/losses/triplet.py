"""Distance-based losses: the margin contrastive loss and the triplet loss.

- **Margin contrastive** (Hadsell, Chopra & LeCun 2006): for a pair at Euclidean distance
  d with y = 1 if similar, L = y·½d² + (1 − y)·½·max(0, m − d)²: pull similar pairs
  together, push dissimilar ones apart until they are m away.
- **Triplet** (Schroff, Kalenichenko & Philbin 2015, FaceNet): for anchor a, positive p
  (same label) and negative n, L = max(0, d(a, p) − d(a, n) + m).
  *batch-all* averages over every valid triplet of the batch whose loss is > 0;
  *batch-hard* (Hermans, Beyer & Leibe 2017) takes, per anchor, the farthest positive and
  the closest negative and averages over anchors that have both.
  *semi-hard* (FaceNet's own mining, §3.2): for each anchor-positive pair, the closest
  negative that is still *farther* than the positive, d(a, n) > d(a, p) — the negatives that
  lie inside the margin are the ones that give a gradient without being so hard that they
  stall training early on; when no negative is farther than the positive, the farthest
  negative is used (as TensorFlow Addons' ``triplet_semihard_loss`` does). The loss is
  averaged over every anchor-positive pair whose anchor has a negative.

Distances come from one (N, N) matrix; batch-all forms the (N, N, N) triplet tensor, which
is fine at course batch sizes (N = 256 → 16.8 M entries) but cubic in N.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cssl_edu._validation import (
    as_bool_mask,
    as_labels,
    check_finite,
    check_matrix,
    check_same_device,
    check_same_shape,
)

_EPS = 1e-12


def _safe_sqrt(sq: Tensor) -> Tensor:
    """√x with a zero (not infinite) gradient at x = 0."""
    ok = sq > _EPS
    return torch.where(ok, torch.sqrt(torch.where(ok, sq, torch.ones_like(sq))), torch.zeros_like(sq))


def _check_margin(margin: float) -> float:
    try:
        m = float(margin)
    except (TypeError, ValueError):
        m = float("nan")
    if not (math.isfinite(m) and m > 0):  # also refuses NaN, whose comparisons are all False
        raise ValueError(f"margin must be a finite number > 0, got {margin!r}.")
    return m


def pairwise_distances(x: Tensor, squared: bool = False) -> Tensor:
    """(N, d) → (N, N) Euclidean (or squared) distances, exactly 0 on the diagonal.

    Raises ``ValueError`` for NaN/inf input (``√`` here maps tiny squares to 0, which would
    otherwise turn a NaN distance into a finite 0).
    """
    check_matrix(x, "x")
    check_finite(x, "x")
    sq = (x.unsqueeze(1) - x.unsqueeze(0)).pow(2).sum(-1)
    return sq if squared else _safe_sqrt(sq)


def margin_contrastive_loss(x1: Tensor, x2: Tensor, same: Tensor, margin: float = 1.0) -> Tensor:
    """Hadsell et al. 2006. x1, x2: (N, d) pairs; same: (N,) 1/True for similar pairs. Mean over pairs.

    x1, x2: float, finite, one device (different float dtypes are promoted). ``same``: bool, or
    0/1 integers or floats (anything else is refused).

    Example:
        >>> a, b = torch.zeros(2, 2), torch.tensor([[0.0, 0.5], [0.0, 0.5]])
        >>> float(margin_contrastive_loss(a, b, torch.tensor([1, 0]), margin=1.0))
        0.125
    """
    check_matrix(x1, "x1")
    check_matrix(x2, "x2")
    check_same_shape(x1, x2, "x1", "x2")
    check_same_device(("x1", x1), ("x2", x2))
    same = as_bool_mask(same, (x1.shape[0],), "same", device=x1.device)
    margin = _check_margin(margin)
    check_finite(x1, "x1")
    check_finite(x2, "x2")
    d = _safe_sqrt((x1 - x2).pow(2).sum(1))
    y = same.to(d.dtype)
    return (y * 0.5 * d.pow(2) + (1 - y) * 0.5 * F.relu(margin - d).pow(2)).mean()


def triplet_loss(
    embeddings: Tensor,
    labels: Tensor,
    margin: float = 0.2,
    mining: str = "batch_all",
    squared: bool = False,
    normalize: bool = False,
) -> Tensor:
    """Triplet loss over all triplets of a batch (``batch_all``) or the hardest per anchor (``batch_hard``).

    Args:
        embeddings: (N, d) float, finite, N ≥ 2.
        labels: (N,) integer labels (a list is accepted); every id is a class (−1 is not special here).
        margin: m > 0.
        mining: ``"batch_all"`` (mean over the triplets with positive loss; 0 when there are
            none), ``"batch_hard"`` (mean over anchors with a positive and a negative) or
            ``"semi_hard"`` (mean over anchor-positive pairs, each with its semi-hard negative).
        squared: use squared Euclidean distances.
        normalize: L2-normalise the embeddings first.

    Returns:
        a scalar tensor.
    """
    check_matrix(embeddings, "embeddings", min_rows=2)
    check_finite(embeddings, "embeddings")
    labels = as_labels(labels, embeddings.shape[0], "labels", device=embeddings.device)
    margin = _check_margin(margin)
    if mining not in ("batch_all", "batch_hard", "semi_hard"):
        raise ValueError(f"mining must be 'batch_all', 'batch_hard' or 'semi_hard', got {mining!r}.")
    x = F.normalize(embeddings, dim=1) if normalize else embeddings
    dist = pairwise_distances(x, squared)
    same = labels.view(-1, 1) == labels.view(1, -1)
    eye = torch.eye(len(labels), dtype=torch.bool, device=x.device)
    pos_mask, neg_mask = same & ~eye, ~same
    if mining == "batch_all":
        valid = pos_mask.unsqueeze(2) & neg_mask.unsqueeze(1)  # (a, p, n)
        losses = F.relu(dist.unsqueeze(2) - dist.unsqueeze(1) + margin)
        active = valid & (losses > 0)
        count = active.sum()
        if count == 0:
            return (dist * 0).sum()  # keeps the graph; zero loss and gradient
        return torch.where(active, losses, torch.zeros_like(losses)).sum() / count
    if mining == "semi_hard":
        return _semi_hard(dist, pos_mask, neg_mask, margin)
    hardest_pos = torch.where(pos_mask, dist, torch.full_like(dist, float("-inf"))).amax(1)
    hardest_neg = torch.where(neg_mask, dist, torch.full_like(dist, float("inf"))).amin(1)
    ok = pos_mask.any(1) & neg_mask.any(1)
    if not bool(ok.any()):
        raise ValueError("batch_hard needs at least one anchor with a positive and a negative in the batch.")
    return F.relu(hardest_pos[ok] - hardest_neg[ok] + margin).mean()


def _semi_hard(dist: Tensor, pos_mask: Tensor, neg_mask: Tensor, margin: float) -> Tensor:
    """FaceNet's semi-hard mining over an (N, N) distance matrix; see the module docstring."""
    d_ap = dist.unsqueeze(2)  # (a, p, 1)
    d_an = dist.unsqueeze(1)  # (a, 1, n)
    farther = neg_mask.unsqueeze(1) & (d_an > d_ap)  # (a, p, n): negatives beyond the positive
    closest_farther = torch.where(farther, d_an, torch.full_like(d_an, float("inf"))).amin(2)  # (a, p)
    farthest = torch.where(neg_mask, dist, torch.full_like(dist, float("-inf"))).amax(
        1, keepdim=True
    )  # (a, 1)
    chosen = torch.where(farther.any(2), closest_farther, farthest)  # (a, p)
    valid = pos_mask & neg_mask.any(1, keepdim=True)
    if not bool(valid.any()):
        raise ValueError("semi_hard needs at least one anchor with a positive and a negative in the batch.")
    losses = F.relu(dist - chosen + margin)
    return losses[valid].mean()


class TripletLoss(nn.Module):
    """Module form of :func:`triplet_loss`."""

    def __init__(
        self, margin: float = 0.2, mining: str = "batch_all", squared: bool = False, normalize: bool = False
    ) -> None:
        super().__init__()
        if mining not in ("batch_all", "batch_hard", "semi_hard"):
            raise ValueError(f"mining must be 'batch_all', 'batch_hard' or 'semi_hard', got {mining!r}.")
        self.margin, self.mining = _check_margin(margin), mining
        self.squared, self.normalize = bool(squared), bool(normalize)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return triplet_loss(embeddings, labels, self.margin, self.mining, self.squared, self.normalize)


class MarginContrastiveLoss(nn.Module):
    """Module form of :func:`margin_contrastive_loss`."""

    def __init__(self, margin: float = 1.0) -> None:
        super().__init__()
        self.margin = _check_margin(margin)

    def forward(self, x1: Tensor, x2: Tensor, same: Tensor) -> Tensor:
        return margin_contrastive_loss(x1, x2, same, self.margin)

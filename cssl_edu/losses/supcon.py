"""Supervised contrastive loss, L_out form (Khosla et al. 2020, eq. 2).

Stack the V views of N images into A = N·V anchors with L2-normalised features z_a. For
anchor a, P(a) is the set of its positives (every other row with the same label — other
views of the same image included), and every other row is in its denominator:

    L = (1/|A'|) Σ_{a ∈ A'} −(1/|P(a)|) Σ_{p ∈ P(a)} log [ exp(z_a·z_p/τ) / Σ_{k ≠ a} exp(z_a·z_k/τ) ]

where A' holds the anchors with at least one positive (an anchor whose label appears once
in a single-view batch has none and is left out — no 0/0). Without labels, P(a) is the
other views of the same image and, for V = 2, L is exactly NT-Xent.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cssl_edu._validation import (
    as_bool_mask,
    as_labels,
    check_finite,
    check_has_data,
    check_temperature,
    l2_normalize,
)


def supcon(
    features: Tensor, labels: Tensor | None = None, temperature: float = 0.1, mask: Tensor | None = None
) -> Tensor:
    """SupCon L_out over the N·V anchors of a batch.

    Args:
        features: (N, V, d) — V views of N images (normalised here); N ≥ 2, V ≥ 1, d ≥ 1, any
            float dtype, finite.
        labels: optional (N,) integer class labels (a tensor, or a list of ints); −1 marks an
            unlabeled image, whose only positives are its own other views (as in SimCLR), never
            other unlabeled images.
        temperature: τ > 0 (0.1 in the paper).
        mask: optional (N, N) positive mask, mask[i, j] true when image j is a positive for
            image i (not together with ``labels``); bool, or 0/1 integers or floats. With
            neither, each image is its own class.

    Returns:
        scalar float32 (float64 for float64 inputs).

    Raises:
        ValueError: bad shapes, τ ≤ 0, non-finite input, or no anchor has any positive.

    Example:
        >>> f, y = torch.randn(8, 2, 16), torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
        >>> supcon(f, y, temperature=0.1).shape
        torch.Size([])
    """
    if not isinstance(features, Tensor) or features.dim() != 3:
        shape = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
        raise ValueError(
            f"features must have shape (N, V, d) (images, views, dim), got {shape}; for one view use f.unsqueeze(1)."
        )
    check_has_data(features, "features")
    if not features.is_floating_point():
        raise ValueError(f"features must be a floating-point tensor, got dtype {features.dtype}.")
    n, v, d = features.shape
    if n < 2:
        raise ValueError(
            f"SupCon needs at least 2 images in features (N ≥ 2) so every anchor has a negative, got N = {n}; "
            "with one image the loss is a meaningless constant."
        )
    if v < 1 or d < 1:
        raise ValueError(
            f"features needs at least one view and a non-empty embedding dimension, got shape {tuple(features.shape)}."
        )
    t = check_temperature(temperature)
    check_finite(features, "features")
    if labels is not None and mask is not None:
        raise ValueError("pass either labels or mask, not both.")
    if labels is not None:
        labels = as_labels(labels, n, "labels", device=features.device)
        # −1 = unlabeled: such an image is its own class (its positives are its other views only)
        same = (labels.view(-1, 1) == labels.view(1, -1)) & (labels.view(-1, 1) >= 0)
        same |= torch.eye(n, dtype=torch.bool, device=labels.device)
    elif mask is not None:
        same = as_bool_mask(mask, (n, n), "mask", device=features.device)
    else:
        same = torch.eye(n, dtype=torch.bool, device=features.device)

    z = l2_normalize(features.transpose(0, 1).reshape(v * n, -1), dim=1)  # row v·N + i is view v of image i
    logits = (z * (1.0 / t)) @ z.T
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    eye = torch.eye(v * n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(eye, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pos = same.repeat(v, v) & ~eye  # (VN, VN)
    n_pos = pos.sum(1)
    has_pos = n_pos > 0
    if not bool(has_pos.any()):
        raise ValueError(
            "no anchor has a positive: every label appears once and there is a single view. "
            "Use two or more views, or batches with repeated labels."
        )
    mean_log_prob = torch.where(pos, log_prob, torch.zeros_like(log_prob)).sum(1)[has_pos] / n_pos[has_pos]
    return -mean_log_prob.mean()


class SupCon(nn.Module):
    """Module form of :func:`supcon`: ``SupCon(0.1)(features, labels)``."""

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        self.temperature = check_temperature(temperature)

    def forward(self, features: Tensor, labels: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        return supcon(features, labels, self.temperature, mask)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"

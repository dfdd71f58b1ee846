"""Geometry of the embedding: alignment, uniformity (Wang & Isola 2020) and a collapse check.

For L2-normalised embeddings,

- alignment  ℓ_align = E_{(x,x⁺)} ‖f(x) − f(x⁺)‖₂^α              (lower: positives closer)
- uniformity ℓ_unif  = log E_{x,y} exp(−t ‖f(x) − f(y)‖₂²)        (lower: spread over the sphere)
- collapse: the per-dimension std of normalised features. Spread uniformly over the unit
  sphere in d dimensions it is ≈ 1/√d; a collapsed encoder (all outputs equal) gives 0.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from cssl_edu._validation import check_finite, check_matrix, check_number, check_same_device, check_same_shape


def alignment(z1: Tensor, z2: Tensor, alpha: float = 2.0) -> Tensor:
    """ℓ_align of positive pairs (z1[i], z2[i]); z1, z2 (N, d) float, finite, one device; α > 0. Scalar float32."""
    check_matrix(z1, "z1")
    check_matrix(z2, "z2")
    check_same_shape(z1, z2, "z1", "z2")
    check_same_device(("z1", z1), ("z2", z2))
    alpha = check_number(alpha, "alpha", low=0, low_open=True)
    check_finite(z1, "z1")
    check_finite(z2, "z2")
    return (F.normalize(z1.float(), dim=1) - F.normalize(z2.float(), dim=1)).norm(dim=1).pow(alpha).mean()


def uniformity(z: Tensor, t: float = 2.0) -> Tensor:
    """ℓ_unif over all distinct pairs of rows of z (N, d), normalised inside. Scalar tensor.

    Computed as logsumexp over the N(N−1)/2 pairs minus log of their count (stable).
    """
    check_matrix(z, "z", min_rows=2)
    t = check_number(t, "t", low=0, low_open=True)
    check_finite(z, "z")
    zn = F.normalize(z.float(), dim=1)
    sq = torch.pdist(zn).pow(2)
    return torch.logsumexp(-t * sq, dim=0) - math.log(sq.numel())


def collapse_std(z: Tensor) -> dict[str, float]:
    """Mean per-dimension std of normalised z (N, d), next to the 1/√d of a well-spread embedding.

    Returns ``{"std": s, "reference": 1/√d, "ratio": s·√d}``; a ratio near 0 means collapse.
    """
    check_matrix(z, "z", min_rows=2)
    check_finite(z, "z")
    s = float(F.normalize(z.float(), dim=1).std(dim=0).mean())
    ref = 1.0 / math.sqrt(z.shape[1])
    return {"std": s, "reference": ref, "ratio": s / ref}

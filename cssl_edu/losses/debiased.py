"""Debiased contrastive loss (Chuang, Robinson, Lin, Torralba & Jegelka 2020).

In self-supervised learning some "negatives" share the anchor's class (false negatives).
With class prior τ⁺ (the chance a random sample shares the anchor's class), the debiased
estimate of the true negatives' term, for anchor i with positive p and the Q = 2N − 2 other
samples, is

    Ng_i = max( (Σ_{k ∉ {i,p}} e^{s_ik/τ} − τ⁺ Q e^{s_ip/τ}) / (1 − τ⁺),  Q e^{−1/τ} )
    ℓ_i  = −log( e^{s_ip/τ} / (e^{s_ip/τ} + Ng_i) ),     L = mean over the 2N anchors

The floor Q e^{−1/τ} is the smallest value the sum can take (every cosine ≥ −1). With
τ⁺ = 0 it is exactly NT-Xent. Computed in log space (log-sum-exp, log1p), so no overflow at
small τ.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from cssl_edu._validation import check_temperature, l2_normalize
from cssl_edu.losses.nt_xent import _check, positive_index


def _check_tau_plus(tau_plus: float) -> float:
    try:
        tp = float(tau_plus)
    except (TypeError, ValueError):
        tp = float("nan")
    if not 0 <= tp < 1:  # also refuses NaN
        raise ValueError(
            f"tau_plus (the class prior τ⁺, e.g. 0.1 for 10 balanced classes) must be in [0, 1), got {tau_plus!r}."
        )
    return tp


def debiased_nt_xent(z1: Tensor, z2: Tensor, temperature: float = 0.5, tau_plus: float = 0.1) -> Tensor:
    """Debiased NT-Xent. z1, z2: (N, d) two views; ``tau_plus`` ∈ [0, 1) the class prior τ⁺.

    Example:
        >>> z1, z2 = torch.randn(16, 8), torch.randn(16, 8)
        >>> debiased_nt_xent(z1, z2, 0.5, tau_plus=0.1).shape
        torch.Size([])
    """
    t = _check(z1, z2, temperature)
    tau_plus = _check_tau_plus(tau_plus)
    n = z1.shape[0]
    m, q_count = 2 * n, 2 * n - 2
    if q_count < 1:
        raise ValueError("the debiased loss needs N ≥ 2 pairs.")
    z = l2_normalize(torch.cat([z1, z2]), dim=1)
    logits = (z * (1.0 / t)) @ z.T
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    rows = torch.arange(m, device=z.device)
    pos_idx = positive_index(n, z.device)
    pos = logits[rows, pos_idx]
    neg = logits.clone()
    neg[rows, rows] = float("-inf")
    neg[rows, pos_idx] = float("-inf")
    lse_neg = torch.logsumexp(neg, dim=1)
    log_floor = math.log(q_count) - 1.0 / t
    if tau_plus > 0:
        # log(Σneg − τ⁺Q e^{pos}) = lse_neg + log(1 − e^r),  r = log(τ⁺Q) + pos − lse_neg.
        # Only r < 0 is valid (else the estimate is ≤ 0 and the floor applies). Never form e^r
        # itself: at small τ it overflows, and 0·∞ in the backward of `where` gives NaN
        # gradients. log(1 − e^r) = log(−expm1(r)) is exact, and r is replaced by a harmless
        # −1 where it is invalid, so the unused branch has a finite value and gradient.
        r = math.log(tau_plus * q_count) + pos - lse_neg
        valid = r < 0
        safe_r = torch.where(valid, r, torch.full_like(r, -1.0))
        est = lse_neg + torch.log(-torch.expm1(safe_r)) - math.log(1.0 - tau_plus)
        est = torch.where(valid, est, torch.full_like(est, float("-inf")))
    else:
        est = lse_neg
    log_ng = torch.clamp(est, min=log_floor)
    return (torch.logaddexp(pos, log_ng) - pos).mean()


class DebiasedNTXent(nn.Module):
    """Module form of :func:`debiased_nt_xent`."""

    def __init__(self, temperature: float = 0.5, tau_plus: float = 0.1) -> None:
        super().__init__()
        self.temperature, self.tau_plus = check_temperature(temperature), _check_tau_plus(tau_plus)

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        return debiased_nt_xent(z1, z2, self.temperature, self.tau_plus)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, tau_plus={self.tau_plus}"

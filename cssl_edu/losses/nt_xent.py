"""NT-Xent, the normalised temperature-scaled cross-entropy of SimCLR (Chen et al. 2020).

For a batch of N images, each seen in two views, stack the projections of both views as
z = [z1; z2] ∈ R^{2N×d} and L2-normalise every row, so s_ik = z_i·z_k is a cosine
similarity. Image i's two views sit at rows i and i + N; write p(i) for the row of the
other view. Every row is an anchor; its positive is p(i) and the other 2N − 2 rows are its
negatives:

    ℓ_i = −log [ exp(s_{i,p(i)}/τ) / Σ_{k≠i} exp(s_ik/τ) ]
        = −s_{i,p(i)}/τ + logsumexp_{k≠i}(s_ik/τ)

    L = (1 / 2N) Σ_{i=1}^{2N} ℓ_i

That is a (2N)-way classification per anchor with logits s_i·/τ, the diagonal (the anchor
itself) removed, and the label p(i) — so it is computed as one ``cross_entropy`` over the
(2N, 2N) logit matrix with the diagonal set to −inf, which uses log-sum-exp and is stable
at any τ. Cost: one (2N × d) @ (d × 2N) matmul; memory O(N²) (see
:func:`cssl_edu.losses.nt_xent_chunked` for O(N·chunk)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cssl_edu._validation import (
    check_finite,
    check_matrix,
    check_same_device,
    check_same_shape,
    check_temperature,
    l2_normalize,
)


def _check(z1: Tensor, z2: Tensor, temperature: float) -> float:
    check_matrix(z1, "z1")
    check_matrix(z2, "z2")
    check_same_shape(z1, z2, "z1", "z2")
    check_same_device(("z1", z1), ("z2", z2))
    if z1.shape[0] < 2:
        raise ValueError(
            f"NT-Xent needs at least 2 pairs (N ≥ 2) so every anchor has a negative, got N = {z1.shape[0]}."
        )
    t = check_temperature(temperature)
    check_finite(z1, "z1")
    check_finite(z2, "z2")
    return t


def positive_index(n: int, device: torch.device | str | None = None) -> Tensor:
    """p(i) for the 2N stacked rows: [N, …, 2N−1, 0, …, N−1] (int64, shape (2N,))."""
    idx = torch.arange(2 * n, device=device)
    return (idx + n) % (2 * n)


def nt_xent(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    """SimCLR's NT-Xent loss over the 2N anchors of a batch of N pairs.

    Args:
        z1: (N, d) projections of the first views (any scale; normalised here), N ≥ 2, d ≥ 1;
            float16, bfloat16, float32 or float64, finite.
        z2: (N, d) projections of the second views; row i is the positive of z1's row i. Same
            device as z1; a different float dtype is promoted to the common one (as ``torch.cat``).
        temperature: τ > 0. Small τ sharpens the softmax onto the hardest negatives.

    Returns:
        A scalar float32 tensor (float64 for float64 inputs): the mean of ℓ_i over 2N anchors.

    Under autocast the similarity matmul runs in the autocast dtype (bf16/fp16) and the
    log-sum-exp in float32.

    Example:
        >>> z1, z2 = torch.randn(8, 16), torch.randn(8, 16)
        >>> loss = nt_xent(z1, z2, temperature=0.5)
        >>> loss.shape, bool(loss > 0)
        (torch.Size([]), True)
    """
    t = _check(z1, z2, temperature)
    n = z1.shape[0]
    z = l2_normalize(torch.cat([z1, z2]), dim=1)  # float32 inside: safe for float16 inputs
    # scale one side by 1/τ: N·d multiplications instead of (2N)² for dividing the logits
    logits = (z * (1.0 / t)) @ z.T  # (2N, 2N)
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    # remove each anchor from its own denominator; matmul's backward needs its inputs, not
    # its output, so the diagonal can be written in place
    logits.diagonal().fill_(float("-inf"))
    return F.cross_entropy(logits, positive_index(n, logits.device))


class NTXent(nn.Module):
    """Module form of :func:`nt_xent`.

    Example:
        >>> criterion = NTXent(temperature=0.2)
        >>> criterion(torch.randn(4, 8), torch.randn(4, 8)).ndim
        0
    """

    def __init__(self, temperature: float = 0.5) -> None:
        super().__init__()
        self.temperature = check_temperature(temperature)

    def forward(self, z1: Tensor, z2: Tensor) -> Tensor:
        return nt_xent(z1, z2, self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"

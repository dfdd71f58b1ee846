"""NT-Xent with O(N·d + chunk·N) memory: the same loss and gradients as :func:`nt_xent`,
without ever holding the (2N × 2N) similarity matrix.

With z the 2N L2-normalised rows, logits ℓ_ik = z_i·z_k / τ (k ≠ i) and p(i) the positive,

    L = (1/2N) Σ_i [ lse_i − ℓ_{i,p(i)} ],   lse_i = log Σ_{k≠i} exp ℓ_ik

**Forward**, a block of c rows at a time: compute the (c × 2N) logits, keep only their
row log-sum-exps lse (2N numbers) and the positive logits, drop the block.

**Backward**: with P_ik = exp(ℓ_ik − lse_i) (0 on the diagonal) and Y the one-hot of p(i),
∂L/∂ℓ = G = (P − Y)/2N, and since ℓ_ik is bilinear in z,

    ∂L/∂z = (G z + Gᵀ z) / τ

Each block recomputes its c rows of P from z and lse, adds G_C z to its own rows and
G_Cᵀ z_C to all rows. Peak extra memory is one (c × 2N) block, so a batch of 32,768 pairs
(a 65,536² matrix: 16 GiB in float32) needs ~256 MiB per 1,024-row block. The price is a
second matmul pass in the backward (about 1.5× the dense form's time).

The computation runs in float32 (or float64 for float64 inputs), also under autocast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from cssl_edu._validation import check_positive_int, common_float_dtype
from cssl_edu.losses.nt_xent import _check, positive_index


class _ChunkedNTXent(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: Tensor, inv_t: float, chunk: int) -> Tensor:  # type: ignore[override]
        m = z.shape[0]  # 2N
        pos = positive_index(m // 2, z.device)
        lse = torch.empty(m, dtype=z.dtype, device=z.device)
        pos_logit = (z * z[pos]).sum(1) * inv_t
        for s in range(0, m, chunk):
            e = min(s + chunk, m)
            block = (z[s:e] * inv_t) @ z.T  # (c, 2N)
            block[torch.arange(e - s, device=z.device), torch.arange(s, e, device=z.device)] = float("-inf")
            lse[s:e] = torch.logsumexp(block, dim=1)
        ctx.save_for_backward(z, lse)
        ctx.inv_t, ctx.chunk = inv_t, chunk
        return (lse - pos_logit).mean()

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[override]
        z, lse = ctx.saved_tensors
        inv_t, chunk = ctx.inv_t, ctx.chunk
        m = z.shape[0]
        pos = positive_index(m // 2, z.device)
        grad = torch.zeros_like(z)
        scale = grad_out / m
        for s in range(0, m, chunk):
            e = min(s + chunk, m)
            rows = torch.arange(e - s, device=z.device)
            block = (z[s:e] * inv_t) @ z.T
            block[rows, torch.arange(s, e, device=z.device)] = float("-inf")
            g = torch.exp(block - lse[s:e, None])  # P for these rows, 0 on the diagonal
            g[rows, pos[s:e]] -= 1.0  # P − Y
            g *= scale * inv_t
            grad[s:e] += g @ z  # anchor side: Σ_k G_ik z_k
            grad += g.T @ z[s:e]  # candidate side: Σ_i G_ik z_i
        return grad, None, None


def nt_xent_chunked(z1: Tensor, z2: Tensor, temperature: float = 0.5, chunk_size: int = 1024) -> Tensor:
    """:func:`~cssl_edu.losses.nt_xent` computed ``chunk_size`` rows at a time (same value and gradients).

    Args:
        z1, z2: (N, d) projections of the two views (normalised here), N ≥ 2, finite, on one
            device; any float dtypes (computed in their common dtype, at least float32).
        temperature: τ > 0.
        chunk_size: rows of the similarity matrix held at once; memory is O(chunk_size · 2N).

    Returns:
        scalar float32 (float64 for float64 inputs).

    Example:
        >>> z1, z2 = torch.randn(300, 32), torch.randn(300, 32)
        >>> from cssl_edu.losses import nt_xent
        >>> bool(torch.allclose(nt_xent_chunked(z1, z2, 0.2, chunk_size=128), nt_xent(z1, z2, 0.2), atol=1e-5))
        True
    """
    t = _check(z1, z2, temperature)
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    dtype = torch.promote_types(common_float_dtype(z1, z2), torch.float32)  # fp16/bf16 → fp32
    with torch.autocast(z1.device.type, enabled=False):
        z = F.normalize(torch.cat([z1, z2]).to(dtype), dim=1)
        return _ChunkedNTXent.apply(z, 1.0 / t, int(chunk_size))

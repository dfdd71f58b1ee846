"""InfoNCE with a shared bank of negatives: the MoCo loss (He et al. 2020; van den Oord et al. 2018).

For query q_n, its positive key k_n, K negatives {n_j} shared by every query (a queue or a
memory bank) and optionally M extra negatives {e_nm} of its own (MoCHi's synthetic ones),
all L2-normalised:

    logits_n = [ q_n·k_n, q_n·n_1, …, q_n·n_K, q_n·e_n1, …, q_n·e_nM ] / τ
    L = (1/N) Σ_n −log softmax(logits_n)_0

i.e. a (1 + K + M)-way classification whose right answer is always index 0. Minimising it
maximises a lower bound on the mutual information between the views: I ≥ log(1 + K + M) − L.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cssl_edu._validation import (
    as_bool_mask,
    check_finite,
    check_matrix,
    check_same_device,
    check_same_shape,
    check_temperature,
    common_float_dtype,
    l2_normalize,
)


def info_nce(
    query: Tensor,
    key: Tensor,
    negatives: Tensor | None,
    temperature: float = 0.2,
    extra_negatives: Tensor | None = None,
    negative_mask: Tensor | None = None,
) -> Tensor:
    """MoCo's InfoNCE loss.

    Args:
        query: (N, d) queries (from the online encoder; gradients flow here).
        key: (N, d) positive keys, row n for query n (usually detached, from the momentum encoder).
        negatives: (K, d) negatives shared by all queries, or ``None`` when only
            ``extra_negatives`` are used.
        temperature: τ > 0 (MoCo v2 uses 0.2).
        extra_negatives: optional (N, M, d) negatives per query.
        negative_mask: optional (N, K) bool, True where a shared negative must be left out of
            that query's denominator (e.g. a key of the query's own image in the queue). An
            integer or float mask is accepted if it holds only 0/1.

    All embeddings must be floating point (float16/bfloat16/float32/float64), finite and on one
    device; different float dtypes are promoted to their common dtype (as ``torch.cat`` does).

    Returns:
        scalar float32 (float64 for float64 inputs): mean over the N queries.

    Example:
        >>> q, k, queue = torch.randn(8, 16), torch.randn(8, 16), torch.randn(100, 16)
        >>> info_nce(q, k, queue, temperature=0.2).shape
        torch.Size([])
    """
    check_matrix(query, "query")
    check_matrix(key, "key")
    check_same_shape(query, key, "query", "key")
    t = check_temperature(temperature)
    n, d = query.shape
    if negatives is None and extra_negatives is None:
        raise ValueError(
            "info_nce needs negatives: pass `negatives` (K, d), `extra_negatives` (N, M, d), or both."
        )
    if negatives is not None:
        check_matrix(negatives, "negatives")
        if negatives.shape[1] != d:
            raise ValueError(
                f"negatives must have the embedding dimension of query ({d}), got shape {tuple(negatives.shape)}."
            )
    if extra_negatives is not None:
        if not isinstance(extra_negatives, Tensor) or not extra_negatives.is_floating_point():
            raise ValueError(
                "extra_negatives must be a floating-point torch.Tensor of shape (N, M, d), got "
                f"{extra_negatives.dtype if isinstance(extra_negatives, Tensor) else type(extra_negatives).__name__}."
            )
        if extra_negatives.dim() != 3 or extra_negatives.shape[0] != n or extra_negatives.shape[2] != d:
            raise ValueError(
                f"extra_negatives must have shape (N, M, d) = ({n}, M, {d}), got {tuple(extra_negatives.shape)}."
            )
    named = (("query", query), ("key", key), ("negatives", negatives), ("extra_negatives", extra_negatives))
    check_same_device(*named)
    for name, x in named:
        if x is not None:
            check_finite(x, name)
    # mixed float dtypes (e.g. a float16 queue with float32 queries): use the common one, as torch.cat does
    dtype = common_float_dtype(query, key, negatives, extra_negatives)
    query, key = query.to(dtype), key.to(dtype)
    negatives = None if negatives is None else negatives.to(dtype)
    extra_negatives = None if extra_negatives is None else extra_negatives.to(dtype)

    if negative_mask is not None:
        k = None if negatives is None else negatives.shape[0]
        if negatives is None:
            raise ValueError("negative_mask masks the shared negatives (N, K), but negatives is None.")
        negative_mask = as_bool_mask(
            negative_mask, (n, negatives.shape[0]), "negative_mask", device=query.device
        )
        if extra_negatives is None or extra_negatives.shape[1] == 0:
            empty = negative_mask.all(dim=1)
            if bool(empty.any()):  # the softmax would have one class: loss 0, no gradient
                rows = empty.nonzero().flatten()[:5].tolist()
                raise ValueError(
                    f"negative_mask leaves query row(s) {rows} without any negative (every one of the K = {k} "
                    "negatives is masked), so their loss would be a meaningless 0. Use a larger queue or "
                    "bank, or mask fewer negatives."
                )
    q = l2_normalize(query) * (1.0 / t)
    parts = [(q * l2_normalize(key)).sum(-1, keepdim=True)]  # (N, 1) positive
    if negatives is not None:
        neg_logits = q @ l2_normalize(negatives).T  # (N, K)
        if negative_mask is not None:
            if neg_logits.dtype in (torch.float16, torch.bfloat16):
                neg_logits = neg_logits.float()
            neg_logits = neg_logits.masked_fill(negative_mask, float("-inf"))
        parts.append(neg_logits)
    if extra_negatives is not None:
        parts.append(torch.einsum("nd,nmd->nm", q, l2_normalize(extra_negatives)))  # (N, M)
    logits = torch.cat([p.float() if p.dtype in (torch.float16, torch.bfloat16) else p for p in parts], dim=1)
    target = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    return F.cross_entropy(logits, target)


class InfoNCE(nn.Module):
    """Module form of :func:`info_nce`: ``InfoNCE(0.2)(q, k, queue)``."""

    def __init__(self, temperature: float = 0.2) -> None:
        super().__init__()
        self.temperature = check_temperature(temperature)

    def forward(
        self, query: Tensor, key: Tensor, negatives: Tensor | None, extra_negatives: Tensor | None = None
    ) -> Tensor:
        return info_nce(query, key, negatives, self.temperature, extra_negatives)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"

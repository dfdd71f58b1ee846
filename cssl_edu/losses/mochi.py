"""MoCHi: hard negative mixing (Kalantidis et al. 2020, "Hard Negative Mixing for Contrastive Learning").

For each query q (normalised) and a bank of K negatives, rank the negatives by q·n and keep
the query's **own** top n_hard, Ñ(q). Then synthesise

- s "hard" negatives  h = normalise(α n_i + (1 − α) n_j),  α ~ U(0, 1),  n_i ≠ n_j ∈ Ñ(q)
- s' "harder" ones    h' = normalise(β q + (1 − β) n_j),   β ~ U(0, 0.5), n_j ∈ Ñ(q)

(β < 0.5 keeps the query's share below the negative's). They are appended to the query's
logits as extra negatives; no gradient flows through them. Everything is batched: one
``topk`` over the (N, K) similarities, then ``gather`` — no loop over queries.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from cssl_edu._validation import as_bool_mask, check_finite, check_matrix, check_same_device


def _rand(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> Tensor:
    dev = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=dev).to(device)


def _randint(
    high: int, shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device
) -> Tensor:
    dev = generator.device if generator is not None else device
    return torch.randint(high, shape, generator=generator, device=dev).to(device)


@torch.no_grad()
def mix_hard_negatives(
    query: Tensor,
    negatives: Tensor,
    n_hard: int,
    s: int,
    s_prime: int,
    generator: torch.Generator | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Synthetic hard negatives for every query.

    Args:
        query: (N, d) queries, any float dtype, finite.
        negatives: (K, d) negatives (the queue), on query's device (any float dtype; the mixing
            runs in float32, float64 if query is float64, and returns query's dtype).
        n_hard: how many of each query's most similar negatives to mix from (N in the paper).
        s: negatives mixed from two hard negatives each (needs n_hard ≥ 2 when s > 0).
        s_prime: negatives mixed from the query and one hard negative.
        generator: optional source of randomness (on any device).
        mask: optional (N, K) bool, True where a negative is **not** a negative of that query
            (e.g. a key of the query's own image, MoCo's ``mask_same_image``); 0/1 integers or
            floats are accepted. Masked entries
            are excluded before the top-``n_hard`` ranking, so they are never mixed; a query
            left with fewer than ``n_hard`` unmasked negatives mixes from those it has.

    Returns:
        (N, s + s_prime, d), unit-norm rows, detached: the s mixes first, then the s' ones.
    """
    check_matrix(query, "query")
    check_matrix(negatives, "negatives")
    if negatives.shape[1] != query.shape[1]:
        raise ValueError(
            f"query and negatives must share the dimension d, got {query.shape[1]} and {negatives.shape[1]}."
        )
    k = negatives.shape[0]
    n_hard = _count(n_hard, "n_hard")
    s, s_prime = _count(s, "s"), _count(s_prime, "s_prime")
    if not 1 <= n_hard <= k:
        raise ValueError(f"n_hard must be in [1, K] = [1, {k}], got {n_hard}.")
    if s > 0 and n_hard < 2:
        raise ValueError("mixing two hard negatives (s > 0) needs n_hard ≥ 2.")
    check_same_device(("query", query), ("negatives", negatives))
    check_finite(query, "query")
    check_finite(negatives, "negatives")
    n, d = query.shape
    dev = query.device
    if mask is not None:
        mask = as_bool_mask(mask, (n, k), "mask", device=dev)
    work = torch.float64 if query.dtype == torch.float64 else torch.float32
    q = F.normalize(query.to(work), dim=1)
    neg = F.normalize(negatives.to(work), dim=1)
    sim = q @ neg.T  # (N, K)
    if mask is not None:
        sim = sim.masked_fill(mask, float("-inf"))  # masked entries sort last
    hard_idx = sim.topk(n_hard, dim=1).indices  # (N, n_hard): each query's own hardest
    hard = neg[hard_idx]  # (N, n_hard, d)
    out = []
    if mask is None:  # every query has n_hard candidates
        if s > 0:
            i = _randint(n_hard, (n, s), generator, dev)
            j = (i + 1 + _randint(n_hard - 1, (n, s), generator, dev)) % n_hard  # j ≠ i
    else:  # query n has m_n = min(n_hard, its unmasked count) candidates, the first m_n of hard_idx
        m = (~mask).sum(1).clamp_max(n_hard)
        if bool((m == 0).any()):
            rows = (m == 0).nonzero().flatten()[:5].tolist()
            raise ValueError(f"mask leaves query row(s) {rows} without any negative to mix from.")
        m = m.view(n, 1)
        if s > 0:  # i uniform in [0, m), j uniform among the others (j = i only when m = 1)
            i = (_rand((n, s), generator, dev) * m).long().clamp_max(m - 1)
            off = (_rand((n, s), generator, dev) * (m - 1)).long().clamp_max((m - 2).clamp_min(0))
            j = (i + 1 + off) % m
    if s > 0:
        alpha = _rand((n, s, 1), generator, dev)
        ni = hard.gather(1, i.unsqueeze(-1).expand(n, s, d))
        nj = hard.gather(1, j.unsqueeze(-1).expand(n, s, d))
        out.append(alpha * ni + (1 - alpha) * nj)
    if s_prime > 0:
        if mask is None:
            j = _randint(n_hard, (n, s_prime), generator, dev)
        else:
            j = (_rand((n, s_prime), generator, dev) * m).long().clamp_max(m - 1)
        beta = 0.5 * _rand((n, s_prime, 1), generator, dev)
        nj = hard.gather(1, j.unsqueeze(-1).expand(n, s_prime, d))
        out.append(beta * q.unsqueeze(1) + (1 - beta) * nj)
    if not out:
        return query.new_zeros(n, 0, d)
    return F.normalize(torch.cat(out, dim=1), dim=-1).to(query.dtype)


def _count(value: object, name: str) -> int:
    """An int ≥ 0 (``n_hard``, ``s``, ``s_prime``); an integral float such as 4.0 is accepted."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an int ≥ 0, got {value!r}.")
    return value

"""SwAV's loss: equipartitioned codes from Sinkhorn-Knopp and the swapped prediction (Caron et al. 2020).

SwAV does not compare images with each other. It compares each crop with K learnable,
L2-normalised **prototypes** c_1 … c_K: for a crop with normalised projection z, the scores
are s = z·c_k ∈ [−1, 1], one row of the (B, K) matrix S of a batch.

**Codes by Sinkhorn-Knopp.** A crop's code q ∈ Δ_K (a distribution over prototypes) should
follow its scores, but if each crop simply took its best prototype all crops could pick the
same one — a collapse in which every image gets the same code and the loss is trivially
solved. SwAV asks instead for the codes of a batch to *share the prototypes out equally*:

    max_Q  Tr(Qᵀ S) + ε H(Q)   subject to  Q ≥ 0,  Q 𝟙_K = 𝟙_B / B,  Qᵀ 𝟙_B = 𝟙_K / K

(each sample carries 1/B of the mass, each prototype receives 1/K: the equipartition
constraint). The solution has the form Q = diag(u) exp(S/ε) diag(v); Sinkhorn-Knopp finds
u and v by alternately rescaling the prototype sums and the sample sums:

    Q ← exp(S/ε) / Σ exp(S/ε)                     (the total is 1)
    repeat n_iters times:
        Q_{·k} ← Q_{·k} / (K Σ_b Q_{bk})            (each prototype's mass is 1/K)
        Q_{b·} ← Q_{b·} / (B Σ_k Q_{bk})            (each sample's mass is 1/B)
    return B·Q                                     (each row is a distribution over prototypes)

After the last step every row sums to exactly 1; the prototype sums approach B/K as
``n_iters`` grows (3 iterations are enough in practice). Small ε gives sharp, nearly one-hot
codes; large ε gives codes close to uniform. Q is a target: no gradient flows through it.
This is computed in the log domain (log-sum-exp instead of sums of exponentials), which
gives the same numbers without overflow for small ε. Under DDP the sums over samples (and
the total) run over every rank's batch, so the equipartition is over the global batch.

**Swapped prediction.** With V crops of each image (2 large + small ones) and scores
S_v = Z_v Cᵀ, the code of an assigned crop c (``crops_for_assign``, the two large crops) is
predicted from every *other* crop v through a softmax with temperature τ:

    ℓ(c, v) = −(1/B) Σ_b Σ_k Q_c[b, k] log softmax(S_v[b] / τ)_k
    L = (1/|A|) Σ_{c ∈ A} (1/(V − 1)) Σ_{v ≠ c} ℓ(c, v)

— "predict the code of one view from the other", the official implementation's loss.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from cssl_edu import distributed as cdist
from cssl_edu._validation import check_finite, check_same_device, check_temperature


def _check_epsilon_iters(epsilon: float, n_iters: int) -> float:
    eps = check_temperature(epsilon, "epsilon")
    if isinstance(n_iters, bool) or not isinstance(n_iters, int) or n_iters < 1:
        raise ValueError(
            f"n_iters must be an int ≥ 1 (the Sinkhorn iterations; SwAV uses 3), got {n_iters!r}."
        )
    return eps


def _sum_over_samples_lse(log_q: Tensor, distributed: bool) -> Tensor:
    """log Σ_b exp(log_q[b, k]) over the samples of every rank: (B, K) → (1, K)."""
    if not distributed:
        return torch.logsumexp(log_q, dim=0, keepdim=True)
    m = log_q.amax(dim=0, keepdim=True)
    dist.all_reduce(m, op=dist.ReduceOp.MAX)
    s = torch.exp(log_q - m).sum(dim=0, keepdim=True)
    dist.all_reduce(s, op=dist.ReduceOp.SUM)
    return torch.log(s) + m


@torch.no_grad()
def sinkhorn(
    scores: Tensor, epsilon: float = 0.05, n_iters: int = 3, *, distributed: bool | None = None
) -> Tensor:
    """SwAV's equipartitioned soft assignments (codes) of B samples to K prototypes.

    Args:
        scores: (B, K) similarities of each sample to each prototype (cosines in SwAV).
        epsilon: ε > 0, the entropy weight (SwAV: 0.05); the scores are divided by it.
        n_iters: Sinkhorn iterations ≥ 1 (SwAV: 3), each one prototype step then one sample step.
        distributed: all-reduce the sums over samples across ranks (the global batch shares out
            the prototypes). ``None``: whenever a process group with more than one rank is running.

    Returns:
        Q, (B, K) float32 (float64 for float64 scores), non-negative, every row summing to 1,
        each prototype receiving ≈ B/K of the mass (exactly at convergence); never requires grad.

    Example:
        >>> q = sinkhorn(torch.randn(8, 4), epsilon=0.05, n_iters=3)
        >>> q.shape, torch.allclose(q.sum(1), torch.ones(8))
        (torch.Size([8, 4]), True)
    """
    if not isinstance(scores, Tensor) or scores.dim() != 2 or not scores.is_floating_point():
        raise ValueError(
            "scores must be a floating-point tensor of shape (B, K) (samples × prototypes), got "
            f"{tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__}."
        )
    if scores.shape[0] < 1 or scores.shape[1] < 1:
        raise ValueError(
            f"scores must have at least one sample and one prototype, got shape {tuple(scores.shape)}."
        )
    eps = _check_epsilon_iters(epsilon, n_iters)
    check_finite(scores, "scores")
    if distributed is None:
        distributed = cdist.is_distributed()
    dtype = torch.promote_types(scores.dtype, torch.float32)  # fp16/bf16 → fp32; fp64 stays
    log_q = scores.detach().to(dtype) / eps  # log of exp(S/ε)
    n_k = scores.shape[1]
    n_b = scores.shape[0] * (cdist.world_size() if distributed else 1)
    # normalise the total to 1 (a constant shift in the log domain; it cancels in the first step
    # but keeps every intermediate Q a distribution, as in the paper)
    total = _sum_over_samples_lse(log_q, distributed).logsumexp(dim=1, keepdim=True)
    log_q = log_q - total
    log_k, log_b = math.log(n_k), math.log(n_b)
    for _ in range(n_iters):
        log_q = log_q - _sum_over_samples_lse(log_q, distributed) - log_k  # prototype sums → 1/K
        log_q = log_q - torch.logsumexp(log_q, dim=1, keepdim=True) - log_b  # sample sums → 1/B
    return torch.exp(log_q + log_b)  # ×B: rows sum to 1


def swav_loss(
    scores: Tensor,
    temperature: float = 0.1,
    epsilon: float = 0.05,
    n_iters: int = 3,
    crops_for_assign: Sequence[int] = (0, 1),
    *,
    queue_scores: Tensor | None = None,
) -> Tensor:
    """SwAV's swapped-prediction loss over V crops of B images.

    Args:
        scores: (V, B, K) prototype scores of every crop (crop v of image b in ``scores[v, b]``).
        temperature: τ > 0 of the prediction softmax (SwAV: 0.1).
        epsilon, n_iters: of :func:`sinkhorn`, which computes the codes (without gradient).
        crops_for_assign: the crops whose codes are targets (SwAV: the two large crops, (0, 1)).
        queue_scores: optional (A, M, K) scores of M stored features for each of the A assigned
            crops (SwAV's queue for small batches): they take part in the Sinkhorn
            equipartition, only the batch's own B codes are kept.

    Returns:
        a scalar (float32, float64 for float64 input): the mean over assigned crops c of the mean
        over the other V − 1 crops v of −(1/B) Σ_b Σ_k Q_c[b, k] log softmax(scores[v, b] / τ)_k.

    Example:
        >>> s = torch.nn.functional.normalize(torch.randn(4, 16, 8), dim=-1)   # 4 crops, 16 images, 8 prototypes
        >>> loss = swav_loss(s, temperature=0.1)
        >>> loss.shape, bool(loss > 0)
        (torch.Size([]), True)
    """
    if not isinstance(scores, Tensor) or scores.dim() != 3 or not scores.is_floating_point():
        raise ValueError(
            "scores must be a floating-point tensor of shape (V, B, K) (crops × images × prototypes), got "
            f"{tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__}."
        )
    n_v, n_b, n_k = scores.shape
    if n_v < 2 or n_b < 1 or n_k < 1:
        raise ValueError(
            f"swav_loss needs at least 2 crops, 1 image and 1 prototype, got scores of shape {tuple(scores.shape)}."
        )
    t = check_temperature(temperature)
    _check_epsilon_iters(epsilon, n_iters)
    try:
        assign = [int(c) for c in crops_for_assign]
    except (TypeError, ValueError):
        raise ValueError(
            f"crops_for_assign must be a sequence of crop indices, got {crops_for_assign!r}."
        ) from None
    if not assign or len(set(assign)) != len(assign) or any(not 0 <= c < n_v for c in assign):
        raise ValueError(
            f"crops_for_assign must be distinct crop indices in [0, {n_v - 1}], got {tuple(crops_for_assign)}."
        )
    check_finite(scores, "scores")
    if queue_scores is not None:
        if not isinstance(queue_scores, Tensor) or not queue_scores.is_floating_point():
            raise ValueError(
                "queue_scores must be a floating-point torch.Tensor of shape (A, M, K), got "
                f"{queue_scores.dtype if isinstance(queue_scores, Tensor) else type(queue_scores).__name__}."
            )
        check_same_device(("scores", scores), ("queue_scores", queue_scores))
        check_finite(queue_scores, "queue_scores")
        if queue_scores.dim() != 3 or queue_scores.shape[0] != len(assign) or queue_scores.shape[2] != n_k:
            raise ValueError(
                f"queue_scores must have shape (A, M, K) = ({len(assign)}, M, {n_k}), got {tuple(queue_scores.shape)}."
            )
    dtype = torch.promote_types(scores.dtype, torch.float32)
    log_p = F.log_softmax(scores.to(dtype) / t, dim=-1)  # (V, B, K)
    codes = []
    for i, c in enumerate(assign):  # a loop over the (two) assigned crops, not over samples
        s = scores[c] if queue_scores is None else torch.cat([queue_scores[i].to(scores.dtype), scores[c]])
        codes.append(sinkhorn(s, epsilon, n_iters)[-n_b:])
    q = torch.stack(codes).to(dtype)  # (A, B, K), no gradient
    # cross[a, v] = −(1/B) Σ_b Σ_k Q_a[b, k] log p_v[b, k]
    cross = -torch.einsum("abk,vbk->av", q, log_p) / n_b
    other = torch.ones(len(assign), n_v, dtype=torch.bool, device=scores.device)
    other[torch.arange(len(assign)), torch.tensor(assign)] = False  # v ≠ c
    return (cross * other).sum(1).div(n_v - 1).mean()


class SwAVLoss(nn.Module):
    """Module form of :func:`swav_loss`: ``SwAVLoss(0.1)(scores)`` with scores (V, B, K)."""

    def __init__(
        self,
        temperature: float = 0.1,
        epsilon: float = 0.05,
        n_iters: int = 3,
        crops_for_assign: Sequence[int] = (0, 1),
    ) -> None:
        super().__init__()
        self.temperature = check_temperature(temperature)
        self.epsilon = _check_epsilon_iters(epsilon, n_iters)
        self.n_iters = n_iters
        self.crops_for_assign = tuple(int(c) for c in crops_for_assign)

    def forward(self, scores: Tensor, queue_scores: Tensor | None = None) -> Tensor:
        return swav_loss(
            scores,
            self.temperature,
            self.epsilon,
            self.n_iters,
            self.crops_for_assign,
            queue_scores=queue_scores,
        )

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, epsilon={self.epsilon}, n_iters={self.n_iters}"

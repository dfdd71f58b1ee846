"""The classic mistakes, implemented on purpose: one place for every bug the checks can name.

Each :class:`Bug` has a ``key``, a one-line ``title`` (what is wrong), a ``hint`` (how to fix
it) and ``impl``, a deliberately buggy version of the reference with the learner's
signature. The checks run these variants to recognise a learner's mistake from its output;
the tests feed each one to its check and expect that very bug to be named. Read them as a
catalogue of what goes wrong — every one of them has been written by someone, somewhere.

``BUGS[check][key]`` gives the bugs of one check in the order the diagnosis tries them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cssl_edu.augment import SimCLRAugment
from cssl_edu.eval.geometry import alignment, uniformity
from cssl_edu.losses import info_nce, margin_contrastive_loss, supcon, triplet_loss
from cssl_edu.losses.triplet import _safe_sqrt, pairwise_distances
from cssl_edu.methods import KeyQueue


@dataclass(frozen=True)
class Bug:
    """A known mistake: what it is, how to fix it, and an implementation that makes it."""

    key: str
    title: str
    hint: str
    impl: Any


BUGS: dict[str, dict[str, Bug]] = {}


def bug(check: str, key: str, title: str, hint: str) -> Callable[[Any], Any]:
    """Register the decorated function or class as bug ``key`` of ``check``."""

    def deco(impl: Any) -> Any:
        BUGS.setdefault(check, {})[key] = Bug(key, title, hint, impl)
        return impl

    return deco


def bugs_for(check: str) -> list[Bug]:
    """The bugs of ``check`` (e.g. ``"nt_xent"``) in diagnosis order."""
    return list(BUGS.get(check, {}).values())


# ============================================================================ shared by every loss

COMMON = "loss"


@bug(
    COMMON,
    "not_a_tensor",
    "the loss is returned as a Python number (.item() or float())",
    "return the tensor itself: .item()/float() cut the graph, so no gradient could reach the encoder",
)
def loss_as_float(*args: Any) -> float:
    from cssl_edu.losses import nt_xent

    return nt_xent(*args).item()


@bug(
    COMMON,
    "not_reduced",
    "the per-anchor losses are returned without averaging them",
    "finish with .mean() over the anchors (F.cross_entropy does this by default)",
)
def loss_not_reduced(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    n = z1.shape[0]
    logits = _nt_logits(z1, z2, temperature)
    logits.diagonal().fill_(float("-inf"))
    return F.cross_entropy(logits, _positive(n), reduction="none")


@bug(
    COMMON,
    "no_gradient",
    "no gradient flows back through the loss",
    "do not call .detach(), .item(), .numpy() or work under torch.no_grad() inside the loss; "
    "build it from the input tensors with torch operations only",
)
def loss_detached(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    from cssl_edu.losses import nt_xent

    return nt_xent(z1.detach(), z2.detach(), temperature)


@bug(
    COMMON,
    "nan_gradient",
    "the loss is finite but its gradient is NaN",
    "√ and .norm() have an infinite slope at 0: distances of a point to itself (the diagonal) give "
    "NaN gradients even when masked out later — add a small epsilon inside the sqrt, or use "
    "torch.cdist; also avoid 0 * inf (multiplying a -inf mask by 0)",
)
def triplet_nan_gradient(embeddings: Tensor, labels: Tensor, margin: float = 0.2) -> Tensor:
    dist = (embeddings.unsqueeze(1) - embeddings.unsqueeze(0)).pow(2).sum(-1).sqrt()  # NaN slope at 0
    pos, neg, _ = _triplet_masks(labels)
    return _batch_all(dist, pos, neg, margin)


# ============================================================================ NT-Xent


def _positive(n: int) -> Tensor:
    return (torch.arange(2 * n) + n) % (2 * n)


def _nt_logits(z1: Tensor, z2: Tensor, t: float, normalise: bool = True) -> Tensor:
    z = torch.cat([z1, z2])
    if normalise:
        z = F.normalize(z, dim=1)
    return z @ z.T / t


def _masked(logits: Tensor, value: float = float("-inf")) -> Tensor:
    eye = torch.eye(logits.shape[0], dtype=torch.bool)
    return logits.masked_fill(eye, value)


@bug(
    "nt_xent",
    "diagonal_not_masked",
    "the diagonal is not masked: each anchor's similarity with "
    "itself (always 1/τ, the largest logit) stays in its own denominator",
    "set the diagonal of the (2N, 2N) logits to -inf before the cross-entropy, e.g. "
    "logits = logits.masked_fill(torch.eye(2 * N, dtype=torch.bool), float('-inf'))",
)
def nt_xent_diagonal_not_masked(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    return F.cross_entropy(_nt_logits(z1, z2, temperature), _positive(z1.shape[0]))


@bug(
    "nt_xent",
    "diagonal_zero",
    "the diagonal is set to 0 instead of -inf: exp(0) = 1 still sits in every denominator",
    "mask with float('-inf') (its exp is 0), not with 0",
)
def nt_xent_diagonal_zero(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    return F.cross_entropy(_masked(_nt_logits(z1, z2, temperature), 0.0), _positive(z1.shape[0]))


@bug(
    "nt_xent",
    "not_normalised",
    "the embeddings are not L2-normalised, so z_i·z_k is a dot product, not a cosine similarity",
    "normalise the rows first: z = F.normalize(torch.cat([z1, z2]), dim=1)",
)
def nt_xent_not_normalised(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    return F.cross_entropy(_masked(_nt_logits(z1, z2, temperature, normalise=False)), _positive(z1.shape[0]))


@bug(
    "nt_xent",
    "temperature_twice",
    "the temperature is applied twice (logits divided by τ²)",
    "divide the similarities by τ exactly once",
)
def nt_xent_temperature_twice(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    return F.cross_entropy(_masked(_nt_logits(z1, z2, temperature) / temperature), _positive(z1.shape[0]))


@bug(
    "nt_xent",
    "temperature_missing",
    "the temperature is never applied",
    "divide the cosine similarities by τ: logits = z @ z.T / temperature",
)
def nt_xent_temperature_missing(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    return F.cross_entropy(_masked(_nt_logits(z1, z2, 1.0)), _positive(z1.shape[0]))


@bug(
    "nt_xent",
    "temperature_multiplied",
    "the similarities are multiplied by τ instead of divided",
    "logits = similarities / temperature (a small τ must make the softmax sharper)",
)
def nt_xent_temperature_multiplied(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    return F.cross_entropy(_masked(_nt_logits(z1, z2, 1.0) * temperature), _positive(z1.shape[0]))


@bug(
    "nt_xent",
    "positive_is_self",
    "the target of some anchors is the anchor itself (the loss is inf): "
    "the positive of row i is row (i + N) mod 2N",
    "use targets = (torch.arange(2 * N) + N) % (2 * N), not torch.arange(N) repeated",
)
def nt_xent_positive_is_self(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    n = z1.shape[0]
    return F.cross_entropy(_masked(_nt_logits(z1, z2, temperature)), torch.arange(n).repeat(2))


@bug(
    "nt_xent",
    "wrong_positive_index",
    "the positive index does not match how the views are stacked "
    "(views interleaved as [z1_0, z2_0, z1_1, ...] but targets i + N used)",
    "stack as torch.cat([z1, z2]) so image i's views sit at rows i and i + N, and use "
    "targets (torch.arange(2 * N) + N) % (2 * N)",
)
def nt_xent_wrong_positive_index(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    n = z1.shape[0]
    z = F.normalize(torch.stack([z1, z2], dim=1).reshape(2 * n, -1), dim=1)
    return F.cross_entropy(_masked(z @ z.T / temperature), _positive(n))


@bug(
    "nt_xent",
    "mean_over_n",
    "the sum over the 2N anchors is divided by N instead of 2N",
    "average over all 2N anchors (F.cross_entropy(..., reduction='mean') does it)",
)
def nt_xent_mean_over_n(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    n = z1.shape[0]
    return F.cross_entropy(_masked(_nt_logits(z1, z2, temperature)), _positive(n), reduction="sum") / n


@bug(
    "nt_xent",
    "sum_not_mean",
    "the per-anchor losses are summed, not averaged",
    "take the mean over the 2N anchors so the loss does not grow with the batch size",
)
def nt_xent_sum(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    return F.cross_entropy(_masked(_nt_logits(z1, z2, temperature)), _positive(z1.shape[0]), reduction="sum")


@bug(
    "nt_xent",
    "first_view_anchors_only",
    "only the N rows of z1 are used as anchors",
    "every one of the 2N rows is an anchor: the z2 rows too, with their positives in z1",
)
def nt_xent_first_view_only(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    n = z1.shape[0]
    return F.cross_entropy(_masked(_nt_logits(z1, z2, temperature))[:n], _positive(n)[:n])


@bug(
    "nt_xent",
    "positive_not_in_denominator",
    "the positive is left out of the denominator (it sums over the 2N - 2 negatives only)",
    "the denominator runs over every k ≠ i, the positive included: a softmax over the masked row",
)
def nt_xent_positive_not_in_denominator(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    n = z1.shape[0]
    logits = _masked(_nt_logits(z1, z2, temperature))
    rows, pos = torch.arange(2 * n), _positive(n)
    positive = logits[rows, pos]
    negatives = logits.clone()
    negatives[rows, pos] = float("-inf")
    return (torch.logsumexp(negatives, dim=1) - positive).mean()


@bug(
    "nt_xent",
    "cross_view_negatives_only",
    "only the other view's embeddings are used as negatives (the N x N matrix z1 @ z2.T, CLIP-style)",
    "build the (2N, 2N) matrix of all rows of torch.cat([z1, z2]): the same view's other images "
    "are negatives too",
)
def nt_xent_cross_view_only(z1: Tensor, z2: Tensor, temperature: float = 0.5) -> Tensor:
    n = z1.shape[0]
    s = F.normalize(z1, dim=1) @ F.normalize(z2, dim=1).T / temperature
    y = torch.arange(n)
    return 0.5 * (F.cross_entropy(s, y) + F.cross_entropy(s.T, y))


# ============================================================================ InfoNCE (MoCo)


def _info_parts(q: Tensor, k: Tensor, neg: Tensor, t: float, normalise: bool = True) -> tuple[Tensor, Tensor]:
    if normalise:
        q, k, neg = F.normalize(q, dim=1), F.normalize(k, dim=1), F.normalize(neg, dim=1)
    return (q * k).sum(1, keepdim=True) / t, q @ neg.T / t


def _info_ce(pos: Tensor, neg: Tensor, reduction: str = "mean") -> Tensor:
    logits = torch.cat([pos, neg], dim=1)
    return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long), reduction=reduction)


@bug(
    "info_nce",
    "not_normalised",
    "query, key and negatives are not L2-normalised",
    "F.normalize each of them along dim=1 before taking dot products",
)
def info_nce_not_normalised(
    query: Tensor, key: Tensor, negatives: Tensor, temperature: float = 0.2
) -> Tensor:
    return _info_ce(*_info_parts(query, key, negatives, temperature, normalise=False))


@bug(
    "info_nce",
    "temperature_twice",
    "the temperature is applied twice (logits divided by τ²)",
    "divide the logits by τ exactly once",
)
def info_nce_temperature_twice(
    query: Tensor, key: Tensor, negatives: Tensor, temperature: float = 0.2
) -> Tensor:
    pos, neg = _info_parts(query, key, negatives, temperature)
    return _info_ce(pos / temperature, neg / temperature)


@bug(
    "info_nce",
    "temperature_missing",
    "the temperature is never applied",
    "divide the logits [q·k, q·n_1, ...] by τ",
)
def info_nce_temperature_missing(
    query: Tensor, key: Tensor, negatives: Tensor, temperature: float = 0.2
) -> Tensor:
    return _info_ce(*_info_parts(query, key, negatives, 1.0))


@bug(
    "info_nce",
    "wrong_positive_index",
    "the targets are torch.arange(N) (the in-batch convention) but "
    "the positive logit sits in column 0 of every row",
    "with logits = cat([pos (N,1), neg (N,K)], 1) the target is 0 for every query: "
    "torch.zeros(N, dtype=torch.long)",
)
def info_nce_wrong_positive(
    query: Tensor, key: Tensor, negatives: Tensor, temperature: float = 0.2
) -> Tensor:
    pos, neg = _info_parts(query, key, negatives, temperature)
    return F.cross_entropy(torch.cat([pos, neg], dim=1), torch.arange(len(pos)))


@bug(
    "info_nce",
    "positive_not_in_denominator",
    "the positive is left out of the denominator",
    "the softmax runs over all 1 + K logits: the positive and the K negatives",
)
def info_nce_positive_not_in_denominator(
    query: Tensor, key: Tensor, negatives: Tensor, temperature: float = 0.2
) -> Tensor:
    pos, neg = _info_parts(query, key, negatives, temperature)
    return (torch.logsumexp(neg, dim=1) - pos.squeeze(1)).mean()


@bug(
    "info_nce",
    "sum_not_mean",
    "the per-query losses are summed, not averaged",
    "take the mean over the N queries",
)
def info_nce_sum(query: Tensor, key: Tensor, negatives: Tensor, temperature: float = 0.2) -> Tensor:
    return _info_ce(*_info_parts(query, key, negatives, temperature), reduction="sum")


@bug(
    "info_nce",
    "query_detached",
    "the query is detached, so no gradient reaches the query encoder",
    "only the key (from the momentum encoder) is detached; the query must keep its graph",
)
def info_nce_query_detached(
    query: Tensor, key: Tensor, negatives: Tensor, temperature: float = 0.2
) -> Tensor:
    return info_nce(query.detach(), key, negatives, temperature)


# ============================================================================ SupCon


def _sup_parts(
    features: Tensor, labels: Tensor, t: float, normalise: bool = True
) -> tuple[Tensor, Tensor, Tensor]:
    n, v, _ = features.shape
    z = features.transpose(0, 1).reshape(v * n, -1)
    if normalise:
        z = F.normalize(z, dim=1)
    logits = z @ z.T / t
    same = (labels.view(-1, 1) == labels.view(1, -1)).repeat(v, v)
    eye = torch.eye(v * n, dtype=torch.bool)
    return logits, same, eye


def _sup_out(log_prob: Tensor, pos: Tensor) -> Tensor:
    n_pos = pos.sum(1)
    keep = n_pos > 0
    return -(torch.where(pos, log_prob, torch.zeros_like(log_prob)).sum(1)[keep] / n_pos[keep]).mean()


@bug(
    "supcon",
    "labels_ignored",
    "the labels are ignored: only the other views of the same image are "
    "positives (that is SimCLR, not SupCon)",
    "positives are all other rows with the same label: mask = labels[:, None] == labels[None, :], "
    "repeated for the V views",
)
def supcon_labels_ignored(features: Tensor, labels: Tensor, temperature: float = 0.1) -> Tensor:
    return supcon(features, None, temperature)


@bug(
    "supcon",
    "anchor_own_positive",
    "each anchor is counted as its own positive",
    "remove the diagonal from the positive mask: pos = same & ~torch.eye(N * V, dtype=torch.bool)",
)
def supcon_anchor_own_positive(features: Tensor, labels: Tensor, temperature: float = 0.1) -> Tensor:
    logits, same, eye = _sup_parts(features, labels, temperature)
    log_prob = logits - torch.logsumexp(logits.masked_fill(eye, float("-inf")), dim=1, keepdim=True)
    return _sup_out(log_prob, same)


@bug(
    "supcon",
    "diagonal_not_masked",
    "the anchor itself stays in its own denominator",
    "mask the diagonal of the logits with -inf before the log-sum-exp",
)
def supcon_diagonal_not_masked(features: Tensor, labels: Tensor, temperature: float = 0.1) -> Tensor:
    logits, same, eye = _sup_parts(features, labels, temperature)
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    return _sup_out(log_prob, same & ~eye)


@bug(
    "supcon",
    "not_normalised",
    "the features are not L2-normalised",
    "normalise each feature vector: F.normalize(z, dim=1)",
)
def supcon_not_normalised(features: Tensor, labels: Tensor, temperature: float = 0.1) -> Tensor:
    logits, same, eye = _sup_parts(features, labels, temperature, normalise=False)
    logits = logits.masked_fill(eye, float("-inf"))
    return _sup_out(logits - torch.logsumexp(logits, dim=1, keepdim=True), same & ~eye)


@bug(
    "supcon",
    "temperature_twice",
    "the temperature is applied twice (logits divided by τ²)",
    "divide the similarities by τ exactly once",
)
def supcon_temperature_twice(features: Tensor, labels: Tensor, temperature: float = 0.1) -> Tensor:
    return supcon(features, labels, temperature**2)


@bug(
    "supcon",
    "l_in_not_l_out",
    "the average over positives is taken inside the log (L_in), "
    "not outside (L_out, the paper's better variant)",
    "average the log-probabilities of the positives: -(log_prob * pos).sum(1) / pos.sum(1)",
)
def supcon_l_in(features: Tensor, labels: Tensor, temperature: float = 0.1) -> Tensor:
    logits, same, eye = _sup_parts(features, labels, temperature)
    logits = logits.masked_fill(eye, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pos = same & ~eye
    n_pos = pos.sum(1)
    keep = n_pos > 0
    inner = torch.logsumexp(log_prob.masked_fill(~pos, float("-inf")), dim=1)[keep] - torch.log(
        n_pos[keep].float()
    )
    return -inner.mean()


@bug(
    "supcon",
    "labels_misaligned",
    "the rows are stacked image by image (reshape of (N, V, d)) but the "
    "labels are repeated view by view, so rows and labels do not line up",
    "stack view by view: z = features.transpose(0, 1).reshape(V * N, d) and labels.repeat(V)",
)
def supcon_labels_misaligned(features: Tensor, labels: Tensor, temperature: float = 0.1) -> Tensor:
    n, v, _ = features.shape
    z = F.normalize(features.reshape(n * v, -1), dim=1)
    eye = torch.eye(v * n, dtype=torch.bool)
    logits = (z @ z.T / temperature).masked_fill(eye, float("-inf"))
    rep = labels.repeat(v)
    pos = (rep.view(-1, 1) == rep.view(1, -1)) & ~eye
    return _sup_out(logits - torch.logsumexp(logits, dim=1, keepdim=True), pos)


@bug(
    "supcon",
    "pooled_positive_mean",
    "the log-probabilities are averaged over all positive pairs of the batch at once, not first per anchor",
    "divide each anchor's sum by its own number of positives |P(a)|, then average over anchors",
)
def supcon_pooled(features: Tensor, labels: Tensor, temperature: float = 0.1) -> Tensor:
    logits, same, eye = _sup_parts(features, labels, temperature)
    logits = logits.masked_fill(eye, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    pos = same & ~eye
    return -torch.where(pos, log_prob, torch.zeros_like(log_prob)).sum() / pos.sum()


# ============================================================================ triplet (batch-all and batch-hard)


def _triplet_masks(labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    same = labels.view(-1, 1) == labels.view(1, -1)
    eye = torch.eye(len(labels), dtype=torch.bool)
    return same & ~eye, ~same, eye


def _batch_all(
    dist: Tensor,
    pos: Tensor,
    neg: Tensor,
    margin: float,
    hinge: bool = True,
    count_all: bool = False,
    sign: float = 1.0,
) -> Tensor:
    valid = pos.unsqueeze(2) & neg.unsqueeze(1)
    raw = sign * (dist.unsqueeze(2) - dist.unsqueeze(1)) + margin
    losses = F.relu(raw) if hinge else raw
    active = valid if (count_all or not hinge) else valid & (losses > 0)
    return torch.where(active, losses, torch.zeros_like(losses)).sum() / active.sum().clamp_min(1)


@bug(
    "triplet",
    "no_hinge",
    "the hinge max(0, ·) is missing: triplets that already satisfy the margin still push the embeddings",
    "use F.relu(d_ap - d_an + margin)",
)
def triplet_no_hinge(embeddings: Tensor, labels: Tensor, margin: float = 0.2) -> Tensor:
    pos, neg, _ = _triplet_masks(labels)
    return _batch_all(pairwise_distances(embeddings), pos, neg, margin, hinge=False)


@bug(
    "triplet",
    "swapped_distances",
    "d(a, p) and d(a, n) are swapped: the loss pulls negatives in",
    "the loss is max(0, d(a, p) - d(a, n) + margin)",
)
def triplet_swapped(embeddings: Tensor, labels: Tensor, margin: float = 0.2) -> Tensor:
    pos, neg, _ = _triplet_masks(labels)
    return _batch_all(pairwise_distances(embeddings), pos, neg, margin, sign=-1.0)


@bug(
    "triplet",
    "anchor_own_positive",
    "the anchor is used as its own positive (p = a, distance 0)",
    "positives are the *other* samples with the anchor's label: remove the diagonal from the mask",
)
def triplet_anchor_own_positive(embeddings: Tensor, labels: Tensor, margin: float = 0.2) -> Tensor:
    pos, neg, eye = _triplet_masks(labels)
    return _batch_all(pairwise_distances(embeddings), pos | eye, neg, margin)


@bug(
    "triplet",
    "negatives_not_masked",
    "samples with the anchor's label are used as negatives",
    "negatives are the samples with a *different* label: neg_mask = labels[:, None] != labels[None, :]",
)
def triplet_negatives_not_masked(embeddings: Tensor, labels: Tensor, margin: float = 0.2) -> Tensor:
    pos, _, eye = _triplet_masks(labels)
    return _batch_all(pairwise_distances(embeddings), pos, ~eye, margin)


@bug(
    "triplet",
    "mean_over_all_triplets",
    "the sum is divided by every valid triplet, not by the active ones (loss > 0)",
    "batch-all averages over the triplets that still violate the margin: divide by (losses > 0).sum()",
)
def triplet_mean_over_all(embeddings: Tensor, labels: Tensor, margin: float = 0.2) -> Tensor:
    pos, neg, _ = _triplet_masks(labels)
    return _batch_all(pairwise_distances(embeddings), pos, neg, margin, count_all=True)


@bug(
    "triplet",
    "squared_distances",
    "squared Euclidean distances are used",
    "take the square root of the squared distances (with a safe gradient at 0)",
)
def triplet_squared(embeddings: Tensor, labels: Tensor, margin: float = 0.2) -> Tensor:
    return triplet_loss(embeddings, labels, margin, squared=True)


def _batch_hard(
    embeddings: Tensor,
    labels: Tensor,
    margin: float,
    pos_fn: str = "amax",
    neg_fn: str = "amin",
    hinge: bool = True,
    squared: bool = False,
) -> Tensor:
    dist = pairwise_distances(embeddings, squared)
    pos, neg, _ = _triplet_masks(labels)
    fill_pos = float("-inf") if pos_fn == "amax" else float("inf")
    fill_neg = float("inf") if neg_fn == "amin" else float("-inf")
    hp = getattr(torch.where(pos, dist, torch.full_like(dist, fill_pos)), pos_fn)(1)
    hn = getattr(torch.where(neg, dist, torch.full_like(dist, fill_neg)), neg_fn)(1)
    ok = pos.any(1) & neg.any(1)
    raw = hp[ok] - hn[ok] + margin
    return (F.relu(raw) if hinge else raw).mean()


@bug(
    "triplet_hard",
    "easiest_positive",
    "the closest positive is taken instead of the farthest",
    "the hardest positive is the one *farthest* from the anchor: amax over the positive mask",
)
def triplet_hard_easiest_positive(embeddings: Tensor, labels: Tensor, margin: float = 0.2) -> Tensor:
    return _batch_hard(embeddings, labels, margin, pos_fn="amin")


@bug(
    "triplet_hard",
    "easiest_negative",
    "the farthest negative is taken instead of the closest",
    "the hardest negative is the one *closest* to the anchor: amin over the negative mask",
)
def triplet_hard_easiest_negative(embeddings: Tensor, labels: Tensor, margin: float = 0.2) -> Tensor:
    return _batch_hard(embeddings, labels, margin, neg_fn="amax")


@bug(
    "triplet_hard",
    "no_hinge",
    "the hinge max(0, ·) is missing",
    "use F.relu(hardest_pos - hardest_neg + margin)",
)
def triplet_hard_no_hinge(embeddings: Tensor, labels: Tensor, margin: float = 0.2) -> Tensor:
    return _batch_hard(embeddings, labels, margin, hinge=False)


@bug(
    "triplet_hard",
    "squared_distances",
    "squared Euclidean distances are used",
    "take the square root of the squared distances (with a safe gradient at 0)",
)
def triplet_hard_squared(embeddings: Tensor, labels: Tensor, margin: float = 0.2) -> Tensor:
    return _batch_hard(embeddings, labels, margin, squared=True)


# ============================================================================ margin contrastive (Hadsell et al.)


def _pair_dist(x1: Tensor, x2: Tensor) -> Tensor:
    return _safe_sqrt((x1 - x2).pow(2).sum(1))


@bug(
    "margin_contrastive",
    "labels_reversed",
    "the labels are reversed: similar pairs are pushed apart",
    "y = 1 means similar: y·½d² + (1 - y)·½·max(0, m - d)²",
)
def margin_labels_reversed(x1: Tensor, x2: Tensor, same: Tensor, margin: float = 1.0) -> Tensor:
    return margin_contrastive_loss(x1, x2, 1 - same.long(), margin)


@bug(
    "margin_contrastive",
    "hinge_on_squared_distance",
    "the hinge uses the squared distance, max(0, m - d²), instead of max(0, m - d)²",
    "square after the hinge: F.relu(margin - d) ** 2",
)
def margin_hinge_squared(x1: Tensor, x2: Tensor, same: Tensor, margin: float = 1.0) -> Tensor:
    d = _pair_dist(x1, x2)
    y = same.to(d.dtype)
    return (y * 0.5 * d**2 + (1 - y) * 0.5 * F.relu(margin - d**2)).mean()


@bug(
    "margin_contrastive", "missing_half", "the factors ½ are missing", "L = y·½d² + (1 - y)·½·max(0, m - d)²"
)
def margin_missing_half(x1: Tensor, x2: Tensor, same: Tensor, margin: float = 1.0) -> Tensor:
    return 2 * margin_contrastive_loss(x1, x2, same, margin)


@bug(
    "margin_contrastive",
    "no_hinge",
    "the hinge is missing: dissimilar pairs farther than the margin are pulled back to distance m",
    "dissimilar pairs only cost while d < m: use F.relu(margin - d) ** 2",
)
def margin_no_hinge(x1: Tensor, x2: Tensor, same: Tensor, margin: float = 1.0) -> Tensor:
    d = _pair_dist(x1, x2)
    y = same.to(d.dtype)
    return (y * 0.5 * d**2 + (1 - y) * 0.5 * (margin - d) ** 2).mean()


@bug(
    "margin_contrastive",
    "sum_not_mean",
    "the pair losses are summed, not averaged",
    "take the mean over the N pairs",
)
def margin_sum(x1: Tensor, x2: Tensor, same: Tensor, margin: float = 1.0) -> Tensor:
    return margin_contrastive_loss(x1, x2, same, margin) * x1.shape[0]


# ============================================================================ alignment / uniformity


@bug(
    "alignment",
    "not_normalised",
    "the embeddings are not L2-normalised",
    "normalise both z1 and z2 along dim=1 first",
)
def alignment_not_normalised(z1: Tensor, z2: Tensor) -> Tensor:
    return (z1 - z2).norm(dim=1).pow(2).mean()


@bug(
    "alignment",
    "not_squared",
    "the distance is not squared (α = 2)",
    "use ‖f(x) - f(x⁺)‖² : .norm(dim=1).pow(2)",
)
def alignment_not_squared(z1: Tensor, z2: Tensor) -> Tensor:
    return alignment(z1, z2, alpha=1.0)


@bug(
    "alignment",
    "sum_not_mean",
    "the pair distances are summed, not averaged",
    "take the mean over the N positive pairs",
)
def alignment_sum(z1: Tensor, z2: Tensor) -> Tensor:
    return alignment(z1, z2) * z1.shape[0]


@bug("uniformity", "not_normalised", "the embeddings are not L2-normalised", "normalise z along dim=1 first")
def uniformity_not_normalised(z: Tensor) -> Tensor:
    sq = torch.pdist(z).pow(2)
    return torch.logsumexp(-2 * sq, 0) - torch.log(torch.tensor(float(sq.numel())))


@bug(
    "uniformity",
    "diagonal_included",
    "the pairs (i, i), at distance 0, are included in the average",
    "average over distinct pairs only: torch.pdist(z) gives the N(N-1)/2 of them",
)
def uniformity_diagonal(z: Tensor) -> Tensor:
    zn = F.normalize(z, dim=1)
    return torch.exp(-2 * torch.cdist(zn, zn).pow(2)).mean().log()


@bug("uniformity", "not_squared", "the distances are not squared", "use exp(-t·‖x - y‖²)")
def uniformity_not_squared(z: Tensor) -> Tensor:
    return torch.exp(-2 * torch.pdist(F.normalize(z, dim=1))).mean().log()


@bug("uniformity", "missing_log", "the log of the average is missing", "ℓ_unif = log E exp(-t‖x - y‖²)")
def uniformity_missing_log(z: Tensor) -> Tensor:
    return uniformity(z).exp()


# ============================================================================ MoCo: the queue, one step, the momentum update


def _enqueue_ref(keys: Tensor, buf: Tensor, ptr: int, b: int) -> None:
    buf[(ptr + torch.arange(b)) % buf.shape[0]] = keys


class _ListQueue:
    """A readable reference queue used to build the buggy variants."""

    def __init__(self, size: int, dim: int) -> None:
        self.size, self.dim = size, dim
        self.buf = torch.zeros(size, dim)
        self.ptr, self.count = 0, 0

    def _store(self, keys: Tensor) -> Tensor:
        return keys.detach()

    def enqueue(self, keys: Tensor) -> None:
        keys = self._store(keys)[-self.size :]
        b = keys.shape[0]
        _enqueue_ref(keys, self.buf, self.ptr, b)  # with non-detached keys, buf joins their graph
        self.ptr = (self.ptr + b) % self.size
        self.count = min(self.count + b, self.size)

    def negatives(self) -> Tensor:
        return self.buf if self.count >= self.size else self.buf[: self.count]


@bug(
    "moco_queue",
    "keys_not_detached",
    "the keys are stored without .detach(): the queue keeps the "
    "graph of past batches, and the next backward would run through it",
    "store keys.detach() (and enqueue under torch.no_grad())",
)
class QueueNotDetached(_ListQueue):
    def _store(self, keys: Tensor) -> Tensor:
        return keys


@bug(
    "moco_queue",
    "returns_empty_slots",
    "negatives() returns all K slots before the queue is full, so the unfilled (zero) slots act as negatives",
    "until K keys have arrived return only the filled slots: self.keys[:count]",
)
class QueueEmptySlots(_ListQueue):
    def negatives(self) -> Tensor:
        return self.buf


@bug(
    "moco_queue",
    "no_wrap_around",
    "a batch that does not fit before the end of the buffer is written at slot 0 instead of wrapping around",
    "write key i at slot (ptr + i) % K and set ptr = (ptr + B) % K",
)
class QueueNoWrap(_ListQueue):
    def enqueue(self, keys: Tensor) -> None:
        keys = keys.detach()[-self.size :]
        b = keys.shape[0]
        if self.ptr + b > self.size:
            self.ptr = 0
        self.buf[self.ptr : self.ptr + b] = keys
        self.ptr = (self.ptr + b) % self.size
        self.count = min(self.count + b, self.size)


@bug(
    "moco_queue",
    "pointer_not_advanced",
    "the pointer never moves: every batch overwrites the first slots",
    "after writing B keys advance the pointer: ptr = (ptr + B) % K",
)
class QueuePointerStuck(_ListQueue):
    def enqueue(self, keys: Tensor) -> None:
        keys = keys.detach()[-self.size :]
        b = keys.shape[0]
        self.buf[:b] = keys
        self.count = min(self.count + b, self.size)


@bug(
    "moco_queue",
    "keeps_oldest",
    "once full the queue stops accepting keys, so its negatives get older and older",
    "it is a FIFO: new keys overwrite the oldest ones, the ring buffer wraps around",
)
class QueueKeepsOldest(_ListQueue):
    def enqueue(self, keys: Tensor) -> None:
        room = self.size - self.count
        if room <= 0:
            return
        super().enqueue(keys.detach()[:room])


def moco_step_reference(query: Tensor, key: Tensor, queue: KeyQueue, temperature: float = 0.2) -> Tensor:
    """One MoCo loss computation: InfoNCE against the queue as it was, *then* enqueue the keys."""
    key = key.detach()
    loss = info_nce(query, key, queue.negatives(), temperature)
    queue.enqueue(key)
    return loss


@bug(
    "moco_step",
    "enqueue_before_loss",
    "the keys are enqueued before the loss, so each query finds its own positive key among its negatives",
    "compute the loss against queue.negatives() first, then queue.enqueue(keys)",
)
def moco_step_enqueue_first(query: Tensor, key: Tensor, queue: KeyQueue, temperature: float = 0.2) -> Tensor:
    key = key.detach()
    queue.enqueue(key)
    return info_nce(query, key, queue.negatives(), temperature)


@bug(
    "moco_step",
    "keys_not_detached",
    "the keys are not detached: the gradient flows into the momentum (key) encoder",
    "use key.detach() (or compute the keys under torch.no_grad()): the key encoder moves only by "
    "the momentum update",
)
def moco_step_keys_not_detached(
    query: Tensor, key: Tensor, queue: KeyQueue, temperature: float = 0.2
) -> Tensor:
    loss = info_nce(query, key, queue.negatives(), temperature)
    queue.enqueue(key)
    return loss


@bug(
    "moco_step",
    "no_enqueue",
    "the keys are never enqueued, so the queue never changes",
    "after the loss call queue.enqueue(keys)",
)
def moco_step_no_enqueue(query: Tensor, key: Tensor, queue: KeyQueue, temperature: float = 0.2) -> Tensor:
    return info_nce(query, key.detach(), queue.negatives(), temperature)


@torch.no_grad()
def _ema(online: nn.Module, target: nn.Module, a: float, b: float, buffers: bool = True) -> None:
    for po, pt in zip(online.parameters(), target.parameters()):
        pt.mul_(a).add_(po, alpha=b)
    if buffers:
        for bo, bt in zip(online.buffers(), target.buffers()):
            bt.copy_(bo)


@bug(
    "momentum_update",
    "m_swapped",
    "m and 1 - m are swapped: the target almost copies the online network every step",
    "θ_target ← m·θ_target + (1 - m)·θ_online; with m = 0.99 the target keeps 99 % of itself",
)
def momentum_swapped(online: nn.Module, target: nn.Module, m: float) -> None:
    _ema(online, target, 1 - m, m)


@bug(
    "momentum_update",
    "wrong_direction",
    "the online network is updated towards the target instead of the target towards the online network",
    "only the target changes: for p_o, p_t in zip(online.parameters(), target.parameters()): "
    "p_t.mul_(m).add_(p_o, alpha=1 - m)",
)
@torch.no_grad()
def momentum_wrong_direction(online: nn.Module, target: nn.Module, m: float) -> None:
    for po, pt in zip(online.parameters(), target.parameters()):
        po.mul_(m).add_(pt, alpha=1 - m)


@bug(
    "momentum_update",
    "not_in_place",
    "the target's parameters are never changed (a new tensor is "
    "assigned to a loop variable, or a new module is returned)",
    "update in place: p_t.mul_(m).add_(p_o, alpha=1 - m), or p_t.copy_(m * p_t + (1 - m) * p_o), "
    "under torch.no_grad()",
)
def momentum_not_in_place(online: nn.Module, target: nn.Module, m: float) -> None:
    for po, pt in zip(online.parameters(), target.parameters()):
        pt = m * pt + (1 - m) * po  # the bug: rebinds the loop variable, changes nothing


@bug(
    "momentum_update",
    "m_ignored",
    "the target becomes a copy of the online network (m is ignored, e.g. "
    "target.load_state_dict(online.state_dict()))",
    "average, do not copy: θ_target ← m·θ_target + (1 - m)·θ_online keeps m of the old target",
)
@torch.no_grad()
def momentum_copies_online(online: nn.Module, target: nn.Module, m: float) -> None:
    target.load_state_dict(online.state_dict())


# ============================================================================ MoCHi hard-negative mixing


def _mix(
    query: Tensor,
    hard: Tensor,
    s: int,
    s_prime: int,
    g: torch.Generator | None,
    beta_max: float = 0.5,
    normalise: bool = True,
    allow_same: bool = False,
    alpha: float | None = None,
) -> Tensor:
    n, n_hard, d = hard.shape
    q = F.normalize(query, dim=1)
    out = []
    if s > 0:
        i = torch.randint(n_hard, (n, s), generator=g)
        if allow_same:  # j drawn independently of i: j = i happens with probability 1/n_hard
            j = torch.randint(n_hard, (n, s), generator=g)
        else:
            j = (i + 1 + torch.randint(n_hard - 1, (n, s), generator=g)) % n_hard
        a = torch.rand(n, s, 1, generator=g) if alpha is None else torch.full((n, s, 1), alpha)
        ni = hard.gather(1, i.unsqueeze(-1).expand(n, s, d))
        nj = hard.gather(1, j.unsqueeze(-1).expand(n, s, d))
        out.append(a * ni + (1 - a) * nj)
    if s_prime > 0:
        j = torch.randint(n_hard, (n, s_prime), generator=g)
        b = beta_max * torch.rand(n, s_prime, 1, generator=g)
        out.append(b * q.unsqueeze(1) + (1 - b) * hard.gather(1, j.unsqueeze(-1).expand(n, s_prime, d)))
    mixed = torch.cat(out, dim=1) if out else query.new_zeros(n, 0, d)
    return F.normalize(mixed, dim=-1) if normalise else mixed


def _hard_set(
    query: Tensor, negatives: Tensor, n_hard: int, largest: bool = True, normalise: bool = True
) -> Tensor:
    q, neg = (F.normalize(query, dim=1), F.normalize(negatives, dim=1)) if normalise else (query, negatives)
    idx = (q @ neg.T).topk(n_hard, dim=1, largest=largest).indices
    return F.normalize(negatives, dim=1)[idx]


@bug(
    "mix_hard_negatives",
    "not_detached",
    "the synthetic negatives carry a gradient",
    "decorate the function with @torch.no_grad() (or detach the result): MoCHi's mixes are constants",
)
def mochi_not_detached(
    query: Tensor,
    negatives: Tensor,
    n_hard: int,
    s: int,
    s_prime: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    return _mix(query, _hard_set(query, negatives, n_hard), s, s_prime, generator)


@bug(
    "mix_hard_negatives",
    "not_normalised",
    "the mixed negatives are not L2-normalised",
    "normalise the mixes: F.normalize(mixed, dim=-1)",
)
@torch.no_grad()
def mochi_not_normalised(
    query: Tensor,
    negatives: Tensor,
    n_hard: int,
    s: int,
    s_prime: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    return _mix(query, _hard_set(query, negatives, n_hard), s, s_prime, generator, normalise=False)


@bug(
    "mix_hard_negatives",
    "same_query_hard_set",
    "every query mixes the hard negatives of one query (query 0's) instead of its own",
    "rank the negatives for each query: (q @ neg.T).topk(n_hard, dim=1) gives an (N, n_hard) index, "
    "one row per query — gather row n for query n",
)
@torch.no_grad()
def mochi_same_query(
    query: Tensor,
    negatives: Tensor,
    n_hard: int,
    s: int,
    s_prime: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    hard = _hard_set(query, negatives, n_hard)[:1].expand(query.shape[0], -1, -1)
    return _mix(query, hard, s, s_prime, generator)


@bug(
    "mix_hard_negatives",
    "easiest_negatives",
    "the mixes come from the *least* similar negatives",
    "topk(n_hard, dim=1) with largest=True (the default) picks the hardest, most similar ones",
)
@torch.no_grad()
def mochi_easiest(
    query: Tensor,
    negatives: Tensor,
    n_hard: int,
    s: int,
    s_prime: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    return _mix(query, _hard_set(query, negatives, n_hard, largest=False), s, s_prime, generator)


@bug(
    "mix_hard_negatives",
    "similarity_not_normalised",
    "the negatives are ranked by raw dot products, so long vectors look 'hard' whatever their direction",
    "normalise query and negatives before ranking: cosine similarity decides which are hardest",
)
@torch.no_grad()
def mochi_unnormalised_ranking(
    query: Tensor,
    negatives: Tensor,
    n_hard: int,
    s: int,
    s_prime: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    return _mix(query, _hard_set(query, negatives, n_hard, normalise=False), s, s_prime, generator)


@bug(
    "mix_hard_negatives",
    "beta_too_large",
    "β is drawn from U(0, 1): some 'negatives' are mostly the query itself",
    "draw β ~ U(0, 0.5) so the query's share stays below the negative's: beta = 0.5 * torch.rand(...)",
)
@torch.no_grad()
def mochi_beta_too_large(
    query: Tensor,
    negatives: Tensor,
    n_hard: int,
    s: int,
    s_prime: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    return _mix(query, _hard_set(query, negatives, n_hard), s, s_prime, generator, beta_max=1.0)


@bug(
    "mix_hard_negatives",
    "same_negative_twice",
    "a two-negative mix may draw the same hard negative twice (i = j), so some 'mixes' are just "
    "a copy of one hard negative",
    "draw j among the other n_hard − 1 negatives: j = (i + 1 + randint(n_hard − 1)) % n_hard",
)
@torch.no_grad()
def mochi_same_negative_twice(
    query: Tensor,
    negatives: Tensor,
    n_hard: int,
    s: int,
    s_prime: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    return _mix(query, _hard_set(query, negatives, n_hard), s, s_prime, generator, allow_same=True)


@bug(
    "mix_hard_negatives",
    "alpha_not_uniform",
    "the mixing coefficient α is not drawn from U(0, 1) for every mix (e.g. fixed at α = 0.5: "
    "every synthetic negative is a midpoint)",
    "draw a fresh α ~ U(0, 1) per synthetic negative: alpha = torch.rand(N, s, 1)",
)
@torch.no_grad()
def mochi_alpha_fixed(
    query: Tensor,
    negatives: Tensor,
    n_hard: int,
    s: int,
    s_prime: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    return _mix(query, _hard_set(query, negatives, n_hard), s, s_prime, generator, alpha=0.5)


@bug(
    "mix_hard_negatives",
    "beta_not_uniform",
    "the query's share β is not drawn from U(0, 0.5) for every query-mix (e.g. β = 0: the "
    "'query mixes' are plain hard negatives and carry nothing of the query)",
    "draw a fresh β ~ U(0, 0.5) per query-mix: beta = 0.5 * torch.rand(N, s_prime, 1)",
)
@torch.no_grad()
def mochi_beta_zero(
    query: Tensor,
    negatives: Tensor,
    n_hard: int,
    s: int,
    s_prime: int,
    generator: torch.Generator | None = None,
) -> Tensor:
    return _mix(query, _hard_set(query, negatives, n_hard), s, s_prime, generator, beta_max=0.0)


# ============================================================================ augmentation


class _Aug:
    """Build buggy augmentations on top of the package's :class:`SimCLRAugment`."""

    def __init__(self, image_size: int = 32) -> None:
        self.aug = SimCLRAugment(image_size)


@bug(
    "augment",
    "same_params_for_batch",
    "every image of the batch gets the same random crop, flip and "
    "jitter (what a torchvision transform applied to a whole batch tensor does)",
    "draw the parameters per image: loop over the images, or use per-sample parameters as SimCLRAugment does",
)
class AugmentSameParams(_Aug):
    def __call__(self, x: Tensor) -> Tensor:
        seed = int(torch.randint(0, 2**31 - 1, ()))
        return torch.cat(
            [self.aug(x[i : i + 1], generator=torch.Generator().manual_seed(seed)) for i in range(len(x))]
        )


@bug(
    "augment",
    "not_normalised",
    "the views are not normalised with the dataset mean and std",
    "finish with (x - mean) / std, per channel",
)
class AugmentNotNormalised(_Aug):
    def __call__(self, x: Tensor) -> Tensor:
        return self.aug(x) * self.aug.std + self.aug.mean


@bug(
    "augment",
    "not_scaled",
    "uint8 pixels (0-255) are used as if they were in [0, 1]",
    "convert first: x.float() / 255",
)
class AugmentNotScaled(_Aug):
    def __call__(self, x: Tensor) -> Tensor:
        unit = self.aug(x) * self.aug.std + self.aug.mean  # the views in [0, 1] ...
        return (255 * unit - self.aug.mean) / self.aug.std  # ... normalised as if 0-255 were 0-1


@bug(
    "augment",
    "modifies_input",
    "the input images are modified in place",
    "work on a copy (x.clone(), or out-of-place ops): the same batch is augmented twice, once per view",
)
class AugmentInPlace(_Aug):
    def __call__(self, x: Tensor) -> Tensor:
        x[:, :, :, :] = x.flip(-1).clone()
        return self.aug(x)


@bug(
    "augment",
    "deterministic",
    "two calls on the same images give the same views: there is no "
    "randomness, so the two views of an image are identical",
    "draw fresh random parameters on every call (do not re-seed a generator inside the function)",
)
class AugmentDeterministic(_Aug):
    def __call__(self, x: Tensor) -> Tensor:
        return self.aug(x, generator=torch.Generator().manual_seed(0))

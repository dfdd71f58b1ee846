"""Self-checks for the losses: NT-Xent, InfoNCE, SupCon, triplet, margin contrastive, alignment/uniformity.

Every check runs the learner's function and the package's on a handful of fixed random
cases (small and large τ, N = 2, unnormalised inputs, ...) and compares the loss and its
gradients. See :mod:`cssl_edu.checks._core` for how a mismatch is diagnosed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from cssl_edu.checks import bugs as B
from cssl_edu.checks._core import Case, Observation, leaf, loss_and_grads, one_thread, run_check
from cssl_edu.eval.geometry import alignment, uniformity
from cssl_edu.losses import info_nce, margin_contrastive_loss, nt_xent, supcon, triplet_loss

_COMMON = B.BUGS[B.COMMON]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _randn(g: torch.Generator, *shape: int, scale: float = 1.0) -> Tensor:
    return scale * torch.randn(*shape, generator=g)


def _uneven(g: torch.Generator, n: int, d: int) -> Tensor:
    """Rows with norms spread from 0.1 to 10, so 'forgot to normalise' shows."""
    x = torch.randn(n, d, generator=g)
    return x * torch.logspace(-1, 1, n).unsqueeze(1)


def _loss_check(
    name: str,
    fn: Callable[..., Any],
    reference: Callable[..., Any],
    cases: list[Case],
    bug_group: str,
    grad_of: tuple[int, ...],
) -> None:
    check = f"check_{name}"

    def observe(impl: Callable[..., Any], case: Case) -> Observation:
        args = [
            leaf(a, requires_grad=case.data.get("grad", {}).get(i, i in grad_of))
            if isinstance(a, Tensor) and a.is_floating_point()
            else a
            for i, a in enumerate(case.data["args"])
        ]
        return loss_and_grads(check, impl, args, grad_of, _COMMON)

    run_check(check, fn, reference, cases, observe, B.bugs_for(bug_group), nan_bug=_COMMON["nan_gradient"])


# --------------------------------------------------------------------------- NT-Xent


def _nt_xent_cases() -> list[Case]:
    g = _gen(1)
    same = _randn(g, 4, 8)
    return [
        Case("N=8, d=16, τ=0.5", {"args": [_randn(g, 8, 16), _randn(g, 8, 16), 0.5]}),
        Case("N=2 (the smallest batch), τ=0.5", {"args": [_randn(g, 2, 16), _randn(g, 2, 16), 0.5]}),
        Case("N=6, small τ=0.05", {"args": [_randn(g, 6, 16), _randn(g, 6, 16), 0.05]}),
        Case("N=6, large τ=5", {"args": [_randn(g, 6, 16), _randn(g, 6, 16), 5.0]}),
        Case(
            "N=5, unnormalised inputs (norms 0.1 to 10), τ=0.2",
            {"args": [_uneven(g, 5, 16), _uneven(g, 5, 16).flip(0), 0.2]},
        ),
        Case("N=4, both views identical, τ=0.3", {"args": [same, same.clone(), 0.3]}),
    ]


@one_thread
def check_nt_xent(fn: Callable[..., Any]) -> None:
    """Check ``fn(z1, z2, temperature) -> scalar`` against :func:`cssl_edu.losses.nt_xent`.

    Compares the loss and its gradients w.r.t. ``z1`` and ``z2`` on 6 cases; on a mismatch
    raises :class:`~cssl_edu.checks.CheckFailed` naming the likely bug (diagonal not masked,
    inputs not normalised, wrong positive index, τ applied twice, mean over N instead of 2N, ...).

    Example:
        >>> from cssl_edu.losses import nt_xent
        >>> check_nt_xent(nt_xent)
        ✓ check_nt_xent passed (6 cases)
    """
    _loss_check("nt_xent", fn, nt_xent, _nt_xent_cases(), "nt_xent", (0, 1))


# --------------------------------------------------------------------------- InfoNCE


def _info_nce_cases() -> list[Case]:
    g = _gen(2)
    q = _randn(g, 4, 8)
    return [
        Case(
            "N=8 queries, K=32 negatives, τ=0.2",
            {"args": [_randn(g, 8, 16), _randn(g, 8, 16), _randn(g, 32, 16), 0.2]},
        ),
        Case("N=2, K=3, τ=0.2", {"args": [_randn(g, 2, 16), _randn(g, 2, 16), _randn(g, 3, 16), 0.2]}),
        Case(
            "N=6, K=20, small τ=0.05", {"args": [_randn(g, 6, 16), _randn(g, 6, 16), _randn(g, 20, 16), 0.05]}
        ),
        Case("N=6, K=20, large τ=3", {"args": [_randn(g, 6, 16), _randn(g, 6, 16), _randn(g, 20, 16), 3.0]}),
        Case(
            "N=5, K=12, unnormalised inputs, τ=0.2",
            {"args": [_uneven(g, 5, 16), _uneven(g, 5, 16), _uneven(g, 12, 16), 0.2]},
        ),
        Case("N=4, K=6, keys equal to the queries, τ=0.1", {"args": [q, q.clone(), _randn(g, 6, 8), 0.1]}),
    ]


@one_thread
def check_info_nce(fn: Callable[..., Any]) -> None:
    """Check ``fn(query, key, negatives, temperature) -> scalar`` against :func:`cssl_edu.losses.info_nce`.

    Compares the loss and its gradient w.r.t. the query (the key is not detached here, so a
    detached query shows). Known bugs: not normalised, τ twice or missing, positive at the
    wrong index, positive missing from the denominator, sum instead of mean, query detached.
    """
    cases = _info_nce_cases()
    for c in cases:
        c.data["grad"] = {1: True, 2: False}
    _loss_check("info_nce", fn, info_nce, cases, "info_nce", (0,))


# --------------------------------------------------------------------------- SupCon


def _supcon_cases() -> list[Case]:
    g = _gen(3)
    return [
        Case(
            "N=8 images, V=2 views, 3 classes, τ=0.1",
            {"args": [_randn(g, 8, 2, 16), torch.tensor([0, 1, 2, 0, 1, 0, 2, 0]), 0.1]},
        ),
        Case(
            "N=6, V=3, uneven classes, τ=0.2",
            {"args": [_randn(g, 6, 3, 16), torch.tensor([0, 1, 0, 2, 1, 0]), 0.2]},
        ),
        Case(
            "N=4, V=2, all labels distinct (SupCon = SimCLR here), τ=0.5",
            {"args": [_randn(g, 4, 2, 16), torch.tensor([3, 1, 0, 2]), 0.5]},
        ),
        Case("N=2, V=2, one class, τ=0.1", {"args": [_randn(g, 2, 2, 16), torch.tensor([5, 5]), 0.1]}),
        Case(
            "N=6, V=2, unnormalised features, τ=0.3",
            {"args": [_uneven(g, 12, 16).view(6, 2, 16), torch.tensor([1, 1, 0, 0, 0, 2]), 0.3]},
        ),
        Case("N=5, V=2, small τ=0.05", {"args": [_randn(g, 5, 2, 16), torch.tensor([0, 0, 0, 1, 1]), 0.05]}),
    ]


@one_thread
def check_supcon(fn: Callable[..., Any]) -> None:
    """Check ``fn(features (N, V, d), labels (N,), temperature) -> scalar`` against :func:`cssl_edu.losses.supcon`.

    Known bugs: labels ignored, anchor counted as its own positive, diagonal not masked,
    not normalised, τ twice, L_in instead of L_out, labels misaligned with the stacked
    views, positives pooled over the batch.
    """
    _loss_check("supcon", fn, supcon, _supcon_cases(), "supcon", (0,))


# --------------------------------------------------------------------------- triplet


def _triplet_cases() -> list[Case]:
    g = _gen(4)
    labels8 = torch.tensor([0, 0, 1, 1, 2, 2, 0, 1])
    spread = torch.cat([_randn(g, 3, 4, scale=0.05) + 3 * i for i in range(3)])  # well-separated clusters
    return [
        Case("N=8, d=8, margin 0.2", {"args": [_randn(g, 8, 8), labels8, 0.2]}),
        Case("N=8, d=8, margin 1.0", {"args": [_randn(g, 8, 8), labels8, 1.0]}),
        Case(
            "N=6, d=4, three pairs, margin 0.5",
            {"args": [_randn(g, 6, 4), torch.tensor([0, 1, 2, 0, 1, 2]), 0.5]},
        ),
        Case(
            "N=9, clusters already far apart (few active triplets), margin 0.5",
            {"args": [spread, torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2]), 0.5]},
        ),
        Case(
            "N=6, d=4, all points close together, margin 1.0",
            {"args": [_randn(g, 6, 4, scale=0.1), torch.tensor([0, 1, 0, 1, 2, 2]), 1.0]},
        ),
        Case(
            "N=7, d=16, uneven classes, margin 0.3",
            {"args": [_randn(g, 7, 16, scale=0.3), torch.tensor([0, 0, 0, 0, 1, 1, 2]), 0.3]},
        ),
    ]


@one_thread
def check_triplet(fn: Callable[..., Any], mining: str = "batch_all") -> None:
    """Check ``fn(embeddings, labels, margin) -> scalar`` against :func:`cssl_edu.losses.triplet_loss`.

    Args:
        fn: the learner's triplet loss (Euclidean distances, mean over the active triplets
            for ``batch_all``; hardest positive and negative per anchor for ``batch_hard``).
        mining: ``"batch_all"`` or ``"batch_hard"``.
    """
    if mining not in ("batch_all", "batch_hard"):
        raise ValueError(f"mining must be 'batch_all' or 'batch_hard', got {mining!r}.")

    def reference(e: Tensor, y: Tensor, m: float) -> Tensor:
        return triplet_loss(e, y, m, mining=mining)

    group = "triplet" if mining == "batch_all" else "triplet_hard"
    _loss_check("triplet", fn, reference, _triplet_cases(), group, (0,))


# --------------------------------------------------------------------------- margin contrastive


def _margin_cases() -> list[Case]:
    g = _gen(5)
    x1 = _randn(g, 8, 4, scale=0.6)
    x2 = _randn(g, 8, 4, scale=0.6)
    x2[0] = x1[0]  # a similar pair at distance 0
    same = torch.tensor([1, 0, 1, 0, 0, 1, 0, 0])
    return [
        Case("N=8 pairs, margin 1 (one identical pair)", {"args": [x1, x2, same, 1.0]}),
        Case("N=8 pairs, margin 2", {"args": [_randn(g, 8, 4), _randn(g, 8, 4), same.flip(0), 2.0]}),
        Case(
            "N=4 pairs, dissimilar pairs far beyond the margin 0.5",
            {
                "args": [
                    _randn(g, 4, 3, scale=3.0),
                    _randn(g, 4, 3, scale=3.0),
                    torch.tensor([0, 0, 1, 0]),
                    0.5,
                ]
            },
        ),
        Case(
            "N=2 pairs, bool labels, margin 1",
            {"args": [_randn(g, 2, 4), _randn(g, 2, 4), torch.tensor([True, False]), 1.0]},
        ),
    ]


@one_thread
def check_margin_contrastive(fn: Callable[..., Any]) -> None:
    """Check ``fn(x1, x2, same, margin) -> scalar`` against :func:`cssl_edu.losses.margin_contrastive_loss`.

    ``same[i]`` is 1 (or True) when pair i is similar: L = mean of y·½d² + (1 − y)·½·max(0, m − d)².
    """
    _loss_check(
        "margin_contrastive", fn, margin_contrastive_loss, _margin_cases(), "margin_contrastive", (0, 1)
    )


# --------------------------------------------------------------------------- alignment / uniformity


@one_thread
def check_alignment(fn: Callable[..., Any]) -> None:
    """Check ``fn(z1, z2) -> scalar``, the alignment E‖f(x) − f(x⁺)‖² of normalised pairs (Wang & Isola)."""
    g = _gen(6)
    cases = [
        Case("N=16, d=8", {"args": [_randn(g, 16, 8), _randn(g, 16, 8)]}),
        Case("N=2, d=3", {"args": [_randn(g, 2, 3), _randn(g, 2, 3)]}),
        Case("N=6, unnormalised", {"args": [_uneven(g, 6, 8), _uneven(g, 6, 8)]}),
    ]
    _loss_check("alignment", fn, alignment, cases, "alignment", (0, 1))


@one_thread
def check_uniformity(fn: Callable[..., Any]) -> None:
    """Check ``fn(z) -> scalar``, the uniformity log E exp(−2‖f(x) − f(y)‖²) over distinct pairs (Wang & Isola)."""
    g = _gen(7)
    cases = [
        Case("N=16, d=8", {"args": [_randn(g, 16, 8)]}),
        Case("N=2, d=3", {"args": [_randn(g, 2, 3)]}),
        Case("N=10, unnormalised", {"args": [_uneven(g, 10, 8)]}),
        Case("N=8, nearly collapsed", {"args": [torch.ones(8, 4) + _randn(g, 8, 4, scale=0.05)]}),
    ]
    _loss_check("uniformity", fn, uniformity, cases, "uniformity", (0,))


@one_thread
def check_alignment_uniformity(alignment_fn: Callable[..., Any], uniformity_fn: Callable[..., Any]) -> None:
    """Run :func:`check_alignment` and :func:`check_uniformity`."""
    check_alignment(alignment_fn)
    check_uniformity(uniformity_fn)

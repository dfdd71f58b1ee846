"""Self-checks for SwAV: Sinkhorn-Knopp, the swapped-prediction loss and the prototype scores.

Each check runs the learner's function and the package's on a few fixed cases and compares the
values (and gradients, and whether a gradient can flow where none should); the buggy variants
registered here with :func:`cssl_edu.checks.bugs.bug` let a mismatch be named — Sinkhorn
normalised on the wrong axis, a gradient through the codes Q, prototypes not normalised, …
See :mod:`cssl_edu.checks._core` for how a mismatch is diagnosed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from cssl_edu.checks import bugs as B
from cssl_edu.checks._core import (
    Case,
    CheckFailed,
    Observation,
    fail,
    leaf,
    loss_and_grads,
    one_thread,
    run_check,
)
from cssl_edu.losses import sinkhorn, swav_loss

_COMMON = B.BUGS[B.COMMON]


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _cosines(g: torch.Generator, *shape: int, k: int) -> Tensor:
    """Cosine scores (…, K) of random unit features against K random unit prototypes."""
    z = F.normalize(torch.randn(*shape, 8, generator=g), dim=-1)
    c = F.normalize(torch.randn(k, 8, generator=g), dim=-1)
    return z @ c.T


# ============================================================================ Sinkhorn (the buggy variants)
def _exp_scores(scores: Tensor, epsilon: float) -> Tensor:
    return torch.exp(scores / epsilon)


@B.bug(
    "sinkhorn",
    "wrong_axis",
    "the normalisations run on the wrong axes: the (B, K) scores were not transposed to the "
    "paper's (K, B) layout, so 'rows' are samples and 'columns' prototypes",
    "either transpose first (Q = exp(S / ε).T, K × B, as in the paper) or, staying in (B, K), "
    "divide each prototype's column by K · its sum (dim=0) and then each sample's row by B · its sum "
    "(dim=1); the rows of the result must sum to 1",
)
@torch.no_grad()
def sinkhorn_wrong_axis(scores: Tensor, epsilon: float = 0.05, n_iters: int = 3) -> Tensor:
    q = _exp_scores(scores, epsilon)  # (B, K), used as if it were (K, B)
    q = q / q.sum()
    k, b = q.shape  # the paper's names, read off the wrong layout
    for _ in range(n_iters):
        q = q / q.sum(dim=1, keepdim=True) / k
        q = q / q.sum(dim=0, keepdim=True) / b
    return q * b


@B.bug(
    "sinkhorn",
    "prototype_step_last",
    "the two normalisations are in the wrong order: the prototype step comes last, so the codes "
    "(rows) do not sum to 1",
    "in each iteration first make every prototype's total 1/K, then every sample's total 1/B; "
    "finish with the sample step so each row of B·Q is a distribution over the prototypes",
)
@torch.no_grad()
def sinkhorn_prototype_step_last(scores: Tensor, epsilon: float = 0.05, n_iters: int = 3) -> Tensor:
    q = _exp_scores(scores, epsilon)
    q = q / q.sum()
    b, k = q.shape
    for _ in range(n_iters):
        q = q / q.sum(dim=1, keepdim=True) / b
        q = q / q.sum(dim=0, keepdim=True) / k
    return q * b


@B.bug(
    "sinkhorn",
    "gradient_through_q",
    "Q carries a gradient: the codes are a target, but autograd records the Sinkhorn steps",
    "compute Q under torch.no_grad() (decorate the function with @torch.no_grad()) or start "
    "from scores.detach(); SwAV never back-propagates through the assignment",
)
def sinkhorn_with_gradient(scores: Tensor, epsilon: float = 0.05, n_iters: int = 3) -> Tensor:
    q = _exp_scores(scores, epsilon)
    q = q / q.sum()
    b, k = q.shape
    for _ in range(n_iters):
        q = q / q.sum(dim=0, keepdim=True) / k
        q = q / q.sum(dim=1, keepdim=True) / b
    return q * b


@B.bug(
    "sinkhorn",
    "no_final_scaling",
    "Q is returned without the final ×B, so each row sums to 1/B instead of 1",
    "multiply by B at the end: the iterations leave each sample with mass 1/B, and a code must be "
    "a distribution (rows summing to 1)",
)
@torch.no_grad()
def sinkhorn_no_final_scaling(scores: Tensor, epsilon: float = 0.05, n_iters: int = 3) -> Tensor:
    return sinkhorn(scores, epsilon, n_iters) / scores.shape[0]


@B.bug(
    "sinkhorn",
    "epsilon_multiplied",
    "the scores are multiplied by ε instead of divided (exp(S·ε)): the codes come out almost uniform",
    "use exp(scores / epsilon): a small ε must make the codes sharper, not flatter",
)
@torch.no_grad()
def sinkhorn_epsilon_multiplied(scores: Tensor, epsilon: float = 0.05, n_iters: int = 3) -> Tensor:
    return sinkhorn(scores * epsilon * epsilon, epsilon, n_iters)


@B.bug(
    "sinkhorn",
    "softmax_only",
    "there is no Sinkhorn iteration at all: Q = softmax(S / ε) per sample, so nothing shares the "
    "batch out over the prototypes (no equipartition)",
    "alternate the two normalisations n_iters times: prototype sums to 1/K, then sample sums to 1/B",
)
@torch.no_grad()
def sinkhorn_softmax_only(scores: Tensor, epsilon: float = 0.05, n_iters: int = 3) -> Tensor:
    return F.softmax(scores / epsilon, dim=1)


# ============================================================================ SwAV loss (the buggy variants)
def _swapped(scores: Tensor, codes: list[Tensor], temperature: float, include_own: bool = False) -> Tensor:
    v = scores.shape[0]
    log_p = F.log_softmax(scores / temperature, dim=-1)
    total = 0
    for c, q in zip((0, 1), codes):
        others = [i for i in range(v) if include_own or i != c]
        total = total + sum(-(q * log_p[i]).sum(-1).mean() for i in others) / len(others)
    return total / 2


@B.bug(
    "swav_loss",
    "gradient_through_q",
    "the codes Q are not detached: the gradient also flows through the Sinkhorn step into the "
    "assigned crop's scores",
    "compute the codes from scores[c].detach() (or under torch.no_grad()); only the predictions "
    "log softmax(scores[v] / τ) carry a gradient",
)
def swav_gradient_through_q(
    scores: Tensor, temperature: float = 0.1, epsilon: float = 0.05, n_iters: int = 3
) -> Tensor:
    codes = [sinkhorn_with_gradient(scores[c], epsilon, n_iters) for c in (0, 1)]
    return _swapped(scores, codes, temperature)


@B.bug(
    "swav_loss",
    "no_swap",
    "each assigned crop also predicts its own code: the sum runs over all V crops instead of the V − 1 others",
    "leave out v = c: the code of crop c is predicted from the *other* crops only (the swap)",
)
def swav_no_swap(scores: Tensor, temperature: float = 0.1, epsilon: float = 0.05, n_iters: int = 3) -> Tensor:
    codes = [sinkhorn(scores[c].detach(), epsilon, n_iters) for c in (0, 1)]
    return _swapped(scores, codes, temperature, include_own=True)


@B.bug(
    "swav_loss",
    "temperature_missing",
    "the prediction softmax has no temperature: log softmax(scores) instead of log softmax(scores / τ)",
    "divide the scores by τ (0.1) before the log-softmax; cosines in [−1, 1] alone give a nearly flat prediction",
)
def swav_temperature_missing(
    scores: Tensor, temperature: float = 0.1, epsilon: float = 0.05, n_iters: int = 3
) -> Tensor:
    return swav_loss(scores * temperature, temperature, epsilon * temperature, n_iters)


@B.bug(
    "swav_loss",
    "softmax_codes",
    "the codes are a plain softmax of the scores, not Sinkhorn's equipartitioned assignment",
    "compute the codes with sinkhorn(scores[c].detach(), epsilon, n_iters): without the "
    "equipartition every crop may pick the same prototype and the loss collapses",
)
def swav_softmax_codes(
    scores: Tensor, temperature: float = 0.1, epsilon: float = 0.05, n_iters: int = 3
) -> Tensor:
    codes = [F.softmax(scores[c].detach() / epsilon, dim=-1) for c in (0, 1)]
    return _swapped(scores, codes, temperature)


@B.bug(
    "swav_loss",
    "softmax_over_batch",
    "the prediction's softmax runs over the images (dim=1 of (V, B, K)) instead of the prototypes",
    "use F.log_softmax(scores / τ, dim=-1): each crop predicts a distribution over the K prototypes",
)
def swav_softmax_over_batch(
    scores: Tensor, temperature: float = 0.1, epsilon: float = 0.05, n_iters: int = 3
) -> Tensor:
    v = scores.shape[0]
    log_p = F.log_softmax(scores / temperature, dim=1)
    codes = [sinkhorn(scores[c].detach(), epsilon, n_iters) for c in (0, 1)]
    total = 0
    for c, q in zip((0, 1), codes):
        total = total + sum(-(q * log_p[i]).sum(-1).mean() for i in range(v) if i != c) / (v - 1)
    return total / 2


# ============================================================================ prototype scores (the buggy variants)
@B.bug(
    "prototype_scores",
    "prototypes_not_normalised",
    "the prototypes are not L2-normalised, so a score is z·c_k scaled by ‖c_k‖, not a cosine",
    "normalise the prototypes' rows too: F.normalize(prototypes, dim=1) (SwAV re-normalises them "
    "at every step; otherwise a prototype can win assignments just by growing longer)",
)
def scores_prototypes_not_normalised(z: Tensor, prototypes: Tensor) -> Tensor:
    return F.normalize(z, dim=1) @ prototypes.T


@B.bug(
    "prototype_scores",
    "features_not_normalised",
    "the features z are not L2-normalised before scoring",
    "normalise each row of z: F.normalize(z, dim=1), so that the scores are cosines in [−1, 1]",
)
def scores_features_not_normalised(z: Tensor, prototypes: Tensor) -> Tensor:
    return z @ F.normalize(prototypes, dim=1).T


@B.bug(
    "prototype_scores",
    "nothing_normalised",
    "neither the features nor the prototypes are normalised: the scores are raw dot products",
    "normalise both: F.normalize(z, dim=1) @ F.normalize(prototypes, dim=1).T",
)
def scores_nothing_normalised(z: Tensor, prototypes: Tensor) -> Tensor:
    return z @ prototypes.T


@B.bug(
    "prototype_scores",
    "transposed",
    "the scores come out as (K, B) prototypes × samples instead of (B, K)",
    "compute z @ prototypes.T: one row per sample, one column per prototype",
)
def scores_transposed(z: Tensor, prototypes: Tensor) -> Tensor:
    return F.normalize(prototypes, dim=1) @ F.normalize(z, dim=1).T


def prototype_scores_reference(z: Tensor, prototypes: Tensor) -> Tensor:
    """SwAV's scores: cosines of the normalised features with the normalised prototypes, (B, K)."""
    return F.normalize(z, dim=1) @ F.normalize(prototypes, dim=1).T


# ============================================================================ the checks
def _sinkhorn_cases() -> list[Case]:
    g = _gen(21)
    skewed = torch.zeros(12, 4)
    skewed[:, 0] = 0.8
    skewed += 0.1 * torch.randn(12, 4, generator=g)
    return [
        Case("B=8 samples, K=4 prototypes, ε=0.05, 3 iterations", {"args": [_cosines(g, 8, k=4), 0.05, 3]}),
        Case(
            "B=5, K=7 (fewer samples than prototypes), ε=0.1, 1 iteration",
            {"args": [_cosines(g, 5, k=7), 0.1, 1]},
        ),
        Case("B=6, K=6, large ε=0.5, 10 iterations", {"args": [_cosines(g, 6, k=6), 0.5, 10]}),
        Case(
            "B=12, K=4, every sample prefers prototype 0, ε=0.05, 3 iterations", {"args": [skewed, 0.05, 3]}
        ),
        Case("B=9, K=3, ε=0.05, 5 iterations", {"args": [_cosines(g, 9, k=3), 0.05, 5]}),
    ]


@one_thread
def check_sinkhorn(fn: Callable[..., Any]) -> None:
    """Check ``fn(scores (B, K), epsilon, n_iters) -> Q (B, K)`` against :func:`cssl_edu.losses.sinkhorn`.

    Compares Q (rows summing to 1, prototype sums → B/K) and checks that no gradient can flow
    through it. Known bugs: normalised on the wrong axis, the steps in the wrong order, a
    gradient through Q, no final ×B, ε multiplied, no iterations at all (a plain softmax).
    """
    check = "check_sinkhorn"

    def observe(impl: Callable[..., Any], case: Case) -> Observation:
        scores, eps, iters = case.data["args"]
        q = impl(leaf(scores), eps, iters)
        if not isinstance(q, Tensor):
            raise CheckFailed(
                f"{check}: your function returned a {type(q).__name__}, not a tensor.", check=check
            )
        return {"Q": q.detach(), "Q carries a gradient": bool(q.requires_grad)}

    run_check(check, fn, sinkhorn, _sinkhorn_cases(), observe, B.bugs_for("sinkhorn"))


def _swav_cases() -> list[Case]:
    g = _gen(22)
    return [
        Case("V=2 crops, B=8, K=5, τ=0.1, ε=0.05", {"args": [_cosines(g, 2, 8, k=5), 0.1, 0.05, 3]}),
        Case(
            "V=4 crops (2 large + 2 small), B=6, K=4, τ=0.1", {"args": [_cosines(g, 4, 6, k=4), 0.1, 0.05, 3]}
        ),
        Case("V=3, B=5, K=8, τ=0.2, ε=0.1", {"args": [_cosines(g, 3, 5, k=8), 0.2, 0.1, 3]}),
        Case("V=6, B=4, K=3, τ=0.5, 1 iteration", {"args": [_cosines(g, 6, 4, k=3), 0.5, 0.05, 1]}),
    ]


@one_thread
def check_swav_loss(fn: Callable[..., Any]) -> None:
    """Check ``fn(scores (V, B, K), temperature, epsilon, n_iters) -> loss`` against :func:`cssl_edu.losses.swav_loss`.

    The codes of crops 0 and 1 are the targets. Compares the loss and its gradient w.r.t. the
    scores. Known bugs: a gradient through Q, no swap (a crop predicting its own code), no
    temperature, softmax codes instead of Sinkhorn, the softmax over the wrong axis.
    """
    check = "check_swav_loss"

    def observe(impl: Callable[..., Any], case: Case) -> Observation:
        scores, *rest = case.data["args"]
        return loss_and_grads(check, impl, [leaf(scores), *rest], (0,), _COMMON)

    run_check(
        check, fn, swav_loss, _swav_cases(), observe, B.bugs_for("swav_loss"), nan_bug=_COMMON["nan_gradient"]
    )


def _score_cases() -> list[Case]:
    g = _gen(23)

    def uneven(n: int, d: int) -> Tensor:
        return torch.randn(n, d, generator=g) * torch.logspace(-0.5, 0.5, n).unsqueeze(1)

    return [
        Case(
            "B=6 features, K=4 prototypes of lengths 0.3 to 3",
            {"args": [torch.randn(6, 8, generator=g), uneven(4, 8)]},
        ),
        Case("B=3, K=5, unnormalised features and prototypes", {"args": [uneven(3, 4), uneven(5, 4)]}),
        Case("B=5, K=5 (square), d=16", {"args": [uneven(5, 16), uneven(5, 16)]}),
    ]


@one_thread
def check_prototype_scores(fn: Callable[..., Any]) -> None:
    """Check ``fn(z (B, d), prototypes (K, d)) -> scores (B, K)``: cosines of normalised z and prototypes.

    Compares the scores and their gradient w.r.t. z. Known bugs: prototypes not normalised,
    features not normalised, neither, the result transposed.
    """
    check = "check_prototype_scores"

    def observe(impl: Callable[..., Any], case: Case) -> Observation:
        z, c = (leaf(a) for a in case.data["args"])
        s = impl(z, c)
        if not isinstance(s, Tensor):
            raise CheckFailed(
                f"{check}: your function returned a {type(s).__name__}, not a tensor.", check=check
            )
        if s.shape != (z.shape[0], c.shape[0]):
            # a transposed square result is caught by the values; a non-square one by its shape
            bug = B.BUGS["prototype_scores"]["transposed"]
            if s.shape == (c.shape[0], z.shape[0]):
                raise fail(
                    check,
                    bug,
                    f"your scores have shape {tuple(s.shape)}, expected {(z.shape[0], c.shape[0])}.",
                )
            raise CheckFailed(
                f"{check}: your scores have shape {tuple(s.shape)}, expected (B, K) = {(z.shape[0], c.shape[0])}.",
                check=check,
            )
        weights = torch.linspace(-1, 1, s.numel()).view_as(s)
        (gz,) = torch.autograd.grad((s * weights).sum(), z, allow_unused=True)
        return {"scores": s.detach(), "gradient w.r.t. z": torch.zeros_like(z) if gz is None else gz}

    run_check(check, fn, prototype_scores_reference, _score_cases(), observe, B.bugs_for("prototype_scores"))

"""Self-checks for MoCo's parts: the key queue, one loss-and-enqueue step, the momentum update,
and MoCHi's hard-negative mixing."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cssl_edu.checks import bugs as B
from cssl_edu.checks._core import (
    Case,
    CheckFailed,
    Observation,
    call_learner,
    fail,
    leaf,
    one_thread,
    passed,
    run_check,
    scalar_loss,
)
from cssl_edu.methods import KeyQueue, make_target, momentum_update

_COMMON = B.BUGS[B.COMMON]


def _keys(g: torch.Generator, b: int, d: int) -> Tensor:
    """(b, d) unit keys that carry a graph, as keys from an encoder would."""
    w = torch.ones(1, requires_grad=True)
    return F.normalize(torch.randn(b, d, generator=g), dim=1) * w


def _sorted_rows(x: Any) -> Any:
    if not isinstance(x, Tensor) or x.dim() != 2 or x.shape[0] == 0:
        return x.detach() if isinstance(x, Tensor) else x
    x = x.detach().float()
    return x[x[:, 0].argsort()]


# --------------------------------------------------------------------------- queue


def _queue_cases() -> list[Case]:
    return [
        Case(
            "K=8, batches of 3, 3, 3, 3, 2 (B does not divide K; wraps around)",
            {"size": 8, "dim": 4, "batches": [3, 3, 3, 3, 2], "seed": 11},
        ),
        Case(
            "K=6, batches of 2, 2, 2, 2 (fills exactly, then replaces the oldest)",
            {"size": 6, "dim": 4, "batches": [2, 2, 2, 2], "seed": 12},
        ),
        Case("K=5, batches of 1, 4, 4, 1", {"size": 5, "dim": 3, "batches": [1, 4, 4, 1], "seed": 13}),
        Case(
            "K=4, a batch of 6 (larger than the queue: keep its newest 4), then 1",
            {"size": 4, "dim": 3, "batches": [6, 1], "seed": 14},
        ),
    ]


def _observe_queue(cls: Any, case: Case) -> Observation:
    """After each enqueue: how many keys of each batch are kept, and rows that are no key at all.

    Which keys of a partly overwritten batch survive is a layout detail (all keys of a batch
    are equally old), so the check counts keys per batch instead of comparing rows.
    """
    d = case.data
    g = torch.Generator().manual_seed(d["seed"])
    queue = cls(d["size"], d["dim"])
    obs: Observation = {}
    sent: list[Tensor] = []
    for i, b in enumerate(d["batches"], start=1):
        keys = _keys(g, b, d["dim"])
        sent.append(keys.detach().clone())
        queue.enqueue(keys)
        neg = queue.negatives()
        if not isinstance(neg, Tensor) or neg.dim() != 2:
            obs[f"negatives() after enqueue #{i}"] = neg
            continue
        known = torch.cat(sent)
        batch_of = torch.cat([torch.full((len(k),), j) for j, k in enumerate(sent)])
        dist = torch.cdist(neg.detach().float(), known) if len(neg) else torch.zeros(0, len(known))
        hit = dist.min(1) if len(neg) else None
        found = (hit.values < 1e-4) if hit is not None else torch.zeros(0, dtype=torch.bool)
        per_batch = torch.zeros(len(sent))
        if hit is not None:
            per_batch.index_add_(0, batch_of[hit.indices[found]], torch.ones(int(found.sum())))
        obs[f"keys kept from each batch after enqueue #{i}"] = per_batch
        obs[f"rows of negatives() that are no enqueued key, after enqueue #{i}"] = float((~found).sum())
        obs[f"negatives() requires grad after enqueue #{i}"] = bool(neg.requires_grad)
    return obs


@one_thread
def check_moco_queue(cls: Callable[[int, int], Any]) -> None:
    """Check a MoCo queue class against :class:`cssl_edu.methods.KeyQueue`.

    The class is built as ``cls(size, dim)`` and must provide ``enqueue(keys (B, dim))``
    (FIFO: the newest K keys survive, any B, wrapping around the end) and ``negatives()``
    (the filled keys, ``(min(count, K), dim)``; their order does not matter, and which keys
    of a partly overwritten batch survive does not either). Keys passed in
    carry a graph, as real keys would; the queue must store them detached.
    """
    run_check("check_moco_queue", cls, KeyQueue, _queue_cases(), _observe_queue, B.bugs_for("moco_queue"))


# --------------------------------------------------------------------------- one MoCo step


def _step_cases() -> list[Case]:
    return [
        Case("N=8 queries, full queue K=16, τ=0.2", {"n": 8, "size": 16, "fill": 16, "t": 0.2, "seed": 21}),
        Case("N=4, queue K=12 holding 6 keys, τ=0.1", {"n": 4, "size": 12, "fill": 6, "t": 0.1, "seed": 22}),
        Case("N=2, full queue K=4, τ=0.5", {"n": 2, "size": 4, "fill": 4, "t": 0.5, "seed": 23}),
    ]


def _observe_step(fn: Any, case: Case) -> Observation:
    d, dim = case.data, 8
    g = torch.Generator().manual_seed(d["seed"])
    queue = KeyQueue(d["size"], dim)
    queue.enqueue(F.normalize(torch.randn(d["fill"], dim, generator=g), dim=1))
    query = leaf(torch.randn(d["n"], dim, generator=g))
    key = leaf(query.detach() + 0.3 * torch.randn(d["n"], dim, generator=g))
    loss = scalar_loss("check_moco_step", fn(query, key, queue, d["t"]), _COMMON)
    gq, gk = torch.autograd.grad(loss, [query, key], allow_unused=True)
    return {
        "loss": loss.detach(),
        "gradient w.r.t. the query": torch.zeros_like(query) if gq is None else gq,
        "gradient w.r.t. the key": torch.zeros_like(key) if gk is None else gk,
        "queue after the step (rows sorted)": _sorted_rows(queue.negatives()),
    }


@one_thread
def check_moco_step(fn: Callable[..., Any]) -> None:
    """Check ``fn(query, key, queue, temperature) -> loss``: one MoCo step's loss and queue update.

    ``queue`` is a :class:`~cssl_edu.methods.KeyQueue`. The step must compute InfoNCE of the
    queries against their (detached) keys and the queue *as it was*, then enqueue the keys.
    Known bugs: enqueue before the loss, keys not detached, keys never enqueued.
    """
    run_check(
        "check_moco_step", fn, B.moco_step_reference, _step_cases(), _observe_step, B.bugs_for("moco_step")
    )


# --------------------------------------------------------------------------- momentum update


def _net(g: torch.Generator) -> nn.Module:
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return net


def _observe_momentum(fn: Any, case: Case) -> Observation:
    g = torch.Generator().manual_seed(case.data["seed"])
    online = _net(g)
    target = make_target(online)
    with torch.no_grad():  # "training": the online network moves away from the target
        for p in online.parameters():
            p.add_(torch.randn(p.shape, generator=g))
    online.train()(torch.randn(16, 4, generator=g))  # BatchNorm running statistics change too
    flat = lambda ts: torch.cat([t.detach().float().flatten() for t in ts])  # noqa: E731
    floats = lambda net: flat(b for b in net.buffers() if b.is_floating_point())  # noqa: E731
    m, before, online_buffers = case.data["m"], floats(target), floats(online)
    fn(online, target, m)
    after = floats(target)
    # Buffers (BatchNorm running statistics) are not parameters, and the papers' code leaves them
    # alone (MoCo's and BYOL's EMA runs over parameters only); the package copies them from the
    # online network, a convention. Any of the three is accepted.
    accepted = (before, online_buffers, m * before + (1 - m) * online_buffers)
    return {
        "target parameters": flat(target.parameters()),
        "online parameters": flat(online.parameters()),
        "target buffers left as they were, copied from the online network, or averaged with m": any(
            torch.allclose(after, want, rtol=1e-5, atol=1e-6) for want in accepted
        ),
    }


@one_thread
def check_momentum_update(fn: Callable[..., Any]) -> None:
    """Check ``fn(online, target, m)``, the in-place EMA θ_t ← m·θ_t + (1 − m)·θ_o over the parameters.

    Compared with :func:`cssl_edu.methods.momentum_update` for m = 0.99, 0.9, 0 and 1 on a
    small network with BatchNorm. Only the parameters are compared exactly. The buffers
    (BatchNorm running mean/var) are not parameters: the papers' EMA (MoCo, BYOL) leaves the
    target's own buffers alone, the package copies the online network's (a convention of this
    package, so that a target in eval mode normalises like the online network), and some
    libraries average them too — all three pass. Known bugs: m and 1 − m swapped, online
    updated instead of the target, nothing updated in place, m ignored (a plain copy).
    """
    cases = [Case(f"m = {m}", {"m": m, "seed": 30 + i}) for i, m in enumerate((0.99, 0.9, 0.0, 1.0))]
    run_check(
        "check_momentum_update", fn, momentum_update, cases, _observe_momentum, B.bugs_for("momentum_update")
    )


# --------------------------------------------------------------------------- MoCHi


def _cone(rows: Tensor, gens: Tensor, tol: float = 1e-4) -> tuple[Tensor, Tensor]:
    """For rows (N, M, d) and generator pairs (N, P, 2, d): is each row a non-negative mix of some pair?

    Returns (ok (N, M, P) bool, coefficients (N, M, P, 2)); float64.
    """
    rows, gens = rows.double(), gens.double()
    gram = gens @ gens.transpose(-1, -2)  # (N, P, 2, 2)
    rhs = torch.einsum("npkd,nmd->nmpk", gens, rows)  # (N, M, P, 2)
    gram = gram + 1e-12 * torch.eye(2, dtype=gram.dtype)
    coef = torch.linalg.solve(
        gram.unsqueeze(1).expand(-1, rows.shape[1], -1, -1, -1), rhs.unsqueeze(-1)
    ).squeeze(-1)
    recon = torch.einsum("nmpk,npkd->nmpd", coef, gens)
    resid = (recon - rows.unsqueeze(2)).norm(dim=-1)
    ok = (resid < tol) & (coef > -tol).all(-1) & (coef.sum(-1) > tol)
    return ok, coef


def _fitted_share(ok: Tensor, coef: Tensor) -> Tensor:
    """For each row, the first generator's share a/(a + b) in the first pair it is a mix of: (N·M,)."""
    first = ok.long().argmax(-1, keepdim=True)  # (N, M, 1): index of the first matching pair
    c = coef.gather(2, first.unsqueeze(-1).expand(-1, -1, 1, 2)).squeeze(2)  # (N, M, 2)
    return (c[..., 0] / c.sum(-1).clamp_min(1e-12)).flatten()


def _mix_ok(out: Tensor, query: Tensor, hard: Tensor, s: int) -> tuple[bool, bool, Tensor, Tensor, int]:
    """What the rows of ``out`` are, given the hard set ``hard`` (N, n_hard, d) of each query.

    Returns (every row is a valid mix of this hard set, every s' row also has β ≤ 0.5,
    the fitted α of the s rows folded to min(α, 1 − α), the fitted β of the s' rows,
    how many s rows are a copy of one hard negative).
    """
    n_hard = hard.shape[1]
    ok_all, beta_ok = True, True
    alphas, betas, copies = torch.zeros(0, dtype=torch.float64), torch.zeros(0, dtype=torch.float64), 0
    if s > 0:
        pairs = (
            torch.combinations(torch.arange(n_hard), 2) if n_hard > 1 else torch.zeros(1, 2, dtype=torch.long)
        )
        ok, coef = _cone(out[:, :s], hard[:, pairs])
        ok_all &= bool(ok.any(-1).all())
        if ok_all:
            a = _fitted_share(ok, coef)
            alphas = torch.minimum(a, 1 - a)
        # a row within 1e-5 of a hard negative: a correct mix gets there only for α < ~1e-5
        dist = torch.cdist(out[:, :s].detach().double(), hard.double())  # (N, s, n_hard)
        copies = int((dist.amin(-1) < 1e-5).sum())
    if out.shape[1] > s:
        q = F.normalize(query.detach(), dim=1).unsqueeze(1).expand(-1, n_hard, -1)
        gens = torch.stack([q, hard], dim=2)  # (N, n_hard, 2, d)
        ok, coef = _cone(out[:, s:], gens)
        ok_all &= bool(ok.any(-1).all())
        small_beta = ok & (coef[..., 0] <= coef[..., 1] * (1 + 1e-3) + 1e-6)
        beta_ok = bool(small_beta.any(-1).all())
        if ok_all and beta_ok:
            betas = _fitted_share(small_beta, coef)
    return ok_all, beta_ok, alphas, betas, copies


def _not_uniform(x: Tensor, high: float, min_count: int = 20) -> bool:
    """Kolmogorov–Smirnov: are the values ``x`` clearly *not* drawn from U(0, high)?

    Uses a p-value of 1e-6 (critical D = √(ln(2/p) / 2n)), so a correct implementation
    fails by chance about once in a million runs; a fixed α (D ≈ 1) or β = 0 (D = 1) fails
    with any n ≥ 20.
    """
    n = x.numel()
    if n < min_count:
        return False
    u = (x.double() / high).clamp(0, 1).sort().values
    grid = torch.arange(1, n + 1, dtype=torch.float64) / n
    d = torch.maximum(grid - u, u - (grid - 1.0 / n)).max()
    return bool(d > math.sqrt(math.log(2 / 1e-6) / (2 * n)))


def _mochi_cases() -> list[Case]:
    return [
        Case(
            "N=6 queries, K=40 negatives, n_hard=5, s=6, s'=4",
            {"n": 6, "k": 40, "n_hard": 5, "s": 6, "sp": 4, "seed": 41},
        ),
        Case(
            "N=4, K=10, n_hard=2 (the smallest for s > 0), s=3, s'=0",
            {"n": 4, "k": 10, "n_hard": 2, "s": 3, "sp": 0, "seed": 42},
        ),
        Case("N=3, K=8, n_hard=K, s=0, s'=5", {"n": 3, "k": 8, "n_hard": 8, "s": 0, "sp": 5, "seed": 43}),
        Case(
            "N=5, K=30 unnormalised negatives, n_hard=4, s=4, s'=6",
            {"n": 5, "k": 30, "n_hard": 4, "s": 4, "sp": 6, "seed": 44, "uneven": True},
        ),
        Case(
            "N=4, K=12, n_hard=3, s=0, s'=0 (nothing to mix)",
            {"n": 4, "k": 12, "n_hard": 3, "s": 0, "sp": 0, "seed": 45},
        ),
    ]


def _mochi_inputs(case: Case) -> tuple[Tensor, Tensor]:
    d = case.data
    g = torch.Generator().manual_seed(d["seed"])
    query = torch.randn(d["n"], 16, generator=g)
    neg = torch.randn(d["k"], 16, generator=g)
    if d.get("uneven"):
        neg = neg * torch.logspace(-1, 1, d["k"]).unsqueeze(1)[torch.randperm(d["k"], generator=g)]
    return query, neg


@one_thread
def check_mix_hard_negatives(fn: Callable[..., Any]) -> None:
    """Check ``fn(query (N, d), negatives (K, d), n_hard, s, s_prime) -> (N, s + s_prime, d)`` (MoCHi).

    The mixing is random, so the check tests what must hold whatever the draws: the shape,
    no gradient, unit-norm rows; the first ``s`` rows of query n are non-negative mixes of two
    *different* ones of *its own* ``n_hard`` most similar negatives (cosine similarity); the
    last ``s_prime`` rows mix the query with one of them, with the query's share β ≤ 0.5.
    Then, over all cases (about 70 mixes of each kind), the fitted coefficients must look
    like the paper's draws: α ~ U(0, 1) and β ~ U(0, 0.5) (a Kolmogorov–Smirnov test at
    p = 1e-6, so a correct implementation practically never fails it). Known bugs: every
    query using query 0's hard negatives, the easiest instead of the hardest, ranking by raw
    dot products, β ~ U(0, 1), the same negative mixed with itself (i = j), a fixed α,
    β = 0, not normalised, not detached.
    """
    check, cases = "check_mix_hard_negatives", _mochi_cases()
    bugs = B.BUGS["mix_hard_negatives"]
    alternatives = {
        "same_query_hard_set": lambda q, n, h: B._hard_set(q, n, h)[:1].expand(q.shape[0], -1, -1),
        "easiest_negatives": lambda q, n, h: B._hard_set(q, n, h, largest=False),
        "similarity_not_normalised": lambda q, n, h: B._hard_set(q, n, h, normalise=False),
    }
    explains = dict.fromkeys(alternatives, True)
    first_bad: tuple[str, str] | None = None
    beta_bad: str | None = None
    alphas: list[Tensor] = []
    betas: list[Tensor] = []
    copies: list[tuple[str, int]] = []
    for case in cases:
        d = case.data
        query, neg = _mochi_inputs(case)
        q_in = leaf(query)
        out = call_learner(
            check, case, lambda q_in=q_in, neg=neg, d=d: fn(q_in, neg.clone(), d["n_hard"], d["s"], d["sp"])
        )
        want = (d["n"], d["s"] + d["sp"], 16)
        if not isinstance(out, Tensor) or tuple(out.shape) != want:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise CheckFailed(
                f"{check}: ✗ on case '{case.name}' the result has shape {got}, expected {want} "
                "(N, s + s_prime, d): the s mixes first, then the s_prime ones.",
                check=check,
                case=case.name,
            )
        if out.requires_grad:
            raise fail(
                check,
                bugs["not_detached"],
                f"on case '{case.name}' the result requires grad.",
                case=case.name,
            )
        if out.numel() and not torch.allclose(out.detach().norm(dim=-1), torch.ones(()), atol=1e-4):
            raise fail(
                check,
                bugs["not_normalised"],
                f"on case '{case.name}' the rows have norms "
                f"{out.norm(dim=-1).min():.3g} to {out.norm(dim=-1).max():.3g}, expected 1.",
                case=case.name,
            )
        if not out.numel():
            continue
        own_ok, own_beta, a, b, n_copies = _mix_ok(out, query, B._hard_set(query, neg, d["n_hard"]), d["s"])
        alphas.append(a)
        betas.append(b)
        if n_copies:
            copies.append((case.name, n_copies))
        for key, make in alternatives.items():
            explains[key] &= _mix_ok(out, query, make(query, neg, d["n_hard"]), d["s"])[0]
        if not own_ok and first_bad is None:
            first_bad = (case.name, "some rows are not mixes of the query's own n_hard hardest negatives")
        elif own_ok and not own_beta and beta_bad is None:
            beta_bad = case.name
    if first_bad is not None:
        for key, ok in explains.items():
            if ok:
                raise fail(check, bugs[key], f"on case '{first_bad[0]}' {first_bad[1]}.", case=first_bad[0])
        raise CheckFailed(
            f"{check}: ✗ on case '{first_bad[0]}' {first_bad[1]}: every synthetic negative "
            "must be α·n_i + (1 − α)·n_j (two of the query's hardest) or β·q + (1 − β)·n_j, "
            "then normalised.",
            check=check,
            case=first_bad[0],
        )
    if beta_bad is not None:
        raise fail(
            check,
            bugs["beta_too_large"],
            f"on case '{beta_bad}' some query-mixes have β > 0.5.",
            case=beta_bad,
        )
    if sum(n for _, n in copies) >= 2:  # a correct mix is this close to one negative with p ≈ 1e-5
        where, _ = copies[0]
        raise fail(
            check,
            bugs["same_negative_twice"],
            f"{sum(n for _, n in copies)} two-negative mixes equal one hard negative "
            f"(first on case '{where}').",
            case=where,
        )
    a_all, b_all = torch.cat(alphas), torch.cat(betas)
    if _not_uniform(a_all, 0.5):
        raise fail(
            check,
            bugs["alpha_not_uniform"],
            f"over {a_all.numel()} two-negative mixes the fitted min(α, 1 − α) ranges "
            f"{float(a_all.min()):.3f}–{float(a_all.max()):.3f} (mean {float(a_all.mean()):.3f}); "
            "for α ~ U(0, 1) it is uniform on [0, 0.5] (mean 0.25).",
        )
    if _not_uniform(b_all, 0.5):
        raise fail(
            check,
            bugs["beta_not_uniform"],
            f"over {b_all.numel()} query-mixes the fitted β ranges "
            f"{float(b_all.min()):.3f}–{float(b_all.max()):.3f} (mean {float(b_all.mean()):.3f}); "
            "for β ~ U(0, 0.5) it is uniform on [0, 0.5] (mean 0.25).",
        )
    passed(check, len(cases))

"""Sinkhorn-Knopp, the SwAV loss, NCE and semi-hard triplet mining — each against an independent
float64 reference written from the paper's formula (plain loops and exponentials), values and
gradients; hypothesis properties; Sinkhorn under DDP (gloo, 2 processes) against one process."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cssl_edu.distributed import shutdown
from cssl_edu.losses import nce_loss, negative_sampling_loss, sinkhorn, swav_loss, triplet_loss

f64 = torch.float64


# --------------------------------------------------------------------------- references
def ref_sinkhorn(scores: torch.Tensor, eps: float, iters: int) -> torch.Tensor:
    """The paper's Algorithm (Caron et al. 2020, appendix A.1) in the K × B orientation, plain exp."""
    q = torch.exp(scores.detach() / eps).T.clone()  # (K, B)
    k, b = q.shape
    q = q / q.sum()
    for _ in range(iters):
        for i in range(k):  # each prototype's row sums to 1/K
            q[i] = q[i] / q[i].sum() / k
        for j in range(b):  # each sample's column sums to 1/B
            q[:, j] = q[:, j] / q[:, j].sum() / b
    return (q * b).T


def ref_swav(scores: torch.Tensor, tau: float, eps: float, iters: int, assign=(0, 1)) -> torch.Tensor:
    v, b, _ = scores.shape
    total = 0
    for c in assign:
        q = ref_sinkhorn(scores[c], eps, iters)
        sub = 0
        for other in range(v):
            if other == c:
                continue
            for n in range(b):
                p = torch.exp(scores[other, n] / tau)
                p = p / p.sum()
                sub = sub - (q[n] * torch.log(p)).sum() / b
        total = total + sub / (v - 1)
    return total / len(assign)


def ref_nce(s_data, s_noise, logq_data, logq_noise):
    """Gutmann & Hyvärinen 2010: h(u) = p_m(u) / (p_m(u) + ν p_n(u)), ν = k, J = −mean[log h(x) + Σ log(1 − h(y))]."""
    n, k = s_noise.shape
    total = 0
    for i in range(n):
        pm = torch.exp(s_data[i])
        h = pm / (pm + k * torch.exp(torch.as_tensor(logq_data[i], dtype=f64)))
        total = total - torch.log(h)
        for j in range(k):
            pm = torch.exp(s_noise[i, j])
            h = pm / (pm + k * torch.exp(torch.as_tensor(logq_noise[i, j], dtype=f64)))
            total = total - torch.log(1 - h)
    return total / n


def ref_semi_hard(x, y, margin):
    """FaceNet §3.2: per anchor-positive pair, the closest negative farther than the positive; else the farthest."""
    n = x.shape[0]

    def d(a, b):
        return (x[a] - x[b]).pow(2).sum().sqrt()

    losses = []
    for a in range(n):
        negs = [j for j in range(n) if y[j] != y[a]]
        if not negs:
            continue
        for p in range(n):
            if p == a or y[p] != y[a]:
                continue
            dap = d(a, p)
            farther = [d(a, j) for j in negs if d(a, j) > dap]
            dan = min(farther) if farther else max(d(a, j) for j in negs)
            losses.append(torch.clamp(dap - dan + margin, min=0))
    return sum(losses) / len(losses)


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=f64)


def _cos_scores(v, b, k, seed=0):
    """(V, B, K) cosines of random unit features with random unit prototypes, as SwAV computes them."""
    z = F.normalize(_randn(v, b, 8, seed=seed), dim=-1)
    c = F.normalize(_randn(k, 8, seed=seed + 1), dim=-1)
    return z @ c.T


# --------------------------------------------------------------------------- Sinkhorn
@pytest.mark.parametrize(
    ("b", "k", "eps", "iters"), [(8, 4, 0.05, 3), (5, 9, 0.1, 1), (16, 16, 0.5, 10), (3, 2, 0.02, 3)]
)
def test_sinkhorn_matches_reference(b, k, eps, iters):
    s = _cos_scores(1, b, k, seed=b)[0]
    torch.testing.assert_close(sinkhorn(s, eps, iters), ref_sinkhorn(s, eps, iters), rtol=1e-10, atol=1e-12)


def test_sinkhorn_rows_sum_to_one_columns_share_equally_and_no_gradient():
    s = _cos_scores(1, 12, 4, seed=3)[0].requires_grad_(True)
    q = sinkhorn(s, 0.05, 3)
    assert not q.requires_grad and q.grad_fn is None  # a target: no gradient flows through Q
    torch.testing.assert_close(q.sum(1), torch.ones(12, dtype=f64))
    assert bool((q >= 0).all())
    # with enough iterations every prototype receives its B/K share
    q_conv = sinkhorn(s, 0.05, 200)
    torch.testing.assert_close(q_conv.sum(0), torch.full((4,), 12 / 4, dtype=f64), rtol=1e-6, atol=1e-6)
    # even when every sample prefers prototype 0, the batch is shared out over all prototypes
    skewed = torch.zeros(12, 4, dtype=f64)
    skewed[:, 0] = 1.0
    skewed += 0.1 * _randn(12, 4, seed=4)
    q_skew = sinkhorn(skewed, 0.05, 200)
    assert (q_skew.argmax(1) == 0).float().mean() < 0.5
    torch.testing.assert_close(q_skew.sum(0), torch.full((4,), 3.0, dtype=f64), rtol=1e-5, atol=1e-5)


def test_sinkhorn_small_epsilon_is_finite_and_sharp_and_half_precision():
    s = _cos_scores(1, 16, 8, seed=5)[0].float()
    q = sinkhorn(s, epsilon=0.005, n_iters=3)  # exp(1/0.005) overflows float32; the log domain does not
    assert bool(torch.isfinite(q).all()) and q.dtype == torch.float32
    assert float(q.max(1).values.mean()) > 0.9  # nearly one-hot codes
    q_bf16 = sinkhorn(s.bfloat16(), 0.05, 3)
    assert q_bf16.dtype == torch.float32
    torch.testing.assert_close(q_bf16, sinkhorn(s.bfloat16().float(), 0.05, 3))


def test_sinkhorn_agrees_with_lightly():
    lightly = pytest.importorskip("lightly.loss.swav_loss")
    s = _cos_scores(1, 10, 6, seed=6)[0]
    torch.testing.assert_close(sinkhorn(s, 0.05, 3), lightly.sinkhorn(s, iterations=3, epsilon=0.05))


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 12), st.integers(1, 10), st.floats(0.03, 1.0), st.integers(1, 5), st.integers(0, 10_000)
)
def test_sinkhorn_properties(b, k, eps, iters, seed):
    s = _cos_scores(1, b, k, seed=seed)[0]
    q = sinkhorn(s, eps, iters)
    torch.testing.assert_close(q.sum(1), torch.ones(b, dtype=f64))
    # exactly invariant to adding a constant per prototype (the prototype step removes it)
    shift = _randn(1, k, seed=seed + 1)
    torch.testing.assert_close(sinkhorn(s + shift, eps, iters), q, rtol=1e-8, atol=1e-10)
    # equivariant to permuting samples and prototypes
    pb, pk = torch.randperm(b), torch.randperm(k)
    torch.testing.assert_close(sinkhorn(s[pb][:, pk], eps, iters), q[pb][:, pk], rtol=1e-8, atol=1e-10)


def test_sinkhorn_bad_input():
    with pytest.raises(ValueError, match=r"\(B, K\)"):
        sinkhorn(torch.randn(3, 4, 5))
    with pytest.raises(ValueError, match="epsilon"):
        sinkhorn(torch.randn(3, 4), epsilon=0.0)
    with pytest.raises(ValueError, match="n_iters"):
        sinkhorn(torch.randn(3, 4), n_iters=0)
    with pytest.raises(ValueError, match="NaN"):
        sinkhorn(torch.full((3, 4), float("nan")))


# --------------------------------------------------------------------------- SwAV loss
@pytest.mark.parametrize(
    ("v", "b", "k", "tau", "eps", "assign"),
    [
        (2, 6, 5, 0.1, 0.05, (0, 1)),
        (4, 5, 7, 0.2, 0.1, (0, 1)),
        (3, 4, 3, 0.5, 0.05, (0,)),
        (5, 3, 4, 0.1, 0.3, (1, 3)),
    ],
)
def test_swav_loss_matches_reference_values_and_gradients(v, b, k, tau, eps, assign):
    s = _cos_scores(v, b, k, seed=v * 10 + b).requires_grad_(True)
    got = swav_loss(s, tau, eps, 3, assign)
    (g_got,) = torch.autograd.grad(got, s)
    s_ref = s.detach().clone().requires_grad_(True)
    want = ref_swav(s_ref, tau, eps, 3, assign)
    (g_want,) = torch.autograd.grad(want, s_ref)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(g_got, g_want, rtol=1e-9, atol=1e-11)
    assert got.dtype == f64


def test_swav_gradient_does_not_flow_through_the_codes():
    """The gradient w.r.t. an assigned crop comes only from its own prediction of the other crop's code."""
    s = _cos_scores(2, 6, 4, seed=7).requires_grad_(True)
    (g,) = torch.autograd.grad(swav_loss(s, 0.1, 0.05, 3), s)
    q = [sinkhorn(s[c].detach(), 0.05, 3) for c in (0, 1)]
    p = F.softmax(s.detach() / 0.1, dim=-1)
    # d/ds_v of −(1/B)Σ q·log softmax(s_v/τ) = (p_v − q_c)/(τB), averaged over the 2 assigned crops
    want = torch.stack([(p[0] - q[1]), (p[1] - q[0])]) / (0.1 * 6 * 2)
    torch.testing.assert_close(g, want, rtol=1e-9, atol=1e-12)


def test_swav_loss_agrees_with_lightly_and_uses_the_queue():
    lightly = pytest.importorskip("lightly.loss")
    s = _cos_scores(4, 6, 5, seed=8)
    ref = lightly.SwaVLoss(temperature=0.1, sinkhorn_iterations=3, sinkhorn_epsilon=0.05)
    torch.testing.assert_close(swav_loss(s), ref([s[0], s[1]], [s[2], s[3]]).squeeze())
    queue = _cos_scores(2, 10, 5, seed=9)
    want = ref([s[0], s[1]], [s[2], s[3]], queue_outputs=[queue[0], queue[1]]).squeeze()
    torch.testing.assert_close(swav_loss(s, queue_scores=queue), want)
    assert not torch.allclose(swav_loss(s, queue_scores=queue), swav_loss(s))


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 5), st.integers(1, 8), st.integers(1, 8), st.integers(0, 10_000))
def test_swav_loss_properties(v, b, k, seed):
    s = _cos_scores(v, b, k, seed=seed)
    loss = swav_loss(s, 0.1, 0.05, 3, (0, 1) if v > 2 else (0,))
    assert float(loss) >= -1e-12  # a cross-entropy against distributions
    pk = torch.randperm(k)  # relabelling the prototypes changes nothing
    torch.testing.assert_close(swav_loss(s[..., pk], 0.1, 0.05, 3, (0, 1) if v > 2 else (0,)), loss)
    pb = torch.randperm(b)  # nor does reordering the images (the same way in every crop)
    torch.testing.assert_close(swav_loss(s[:, pb], 0.1, 0.05, 3, (0, 1) if v > 2 else (0,)), loss)


def test_swav_loss_autocast_and_bad_input():
    s = _cos_scores(3, 4, 5).float()
    assert swav_loss(s.bfloat16()).dtype == torch.float32
    with pytest.raises(ValueError, match=r"\(V, B, K\)"):
        swav_loss(torch.randn(4, 5))
    with pytest.raises(ValueError, match="2 crops"):
        swav_loss(torch.randn(1, 4, 5))
    with pytest.raises(ValueError, match="crops_for_assign"):
        swav_loss(s, crops_for_assign=(0, 3))
    with pytest.raises(ValueError, match="temperature"):
        swav_loss(s, temperature=-1)
    with pytest.raises(ValueError, match="queue_scores"):
        swav_loss(s, queue_scores=torch.randn(2, 3, 4))


# --------------------------------------------------------------------------- Sinkhorn under DDP
def _ddp_worker(rank: int, world: int, init_file: str, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        s = _cos_scores(3, 8, 5, seed=11)  # the global batch: 8 images, 4 per rank
        local = s[:, rank * 4 : (rank + 1) * 4].clone().requires_grad_(True)
        q = sinkhorn(local[0], 0.05, 3)
        loss = swav_loss(local, 0.1, 0.05, 3)
        (loss / world).backward()  # DDP averages the per-rank losses' gradients
        parts = {
            "q": [torch.empty_like(q) for _ in range(world)],
            "g": [torch.empty_like(local) for _ in range(world)],
        }
        dist.all_gather(parts["q"], q)
        dist.all_gather(parts["g"], local.grad)
        total = loss.detach().clone()
        dist.all_reduce(total)
        if rank == 0:
            torch.save(
                {"q": torch.cat(parts["q"]), "g": torch.cat(parts["g"], dim=1), "loss": total / world}, out
            )
    finally:
        shutdown()  # barrier, then destroy: no rank tears down mid-collective


@pytest.mark.skipif(
    not dist.is_available() or sys.platform == "win32", reason="needs torch.distributed with gloo"
)
def test_sinkhorn_and_swav_under_two_ranks_equal_one_process(tmp_path: Path):
    out = str(tmp_path / "rank0.pt")
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "init"), out), nprocs=2, join=True)
    res = torch.load(out, weights_only=True)
    s = _cos_scores(3, 8, 5, seed=11).requires_grad_(True)
    loss = swav_loss(s, 0.1, 0.05, 3)
    loss.backward()
    torch.testing.assert_close(res["q"], sinkhorn(s[0].detach(), 0.05, 3), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(res["loss"], loss.detach(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(res["g"], s.grad, rtol=1e-9, atol=1e-12)
    # and the per-rank codes alone would differ: the equipartition is over the global batch
    assert not torch.allclose(res["q"][:4], sinkhorn(s[0, :4].detach(), 0.05, 3))


# --------------------------------------------------------------------------- NCE
@pytest.mark.parametrize(("n", "k"), [(4, 1), (3, 5), (6, 20)])
def test_nce_matches_reference_values_and_gradients(n, k):
    s_data = _randn(n, seed=n).requires_grad_(True)
    s_noise = _randn(n, k, seed=k).requires_grad_(True)
    logq_data = torch.log(torch.rand(n, generator=torch.Generator().manual_seed(1), dtype=f64) + 0.1)
    logq_noise = torch.log(torch.rand(n, k, generator=torch.Generator().manual_seed(2), dtype=f64) + 0.1)
    got = nce_loss(s_data, s_noise, logq_data, logq_noise)
    g_got = torch.autograd.grad(got, (s_data, s_noise))
    want = ref_nce(s_data, s_noise, logq_data, logq_noise)
    g_want = torch.autograd.grad(want, (s_data, s_noise))
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    for a, b in zip(g_got, g_want):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_nce_uniform_noise_mask_and_negative_sampling():
    s_data, s_noise = _randn(5, seed=1), _randn(5, 4, seed=2)
    full = ref_nce(
        s_data,
        s_noise,
        torch.full((5,), math.log(0.01), dtype=f64),
        torch.full((5, 4), math.log(0.01), dtype=f64),
    )
    torch.testing.assert_close(nce_loss(s_data, s_noise, math.log(0.01), math.log(0.01)), full)
    # negative sampling = NCE with k·q(u) = 1: −log σ(s(x)) − Σ log σ(−s(y))
    ns = -(F.logsigmoid(s_data) + F.logsigmoid(-s_noise).sum(1)).mean()
    torch.testing.assert_close(negative_sampling_loss(s_data, s_noise), ns)
    # a masked noise sample drops out of the sum (k stays the number drawn)
    mask = torch.zeros(5, 4, dtype=torch.bool)
    mask[0, 1] = True
    masked = nce_loss(s_data, s_noise, math.log(0.01), math.log(0.01), noise_mask=mask)
    g = s_noise[0, 1] - math.log(4 * 0.01)
    torch.testing.assert_close(masked, full - F.softplus(g) / 5)
    # stable where log σ would underflow
    assert torch.isfinite(nce_loss(torch.tensor([-200.0]), torch.tensor([[300.0]]), 0.0, 0.0))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.floats(-5, 5), st.integers(0, 10_000))
def test_nce_properties(n, k, c, seed):
    s_data, s_noise = _randn(n, seed=seed), _randn(n, k, seed=seed + 1)
    lq = float(math.log(0.2))
    loss = nce_loss(s_data, s_noise, lq, lq)
    assert float(loss) > 0
    # shifting the scores and log q together leaves G = s − log k q, hence the loss, unchanged
    torch.testing.assert_close(nce_loss(s_data + c, s_noise + c, lq + c, lq + c), loss)
    # raising the data scores (and lowering the noise scores) always lowers the loss
    assert float(nce_loss(s_data + 1, s_noise - 1, lq, lq)) < float(loss)


def test_nce_bad_input():
    with pytest.raises(ValueError, match=r"\(N,\)"):
        nce_loss(torch.randn(3, 1), torch.randn(3, 2), 0.0, 0.0)
    with pytest.raises(ValueError, match=r"\(N, k\)"):
        nce_loss(torch.randn(3), torch.randn(4, 2), 0.0, 0.0)
    with pytest.raises(ValueError, match="broadcast"):
        nce_loss(torch.randn(3), torch.randn(3, 2), torch.zeros(5), 0.0)
    with pytest.raises(ValueError, match="finite"):
        nce_loss(torch.randn(3), torch.randn(3, 2), float("-inf"), 0.0)


# --------------------------------------------------------------------------- semi-hard mining
@pytest.mark.parametrize(("n", "margin", "seed"), [(8, 0.2, 0), (9, 1.0, 1), (6, 0.5, 2), (10, 2.0, 3)])
def test_semi_hard_matches_reference_values_and_gradients(n, margin, seed):
    x = _randn(n, 4, seed=seed).requires_grad_(True)
    y = torch.randint(0, 3, (n,), generator=torch.Generator().manual_seed(seed))
    y[:2] = torch.tensor([0, 1])
    y[2] = 0
    got = triplet_loss(x, y, margin, mining="semi_hard")
    (g_got,) = torch.autograd.grad(got, x)
    want = ref_semi_hard(x, y, margin)
    (g_want,) = torch.autograd.grad(want, x)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(g_got, g_want, rtol=1e-9, atol=1e-11)


def test_semi_hard_picks_the_negative_just_beyond_the_positive_and_falls_back():
    # 1-D: anchor 0 at 0, positive at 1; negatives at 0.5 (harder than the positive), 1.3 and 3
    x = torch.tensor([[0.0], [1.0], [0.5], [1.3], [3.0]], dtype=f64)
    y = torch.tensor([0, 0, 1, 2, 3])
    # pairs (0, 1): semi-hard negative at 1.3 → max(0, 1 − 1.3 + 0.5) = 0.2;
    # pair (1, 0): negatives at 0.5, 0.3, 2.0 from x=1; farther than 1: 2.0 → max(0, 1 − 2 + 0.5) = 0
    torch.testing.assert_close(triplet_loss(x, y, 0.5, mining="semi_hard"), torch.tensor(0.1, dtype=f64))
    # no negative beyond the positive: the farthest one is used
    x2 = torch.tensor([[0.0], [2.0], [0.5], [1.0]], dtype=f64)
    y2 = torch.tensor([0, 0, 1, 1])
    want = ref_semi_hard(x2, y2, 0.3)
    torch.testing.assert_close(triplet_loss(x2, y2, 0.3, mining="semi_hard"), want)
    with pytest.raises(ValueError, match="semi_hard"):
        triplet_loss(torch.randn(3, 2), torch.tensor([0, 1, 2]), mining="semi_hard")
    with pytest.raises(ValueError, match="semi_hard"):
        triplet_loss(torch.randn(3, 2), torch.tensor([0, 1, 2]), mining="hard")


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 5), st.integers(0, 10_000))
def test_semi_hard_properties(half, seed):
    n = 2 * half  # two equal classes: every anchor has the same number of positives
    x = _randn(n, 3, seed=seed)
    y = torch.arange(n) % 2
    loss = triplet_loss(x, y, 0.5, mining="semi_hard")
    hard = triplet_loss(x, y, 0.5, mining="batch_hard")
    # a semi-hard negative is never closer than the hardest negative, and a positive never farther
    # than the hardest positive: each pair's loss ≤ its anchor's batch-hard loss
    assert 0 <= float(loss) <= float(hard) + 1e-12
    perm = torch.randperm(n)
    torch.testing.assert_close(triplet_loss(x[perm], y[perm], 0.5, mining="semi_hard"), loss)
    # far-apart classes: zero loss
    sep = x * 0.01 + 10 * y.unsqueeze(1).to(f64)
    assert float(triplet_loss(sep, y, 0.5, mining="semi_hard")) == 0.0

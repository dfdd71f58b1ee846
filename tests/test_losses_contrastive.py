"""InfoNCE, SupCon, MoCHi mixing, the debiased loss, triplet and margin losses — each against an
independent float64 reference written from its paper's formula with plain loops."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cssl_edu.losses import (
    debiased_nt_xent,
    info_nce,
    margin_contrastive_loss,
    mix_hard_negatives,
    nt_xent,
    supcon,
    triplet_loss,
)

f64 = torch.float64


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm()


# --------------------------------------------------------------------------- references
def ref_info_nce(q, k, negs, tau, extra=None):
    total = 0
    for n in range(q.shape[0]):
        qn = _unit(q[n])
        logits = [qn @ _unit(k[n]) / tau]
        if negs is not None:
            logits += [qn @ _unit(negs[j]) / tau for j in range(negs.shape[0])]
        if extra is not None:
            logits += [qn @ _unit(extra[n, m]) / tau for m in range(extra.shape[1])]
        ex = [torch.exp(x) for x in logits]
        total = total - torch.log(ex[0] / sum(ex))
    return total / q.shape[0]


def ref_supcon(features, labels, tau):
    n, v, _ = features.shape
    rows = [(i, a) for a in range(v) for i in range(n)]
    z = {r: _unit(features[r[0], r[1]]) for r in rows}
    losses = []
    for r in rows:
        pos = [p for p in rows if p != r and labels[p[0]] == labels[r[0]]]
        if not pos:
            continue
        den = sum(torch.exp(z[r] @ z[k] / tau) for k in rows if k != r)
        losses.append(-sum(torch.log(torch.exp(z[r] @ z[p] / tau) / den) for p in pos) / len(pos))
    return sum(losses) / len(losses)


def ref_debiased(z1, z2, tau, tau_plus):
    n = z1.shape[0]
    z = [_unit(x) for x in torch.cat([z1, z2])]
    q = 2 * n - 2
    total = 0
    for i in range(2 * n):
        p = (i + n) % (2 * n)
        pos = torch.exp(z[i] @ z[p] / tau)
        neg = sum(torch.exp(z[i] @ z[k] / tau) for k in range(2 * n) if k not in (i, p))
        ng = torch.clamp((neg - tau_plus * q * pos) / (1 - tau_plus), min=q * math.exp(-1 / tau))
        total = total - torch.log(pos / (pos + ng))
    return total / (2 * n)


def ref_triplet(x, y, margin, mining):
    n = x.shape[0]

    def d(a, b):
        return (x[a] - x[b]).pow(2).sum().sqrt()

    if mining == "batch_all":
        vals = []
        for a in range(n):
            for p in range(n):
                for m in range(n):
                    if a != p and y[a] == y[p] and y[m] != y[a]:
                        val = torch.relu(d(a, p) - d(a, m) + margin)
                        if val > 0:
                            vals.append(val)
        return sum(vals) / len(vals) if vals else torch.zeros((), dtype=f64)
    vals = []
    for a in range(n):
        ps = [d(a, p) for p in range(n) if p != a and y[p] == y[a]]
        ns = [d(a, m) for m in range(n) if y[m] != y[a]]
        if ps and ns:
            vals.append(torch.relu(max(ps) - min(ns) + margin))
    return sum(vals) / len(vals)


def _grads_close(ref, got, inputs, rtol=1e-8, atol=1e-10):
    torch.testing.assert_close(got, ref, rtol=rtol, atol=atol)
    for gr, gg in zip(torch.autograd.grad(ref, inputs, retain_graph=True), torch.autograd.grad(got, inputs)):
        torch.testing.assert_close(gg, gr, rtol=rtol, atol=atol)


def _randn(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=f64).requires_grad_()


# --------------------------------------------------------------------------- InfoNCE
@pytest.mark.parametrize(("n", "k", "m", "tau"), [(4, 7, 0, 0.2), (3, 5, 2, 0.07), (5, 1, 3, 1.0)])
def test_info_nce_matches_reference(n, k, m, tau):
    q, key, negs = _randn(n, 6, seed=1), _randn(n, 6, seed=2), _randn(k, 6, seed=3)
    extra = _randn(n, m, 6, seed=4) if m else None
    inputs = (q, key, negs) + ((extra,) if m else ())
    _grads_close(ref_info_nce(q, key, negs, tau, extra), info_nce(q, key, negs, tau, extra), inputs)


def test_info_nce_gradcheck_extra_only_and_limits():
    q, key, negs, ex = (
        _randn(3, 4, seed=5),
        _randn(3, 4, seed=6),
        _randn(6, 4, seed=7),
        _randn(3, 2, 4, seed=8),
    )
    assert torch.autograd.gradcheck(lambda a, b, c, e: info_nce(a, b, c, 0.3, e), (q, key, negs, ex))
    _grads_close(ref_info_nce(q, key, None, 0.3, ex), info_nce(q, key, None, 0.3, ex), (q, key, ex))
    assert float(info_nce(q, key, negs, 1e6, ex)) == pytest.approx(math.log(1 + 6 + 2), abs=1e-5)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 8), st.integers(1, 20), st.integers(0, 10_000))
def test_info_nce_invariant_to_negative_order(n, k, seed):
    q, key, negs = _randn(n, 5, seed=seed), _randn(n, 5, seed=seed + 1), _randn(k, 5, seed=seed + 2)
    perm = torch.randperm(k, generator=torch.Generator().manual_seed(seed))
    torch.testing.assert_close(info_nce(q, key, negs[perm], 0.2), info_nce(q, key, negs, 0.2))


def test_info_nce_bad_input():
    q = torch.randn(4, 8)
    with pytest.raises(ValueError, match="same shape"):
        info_nce(q, torch.randn(3, 8), torch.randn(5, 8))
    with pytest.raises(ValueError, match="embedding dimension"):
        info_nce(q, q, torch.randn(5, 7))
    with pytest.raises(ValueError, match="extra_negatives"):
        info_nce(q, q, None, 0.2, torch.randn(4, 8))
    with pytest.raises(ValueError, match="needs negatives"):
        info_nce(q, q, None)
    with pytest.raises(ValueError, match="temperature"):
        info_nce(q, q, torch.randn(5, 8), 0.0)


# --------------------------------------------------------------------------- SupCon
@pytest.mark.parametrize(("n", "v", "tau"), [(6, 2, 0.1), (5, 3, 0.5), (4, 1, 0.2)])
def test_supcon_matches_reference(n, v, tau):
    f = _randn(n, v, 5, seed=n + v)
    y = torch.tensor([0, 1, 0, 1, 2, 0][:n])
    _grads_close(ref_supcon(f, y, tau), supcon(f, y, tau), (f,))


def test_supcon_without_labels_is_nt_xent_and_gradcheck():
    f = _randn(7, 2, 6, seed=11)
    torch.testing.assert_close(supcon(f, None, 0.3), nt_xent(f[:, 0], f[:, 1], 0.3))
    y = torch.tensor([0, 1, 1, 0, 2, 2, 0])
    assert torch.autograd.gradcheck(lambda x: supcon(x, y, 0.5), (_randn(7, 2, 3, seed=12),))
    # a custom mask equal to the label mask gives the same loss
    torch.testing.assert_close(
        supcon(f, mask=y.view(-1, 1) == y.view(1, -1), temperature=0.3), supcon(f, y, 0.3)
    )


def test_supcon_anchor_without_positive_is_skipped_not_nan():
    f = _randn(4, 1, 5, seed=13)
    y = torch.tensor([0, 0, 1, 2])  # images 2 and 3 have no positive in a single view
    loss = supcon(f, y, 0.1)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(f.grad).all()
    torch.testing.assert_close(loss, ref_supcon(f.detach(), y, 0.1))
    with pytest.raises(ValueError, match="no anchor has a positive"):
        supcon(f, torch.tensor([0, 1, 2, 3]), 0.1)


def test_supcon_bf16_matches_fp32_and_limits():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(64, 2, 32, generator=g)
    y = torch.randint(0, 5, (64,), generator=g)
    ref = supcon(f, y, 0.1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = supcon(f, y, 0.1)
    assert torch.isfinite(low) and float(low) == pytest.approx(float(ref), rel=2e-2)
    assert float(supcon(f.double(), None, 1e6)) == pytest.approx(math.log(128 - 1), abs=1e-4)


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 8), st.integers(0, 10_000))
def test_supcon_invariant_to_sample_and_view_permutation(n, seed):
    f = _randn(n, 2, 4, seed=seed).detach()
    y = torch.randint(0, 3, (n,), generator=torch.Generator().manual_seed(seed))
    y[0] = y[1] = 0  # guarantee a positive
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 1))
    base = supcon(f, y, 0.2)
    torch.testing.assert_close(supcon(f[perm], y[perm], 0.2), base)
    torch.testing.assert_close(supcon(f.flip(1), y, 0.2), base)


def test_supcon_agrees_with_pytorch_metric_learning():
    """PML's SupConLoss on the N·V stacked features with repeated labels is the same L_out."""
    losses = pytest.importorskip("pytorch_metric_learning.losses")
    g = torch.Generator().manual_seed(3)
    f = torch.randn(16, 2, 8, generator=g)
    y = torch.randint(0, 4, (16,), generator=g)
    theirs = losses.SupConLoss(temperature=0.1)(f.transpose(0, 1).reshape(32, 8), y.repeat(2))
    torch.testing.assert_close(supcon(f, y, 0.1), theirs, rtol=1e-4, atol=1e-5)


def test_supcon_bad_input():
    with pytest.raises(ValueError, match=r"\(N, V, d\)"):
        supcon(torch.randn(4, 8))
    with pytest.raises(ValueError, match="labels"):
        supcon(torch.randn(4, 2, 8), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="not both"):
        supcon(torch.randn(4, 2, 8), torch.zeros(4, dtype=torch.long), mask=torch.ones(4, 4))


# --------------------------------------------------------------------------- MoCHi
def test_mochi_mixes_each_querys_own_hardest_negatives():
    d, k, n_hard = 12, 12, 3
    negs = torch.eye(k, d, dtype=f64)  # orthonormal negatives: mixing coefficients are readable
    # each query points at a different set of 3 negatives: query n is hardest with n*3 .. n*3+2
    q = torch.zeros(4, d, dtype=f64)
    for n in range(4):
        q[n, 3 * n : 3 * n + 3] = torch.tensor([3.0, 2.0, 1.0])
    out = mix_hard_negatives(
        q, negs, n_hard=n_hard, s=5, s_prime=4, generator=torch.Generator().manual_seed(0)
    )
    assert out.shape == (4, 9, d)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(4, 9, dtype=f64))
    for n in range(4):
        own = set(range(3 * n, 3 * n + 3))
        for m in range(5):  # α n_i + (1 − α) n_j: support on exactly two of the query's own hard ones
            support = set((out[n, m].abs() > 1e-9).nonzero().flatten().tolist())
            assert len(support) == 2 and support <= own
            assert bool((out[n, m] >= -1e-12).all())
        qn = q[n] / q[n].norm()
        for m in range(5, 9):  # ∝ β q + (1 − β) e_j for one of the query's own e_j, with β ≤ 0.5
            fits = []
            for j in own:
                basis = torch.stack([qn, negs[j]], dim=1)  # (d, 2)
                c = torch.linalg.lstsq(basis, out[n, m].unsqueeze(1)).solution.flatten()
                if torch.allclose(basis @ c, out[n, m], atol=1e-9):
                    fits.append(c)
            assert fits, "not a mix of the query and one of its own hard negatives"
            beta_share = fits[0][0] / fits[0].sum()
            assert -1e-9 <= float(beta_share) <= 0.5 + 1e-9


def test_mochi_is_detached_reproducible_and_validated():
    q = torch.randn(5, 8, requires_grad=True)
    negs = torch.randn(20, 8, requires_grad=True)
    a = mix_hard_negatives(q, negs, 4, 3, 2, generator=torch.Generator().manual_seed(1))
    b = mix_hard_negatives(q, negs, 4, 3, 2, generator=torch.Generator().manual_seed(1))
    assert not a.requires_grad and torch.equal(a, b)
    with pytest.raises(ValueError, match="n_hard"):
        mix_hard_negatives(q, negs, 21, 1, 1)
    with pytest.raises(ValueError, match="n_hard ≥ 2"):
        mix_hard_negatives(q, negs, 1, 1, 0)
    with pytest.raises(ValueError, match="≥ 0"):
        mix_hard_negatives(q, negs, 4, -1, 0)
    assert mix_hard_negatives(q, negs, 4, 0, 0).shape == (5, 0, 8)


def test_mochi_synthetic_points_are_convex_combinations():
    """Mixes of the query's top-n_hard negatives lie in their span with weights in [0, 1]."""
    g = torch.Generator().manual_seed(4)
    q, negs = torch.randn(3, 6, generator=g, dtype=f64), torch.randn(10, 6, generator=g, dtype=f64)
    out = mix_hard_negatives(q, negs, 2, s=4, s_prime=0, generator=g)
    qn, nn_ = q / q.norm(dim=1, keepdim=True), negs / negs.norm(dim=1, keepdim=True)
    top = (qn @ nn_.T).topk(2, dim=1).indices
    for n in range(3):
        basis = nn_[top[n]].T  # (d, 2)
        for m in range(4):
            coef = torch.linalg.lstsq(basis, out[n, m].unsqueeze(1)).solution.flatten()
            torch.testing.assert_close(basis @ coef, out[n, m], rtol=1e-8, atol=1e-8)
            assert bool((coef >= -1e-9).all())  # α, 1 − α ≥ 0 (up to the positive normalisation)


# --------------------------------------------------------------------------- debiased
@pytest.mark.parametrize(("tau", "tau_plus"), [(0.5, 0.1), (0.2, 0.05), (1.0, 0.3)])
def test_debiased_matches_reference(tau, tau_plus):
    a, b = _randn(5, 4, seed=21), _randn(5, 4, seed=22)
    _grads_close(ref_debiased(a, b, tau, tau_plus), debiased_nt_xent(a, b, tau, tau_plus), (a, b))


def test_debiased_with_zero_prior_is_nt_xent_and_stable():
    a, b = _randn(6, 5, seed=23), _randn(6, 5, seed=24)
    torch.testing.assert_close(debiased_nt_xent(a, b, 0.3, 0.0), nt_xent(a, b, 0.3))
    z = torch.ones(8, 4)
    assert torch.isfinite(debiased_nt_xent(z, z, 0.05, 0.1))
    with pytest.raises(ValueError, match="tau_plus"):
        debiased_nt_xent(a, b, 0.5, 1.0)


# --------------------------------------------------------------------------- triplet / margin
@pytest.mark.parametrize("mining", ["batch_all", "batch_hard"])
def test_triplet_matches_reference(mining):
    x = _randn(7, 3, seed=31)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 0])
    _grads_close(ref_triplet(x, y, 0.5, mining), triplet_loss(x, y, 0.5, mining), (x,))


def test_triplet_zero_when_classes_are_separated_and_properties():
    x = torch.tensor([[0.0, 0.0], [0.1, 0.0], [10.0, 0.0], [10.1, 0.0]], requires_grad=True)
    y = torch.tensor([0, 0, 1, 1])
    for mining in ("batch_all", "batch_hard"):
        loss = triplet_loss(x, y, 1.0, mining)
        assert float(loss) == 0.0
        loss.backward()
        assert torch.isfinite(x.grad).all()
    # duplicate points (zero distance) have finite gradients
    z = torch.zeros(4, 3, requires_grad=True)
    triplet_loss(z, y, 0.2, "batch_hard").backward()
    assert torch.isfinite(z.grad).all()


def test_triplet_agrees_with_pytorch_metric_learning_batch_all():
    """PML's TripletMarginLoss (all triplets, AvgNonZeroReducer) on Euclidean distances."""
    losses = pytest.importorskip("pytorch_metric_learning.losses")
    distances = pytest.importorskip("pytorch_metric_learning.distances")
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(12, 4, generator=g), torch.randint(0, 3, (12,), generator=g)
    theirs = losses.TripletMarginLoss(margin=0.3, distance=distances.LpDistance(normalize_embeddings=False))(
        x, y
    )
    torch.testing.assert_close(triplet_loss(x, y, 0.3, "batch_all"), theirs, rtol=1e-4, atol=1e-5)


def test_margin_contrastive_reference_and_gradcheck():
    a, b = _randn(6, 3, seed=41), _randn(6, 3, seed=42)
    same = torch.tensor([1, 0, 1, 0, 0, 1])
    ref = (
        sum(
            0.5 * (a[i] - b[i]).norm() ** 2 if same[i] else 0.5 * torch.relu(2.0 - (a[i] - b[i]).norm()) ** 2
            for i in range(6)
        )
        / 6
    )
    _grads_close(ref, margin_contrastive_loss(a, b, same, 2.0), (a, b))
    assert torch.autograd.gradcheck(lambda u, v: margin_contrastive_loss(u, v, same, 2.0), (a, b))
    with pytest.raises(ValueError, match="margin"):
        margin_contrastive_loss(a, b, same, 0.0)
    with pytest.raises(ValueError, match="same"):
        margin_contrastive_loss(a, b, same[:3], 1.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_family_on_cuda_matches_cpu():
    g = torch.Generator().manual_seed(0)
    q, k, negs = (
        torch.randn(64, 32, generator=g),
        torch.randn(64, 32, generator=g),
        torch.randn(4096, 32, generator=g),
    )
    torch.testing.assert_close(
        info_nce(q.cuda(), k.cuda(), negs.cuda()).cpu(), info_nce(q, k, negs), rtol=1e-4, atol=1e-5
    )
    f, y = torch.randn(64, 2, 32, generator=g), torch.randint(0, 8, (64,), generator=g)
    torch.testing.assert_close(supcon(f.cuda(), y.cuda()).cpu(), supcon(f, y), rtol=1e-4, atol=1e-5)
    with torch.autocast("cuda", dtype=torch.float16):
        assert torch.isfinite(supcon(f.cuda(), y.cuda(), 0.05))
        assert torch.isfinite(info_nce(q.cuda(), k.cuda(), negs.cuda(), 0.05))


def test_info_nce_negative_mask_drops_exactly_those_negatives():
    q, key, negs = _randn(3, 4, seed=51), _randn(3, 4, seed=52), _randn(5, 4, seed=53)
    mask = torch.zeros(3, 5, dtype=torch.bool)
    mask[1, [0, 3]] = True
    got = info_nce(q, key, negs, 0.2, negative_mask=mask)
    keep = [torch.tensor([j for j in range(5) if not mask[n, j]]) for n in range(3)]
    ref = sum(ref_info_nce(q[n : n + 1], key[n : n + 1], negs[keep[n]], 0.2) for n in range(3)) / 3
    _grads_close(ref, got, (q, key, negs))
    with pytest.raises(ValueError, match="negative_mask"):
        info_nce(q, key, negs, 0.2, negative_mask=mask[:, :4])


# --------------------------------------------------------------------------- issue 15: edge cases
@pytest.mark.parametrize(("noise", "tau"), [(0.3, 0.005), (1.0, 0.005), (1.0, 0.01)])
def test_debiased_small_temperature_float32_matches_float64_reference(noise, tau):
    """At τ ≤ 0.01 in float32, e^{s/τ} overflows; the loss is computed in log space, so the
    gradients stay finite and equal the float64 reference's (before: NaN with a finite loss)."""
    g = torch.Generator().manual_seed(7)
    a64 = torch.randn(12, 16, generator=g, dtype=f64)
    b64 = (a64 + noise * torch.randn(12, 16, generator=g, dtype=f64)).requires_grad_()
    a64.requires_grad_()
    a32, b32 = a64.detach().float().requires_grad_(), b64.detach().float().requires_grad_()
    ref, got = ref_debiased(a64, b64, tau, 0.1), debiased_nt_xent(a32, b32, tau, 0.1)
    torch.testing.assert_close(got.double(), ref, rtol=1e-5, atol=1e-6)
    for gg, gr in zip(torch.autograd.grad(got, (a32, b32)), torch.autograd.grad(ref, (a64, b64))):
        assert torch.isfinite(gg).all()
        torch.testing.assert_close(gg.double(), gr, rtol=1e-4, atol=1e-5)


def test_half_precision_tensors_zero_and_huge_rows():
    """float16 *tensors* (not autocast): a zero row gave NaN (normalise's eps underflows) and a
    row with norm > 65504 became zero; each loss now equals its float32 value."""
    g = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn(8, 64, generator=g), torch.randn(8, 64, generator=g)
    z1[0] = 0.0  # a zero row
    z2[1] = 10_000.0  # norm 80,000 > 65,504, every entry representable in float16
    negs = torch.randn(20, 64, generator=g)
    negs[2] = 0.0
    feats, labels = torch.stack([z1, z2], 1), torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    cases = [
        (nt_xent, (z1, z2, 0.5)),
        (info_nce, (z1, z2, negs, 0.2)),
        (supcon, (feats, labels, 0.1)),
        (debiased_nt_xent, (z1, z2, 0.5, 0.1)),
    ]
    for fn, args in cases:
        half = [a.half() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args]
        got, want = fn(*half), fn(*args)
        assert torch.isfinite(got), fn.__name__
        torch.testing.assert_close(got.float(), want, rtol=2e-2, atol=2e-2, msg=fn.__name__)


def test_distance_losses_refuse_nan_and_validate_margins():
    """`_safe_sqrt` mapped NaN to 0, so a NaN input gave a finite, wrong loss; a NaN margin gave 0."""
    from cssl_edu.losses import DebiasedNTXent, MarginContrastiveLoss, TripletLoss
    from cssl_edu.losses.triplet import pairwise_distances

    x, bad = torch.randn(4, 3), torch.randn(4, 3)
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        margin_contrastive_loss(x, bad, torch.tensor([1, 0, 1, 0]))
    with pytest.raises(ValueError, match="NaN"):
        pairwise_distances(bad)
    y = torch.tensor([0, 0, 1, 1])
    for margin in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="margin"):
            triplet_loss(x, y, margin=margin)
        with pytest.raises(ValueError, match="margin"):
            TripletLoss(margin=margin)
        with pytest.raises(ValueError, match="margin"):
            MarginContrastiveLoss(margin=margin)
    with pytest.raises(ValueError, match="mining"):
        TripletLoss(mining="hardest")
    for kw, match in [({"temperature": 0.0}, "temperature"), ({"tau_plus": float("nan")}, "tau_plus")]:
        with pytest.raises(ValueError, match=match):
            DebiasedNTXent(**kw)


def test_supcon_unlabeled_images_are_not_one_class_and_n1_is_refused():
    """Label −1 means unlabeled: such images are positives of their own views only (it was one
    class of its own); a batch of one image has no negative and is refused (it returned 0)."""
    f = _randn(5, 2, 4, seed=61)
    labels = torch.tensor([-1, -1, 0, 0, -1])
    own_class = torch.tensor([10, 11, 0, 0, 12])  # each unlabeled image its own class
    _grads_close(ref_supcon(f, own_class, 0.2), supcon(f, labels, 0.2), (f,))
    with pytest.raises(ValueError, match="N ≥ 2"):
        supcon(torch.randn(1, 2, 8))
    with pytest.raises(ValueError, match="−1"):
        supcon(torch.randn(3, 2, 8), torch.tensor([0, -2, 1]))


def test_info_nce_with_every_negative_masked_is_refused():
    q, k, negs = torch.randn(3, 4), torch.randn(3, 4), torch.randn(5, 4)
    mask = torch.zeros(3, 5, dtype=torch.bool)
    mask[1] = True  # query 1 has no negative left: its loss would be a meaningless 0
    with pytest.raises(ValueError, match=r"row\(s\) \[1\]"):
        info_nce(q, k, negs, negative_mask=mask)
    extra = torch.randn(3, 2, 4)  # with negatives of its own, query 1 is fine
    assert torch.isfinite(info_nce(q, k, negs, extra_negatives=extra, negative_mask=mask))


def test_mochi_mask_excludes_the_querys_own_entries_before_ranking():
    """With mask_same_image the query's own keys sit in the queue; unmasked they are its hardest
    negatives, so the mixes equalled the query (cos 1.0). The mask now removes them first."""
    g = torch.Generator().manual_seed(5)
    q = torch.nn.functional.normalize(torch.randn(4, 16, generator=g), dim=1)
    others = torch.nn.functional.normalize(torch.randn(12, 16, generator=g), dim=1)
    queue = torch.cat([q, q, others])  # (20, d): each query's own key twice, then 12 other keys
    image = torch.cat([torch.arange(4), torch.arange(4), torch.arange(100, 112)])  # each entry's image
    mask = image.view(1, -1) == torch.arange(4).view(-1, 1)  # (4, 20): the query's own entries
    out = mix_hard_negatives(q, queue, n_hard=3, s=6, s_prime=4, generator=g, mask=mask)
    cos = torch.einsum("nd,nmd->nm", q, out)
    assert out.shape == (4, 10, 16) and float(cos.max()) < 0.99
    unmasked = mix_hard_negatives(q, queue, n_hard=3, s=6, s_prime=0, generator=g)
    assert float(torch.einsum("nd,nmd->nm", q, unmasked).max()) > 0.999  # what the mask prevents
    # a query left with fewer than n_hard negatives mixes from those it has; none at all is refused
    few = torch.ones(4, 20, dtype=torch.bool)
    few[:, 8] = False  # one negative left per query
    one = mix_hard_negatives(q, queue, n_hard=3, s=2, s_prime=2, generator=g, mask=few)
    torch.testing.assert_close(one[:, :2], queue[8].expand(4, 2, 16))
    with pytest.raises(ValueError, match="without any negative"):
        mix_hard_negatives(q, queue, 3, 1, 1, mask=torch.ones(4, 20, dtype=torch.bool))


def test_mochi_validates_counts_and_finiteness():
    q, negs = torch.randn(3, 8), torch.randn(10, 8)
    with pytest.raises(ValueError, match="n_hard"):
        mix_hard_negatives(q, negs, 2.5, 1, 1)  # was a TypeError from topk
    assert mix_hard_negatives(q, negs, 4.0, 1, 1).shape == (3, 2, 8)
    bad = negs.clone()
    bad[3, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        mix_hard_negatives(q, bad, 4, 1, 1)


# ----------------------------------------------------------------------------- issue 25
def test_supcon_refuses_zero_width_embeddings_and_takes_list_labels() -> None:
    """d = 0 returned a loss (log 0/… of empty dot products); a list of labels raised AttributeError."""
    from cssl_edu.losses import supcon

    with pytest.raises(ValueError, match="non-empty embedding dimension"):
        supcon(torch.randn(4, 2, 0), torch.tensor([0, 0, 1, 1]))
    f = torch.randn(4, 2, 8)
    y = [0, 0, 1, 1]
    assert torch.equal(supcon(f, y), supcon(f, torch.tensor(y)))
    with pytest.raises(ValueError, match="labels must hold integer class ids"):
        supcon(f, [0.0, 0.5, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        supcon(f, [0, 1])


def test_info_nce_promotes_mixed_dtypes_and_takes_0_1_float_masks() -> None:
    """Mixed float dtypes raised 'expected m1 and m2 to have the same dtype'; a float mask raised in masked_fill."""
    from cssl_edu.losses import info_nce

    g = torch.Generator().manual_seed(0)
    q, k, neg = (
        torch.randn(4, 8, generator=g),
        torch.randn(4, 8, generator=g),
        torch.randn(16, 8, generator=g),
    )
    ref = info_nce(q.double(), k.double(), neg.double())
    mixed = info_nce(q.double(), k, neg.half().double())  # float64 + float32 → float64
    assert mixed.dtype == torch.float64
    ref_h = info_nce(q.double(), k.double(), neg.half().double())
    assert torch.allclose(mixed, ref_h)
    assert torch.allclose(info_nce(q, k, neg.half()), ref_h.float(), atol=1e-5)
    assert torch.allclose(info_nce(q, k.double(), neg), ref, atol=1e-6)
    mask = torch.zeros(4, 16)
    mask[:, 0] = 1.0
    assert torch.equal(
        info_nce(q, k, neg, negative_mask=mask), info_nce(q, k, neg, negative_mask=mask.bool())
    )
    with pytest.raises(ValueError, match="negative_mask must be a bool mask"):
        info_nce(q, k, neg, negative_mask=mask * 0.5)
    with pytest.raises(ValueError, match="key must be a floating-point tensor"):
        info_nce(q, k.long(), neg)
    with pytest.raises(ValueError, match="query must be a floating-point tensor"):
        info_nce(q.long(), k, neg)


def test_losses_name_both_devices_and_refuse_meta_tensors() -> None:
    from cssl_edu.losses import info_nce, nt_xent, supcon

    q = torch.randn(4, 8)
    meta = torch.empty(4, 8, device="meta")
    with pytest.raises(ValueError, match=r"key is on the 'meta' device"):
        info_nce(q, meta, torch.randn(16, 8))
    with pytest.raises(ValueError, match=r"z1 is on cpu but z2 is on meta|z2 is on the 'meta' device"):
        nt_xent(q, meta)
    with pytest.raises(ValueError, match="features is on the 'meta' device"):
        supcon(torch.empty(4, 2, 8, device="meta"))
    if torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"query is on cpu but key is on cuda:0"):
            info_nce(q, q.cuda(), torch.randn(16, 8))

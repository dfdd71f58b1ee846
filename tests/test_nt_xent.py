"""NT-Xent against an independent float64 reference written from the SimCLR paper's formula,
plus gradcheck, property tests, mixed precision, peers, and input validation."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cssl_edu.losses import NTXent, nt_xent


def reference_nt_xent(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    """Chen et al. 2020, Algorithm 1, written out plainly in float64.

    for k in 1..N: the pair (2k−1, 2k) are two views of image k;
        ℓ(i, j) = −log( exp(sim(z_i, z_j)/τ) / Σ_{m ≠ i} exp(sim(z_i, z_m)/τ) )
    L = 1/(2N) Σ_k [ℓ(2k−1, 2k) + ℓ(2k, 2k−1)]
    (interleaved order, unlike the implementation's stacked order)
    """
    z1, z2 = z1.double(), z2.double()
    n = z1.shape[0]
    zs = []
    for k in range(n):
        zs += [z1[k], z2[k]]

    def sim(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return (u @ v) / (u.norm() * v.norm())

    def ell(i: int, j: int) -> torch.Tensor:
        num = torch.exp(sim(zs[i], zs[j]) / tau)
        den = sum(torch.exp(sim(zs[i], zs[m]) / tau) for m in range(2 * n) if m != i)
        return -torch.log(num / den)

    return sum(ell(2 * k, 2 * k + 1) + ell(2 * k + 1, 2 * k) for k in range(n)) / (2 * n)


@pytest.mark.parametrize(("n", "d", "tau"), [(2, 3, 0.5), (5, 8, 0.1), (8, 4, 1.0), (6, 16, 0.07)])
def test_values_and_gradients_match_reference(n: int, d: int, tau: float) -> None:
    g = torch.Generator().manual_seed(n * 100 + d)
    a = torch.randn(n, d, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(n, d, generator=g, dtype=torch.float64, requires_grad=True)
    ref = reference_nt_xent(a, b, tau)
    ga, gb = torch.autograd.grad(ref, (a, b))
    got = nt_xent(a, b, tau)
    ha, hb = torch.autograd.grad(got, (a, b))
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(ha, ga, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(hb, gb, rtol=1e-9, atol=1e-12)
    # float32 agrees with the float64 reference to float32 precision
    got32 = nt_xent(a.detach().float(), b.detach().float(), tau)
    assert got32.dtype == torch.float32
    assert float(got32) == pytest.approx(float(ref), rel=1e-5)


def test_gradcheck() -> None:
    a = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: nt_xent(x, y, 0.3), (a, b))
    assert torch.autograd.gradgradcheck(lambda x, y: nt_xent(x, y, 0.3), (a, b))


pairs = st.tuples(st.integers(2, 12), st.integers(1, 10), st.integers(0, 2**31 - 1))


@settings(max_examples=40, deadline=None)
@given(pairs, st.floats(0.05, 2.0))
def test_symmetric_in_the_two_views(p: tuple[int, int, int], tau: float) -> None:
    n, d, seed = p
    g = torch.Generator().manual_seed(seed)
    a, b = (
        torch.randn(n, d, generator=g, dtype=torch.float64),
        torch.randn(n, d, generator=g, dtype=torch.float64),
    )
    torch.testing.assert_close(nt_xent(a, b, tau), nt_xent(b, a, tau))


@settings(max_examples=40, deadline=None)
@given(pairs, st.floats(0.05, 2.0))
def test_invariant_to_the_order_of_pairs_and_to_row_scale(p: tuple[int, int, int], tau: float) -> None:
    n, d, seed = p
    g = torch.Generator().manual_seed(seed)
    a, b = (
        torch.randn(n, d, generator=g, dtype=torch.float64),
        torch.randn(n, d, generator=g, dtype=torch.float64),
    )
    perm = torch.randperm(n, generator=g)
    scale = torch.rand(n, 1, generator=g, dtype=torch.float64) * 10 + 0.1
    base = nt_xent(a, b, tau)
    torch.testing.assert_close(nt_xent(a[perm], b[perm], tau), base)
    torch.testing.assert_close(nt_xent(a * scale, b, tau), base)


@settings(max_examples=25, deadline=None)
@given(pairs)
def test_large_temperature_tends_to_log_2n_minus_1(p: tuple[int, int, int]) -> None:
    n, d, seed = p
    g = torch.Generator().manual_seed(seed)
    a, b = (
        torch.randn(n, d, generator=g, dtype=torch.float64),
        torch.randn(n, d, generator=g, dtype=torch.float64),
    )
    # |ℓ − log(2N−1)| ≤ 2/τ since every similarity lies in [−1, 1]
    assert abs(float(nt_xent(a, b, 1e6)) - math.log(2 * n - 1)) < 1e-5
    assert abs(float(nt_xent(a, b, 50.0)) - math.log(2 * n - 1)) <= 2 / 50


def test_perfect_pairs_at_small_temperature_tend_to_zero() -> None:
    e = torch.eye(6, dtype=torch.float64)  # orthogonal images, identical views
    assert float(nt_xent(e, e, 0.01)) < 1e-30
    assert float(nt_xent(e, e, 0.5)) > 0


def test_no_nan_at_small_temperature_even_for_identical_embeddings() -> None:
    z = torch.ones(64, 32, requires_grad=True)
    loss = nt_xent(z, z.detach().clone(), 0.05)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
    assert float(loss) == pytest.approx(math.log(2 * 64 - 1), rel=1e-5)
    w = torch.randn(64, 32) * 1e3  # large norms, near-duplicate views
    loss = nt_xent(w, w + 1e-3 * torch.randn_like(w), 0.05)
    assert torch.isfinite(loss)


def test_bf16_autocast_and_half_inputs_match_fp32() -> None:
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(128, 64, generator=g), torch.randn(128, 64, generator=g)
    a = a.requires_grad_()
    ref = nt_xent(a, b, 0.1)
    (ga,) = torch.autograd.grad(ref, a)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = nt_xent(a, b, 0.1)
    (gl,) = torch.autograd.grad(low, a)
    assert low.dtype == torch.float32
    assert float(low) == pytest.approx(float(ref), rel=2e-2)
    assert torch.nn.functional.cosine_similarity(gl.flatten(), ga.flatten(), dim=0) > 0.99
    half = nt_xent(a.detach().half(), b.half(), 0.1)
    assert half.dtype == torch.float32 and float(half) == pytest.approx(float(ref), rel=1e-2)
    bf = nt_xent(a.detach().bfloat16(), b.bfloat16(), 0.05)
    assert torch.isfinite(bf)


def test_module_wraps_function() -> None:
    a, b = torch.randn(5, 3), torch.randn(5, 3)
    m = NTXent(0.3)
    torch.testing.assert_close(m(a, b), nt_xent(a, b, 0.3))
    assert "temperature=0.3" in repr(m)
    with pytest.raises(ValueError, match="temperature"):
        NTXent(0)


def test_agrees_with_lightly() -> None:
    lightly_loss = pytest.importorskip("lightly.loss")
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(32, 16, generator=g), torch.randn(32, 16, generator=g)
    for tau in (0.1, 0.5):
        theirs = lightly_loss.NTXentLoss(temperature=tau)(a, b)
        torch.testing.assert_close(nt_xent(a, b, tau), theirs, rtol=1e-5, atol=1e-6)


def test_agrees_with_pytorch_metric_learning() -> None:
    """PML's NTXentLoss with labels [0..N−1, 0..N−1] is the same per-anchor loss.

    PML averages over the positive pairs it finds (each of the 2N anchors has exactly one),
    and its denominator holds the positive plus all negatives — the anchor itself excluded —
    which is exactly Σ_{k≠i}.
    """
    losses = pytest.importorskip("pytorch_metric_learning.losses")
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(16, 8, generator=g), torch.randn(16, 8, generator=g)
    labels = torch.arange(16).repeat(2)
    theirs = losses.NTXentLoss(temperature=0.2)(torch.cat([a, b]), labels)
    torch.testing.assert_close(nt_xent(a, b, 0.2), theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("a", "b", "tau", "match"),
    [
        (torch.randn(4, 3), torch.randn(5, 3), 0.5, "same shape"),
        (torch.randn(1, 3), torch.randn(1, 3), 0.5, "at least 2 pairs"),
        (torch.randn(4, 3, 2), torch.randn(4, 3, 2), 0.5, "2-D"),
        (torch.randn(4), torch.randn(4), 0.5, "2-D"),
        (torch.randn(4, 3), torch.randn(4, 3), 0.0, "temperature"),
        (torch.randn(4, 3), torch.randn(4, 3), -1.0, "temperature"),
        (torch.randn(4, 3), torch.randn(4, 3), float("nan"), "temperature"),
        (torch.full((4, 3), float("nan")), torch.randn(4, 3), 0.5, "NaN or inf"),
        (torch.randn(4, 3), torch.full((4, 3), float("inf")), 0.5, "NaN or inf"),
        (torch.ones(4, 3, dtype=torch.long), torch.ones(4, 3, dtype=torch.long), 0.5, "floating-point"),
    ],
)
def test_bad_input_raises_clear_value_error(a: torch.Tensor, b: torch.Tensor, tau: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        nt_xent(a, b, tau)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu_and_autocast() -> None:
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(256, 128, generator=g), torch.randn(256, 128, generator=g)
    ref = nt_xent(a, b, 0.1)
    got = nt_xent(a.cuda(), b.cuda(), 0.1)
    torch.testing.assert_close(got.cpu(), ref, rtol=1e-4, atol=1e-5)
    for dt in (torch.float16, torch.bfloat16):
        with torch.autocast("cuda", dtype=dt):
            low = nt_xent(a.cuda().requires_grad_(), b.cuda(), 0.05)
        low.backward()
        assert torch.isfinite(low) and abs(float(low) - float(nt_xent(a, b, 0.05))) < 0.05


@pytest.mark.parametrize(("n", "chunk"), [(5, 1), (5, 3), (8, 16), (33, 10), (64, 64)])
def test_chunked_equals_dense_values_and_gradients(n: int, chunk: int) -> None:
    from cssl_edu.losses import nt_xent_chunked

    g = torch.Generator().manual_seed(n + chunk)
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-5)):
        a = torch.randn(n, 7, generator=g, dtype=dtype, requires_grad=True)
        b = torch.randn(n, 7, generator=g, dtype=dtype, requires_grad=True)
        dense = nt_xent(a, b, 0.2)
        da, db = torch.autograd.grad(dense, (a, b))
        chunked = nt_xent_chunked(a, b, 0.2, chunk_size=chunk)
        ca, cb = torch.autograd.grad(chunked, (a, b))
        torch.testing.assert_close(chunked, dense, rtol=tol, atol=tol)
        torch.testing.assert_close(ca, da, rtol=tol, atol=tol)
        torch.testing.assert_close(cb, db, rtol=tol, atol=tol)


def test_chunked_gradcheck_autocast_and_errors() -> None:
    from cssl_edu.losses import nt_xent_chunked

    a = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: nt_xent_chunked(x, y, 0.5, chunk_size=5), (a, b))
    x, y = torch.randn(40, 8), torch.randn(40, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = nt_xent_chunked(x, y, 0.05, chunk_size=16)
    assert low.dtype == torch.float32 and float(low) == pytest.approx(float(nt_xent(x, y, 0.05)), rel=1e-5)
    with pytest.raises(ValueError, match="chunk_size"):
        nt_xent_chunked(x, y, 0.5, chunk_size=0)
    with pytest.raises(ValueError, match="temperature"):
        nt_xent_chunked(x, y, 0.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_chunked_uses_less_gpu_memory() -> None:
    from cssl_edu.losses import nt_xent_chunked

    a = torch.randn(8192, 128, device="cuda", requires_grad=True)
    b = torch.randn(8192, 128, device="cuda", requires_grad=True)
    peaks = []
    for fn in (lambda: nt_xent(a, b, 0.5), lambda: nt_xent_chunked(a, b, 0.5, chunk_size=512)):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn().backward()
        torch.cuda.synchronize()
        peaks.append(torch.cuda.max_memory_allocated() - base)
    assert peaks[1] < peaks[0] / 4

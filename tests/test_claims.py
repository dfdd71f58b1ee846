"""cssl_edu.claims: claims pass when the run agrees, fail (naming the sentence) when it does not."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cssl_edu.claims import (
    Claim,
    ClaimError,
    claim,
    claim_accuracy_beyond_noise,
    claim_between,
    claim_beyond_noise,
    claim_greater,
    claim_within_noise,
    compare,
    mcnemar,
    paired_bootstrap,
    student_t_sf,
)

# ------------------------------------------------------------------ float64 references


def t_two_sided_reference(t: float, df: float) -> float:
    """P(|T| ≥ |t|) by integrating Student's density numerically (independent of the beta route)."""
    x = np.linspace(0.0, abs(t), 200_001)
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    pdf = np.exp(log_c - (df + 1) / 2 * np.log1p(x * x / df))
    return float(1.0 - 2.0 * np.trapezoid(pdf, x))


def welch_reference(a: list[float], b: list[float]) -> tuple[float, float]:
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    va = sum((v - ma) ** 2 for v in a) / (len(a) - 1)
    vb = sum((v - mb) ** 2 for v in b) / (len(b) - 1)
    se2 = va / len(a) + vb / len(b)
    df = se2**2 / ((va / len(a)) ** 2 / (len(a) - 1) + (vb / len(b)) ** 2 / (len(b) - 1))
    return (ma - mb) / math.sqrt(se2), df


# ------------------------------------------------------------------ claim()


def test_claim_true_prints_the_sentence_and_its_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    result = claim(3 > 2, "three beats two", evidence="3 vs 2")
    assert isinstance(result, Claim) and result.holds
    out = capsys.readouterr().out
    assert "✓ three beats two" in out and "3 vs 2" in out


def test_claim_false_raises_an_assertion_error_naming_the_sentence() -> None:
    with pytest.raises(ClaimError, match="two beats three") as info:
        claim(2 > 3, "two beats three", evidence="2 vs 3")
    assert isinstance(info.value, AssertionError)
    assert "2 vs 3" in str(info.value)


def test_warn_mode_lets_a_failed_claim_through_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSSL_EDU_CLAIMS", "warn")
    with pytest.warns(UserWarning, match="two beats three"):
        result = claim(False, "two beats three")
    assert not result.holds
    monkeypatch.setenv("CSSL_EDU_CLAIMS", "sometimes")
    with pytest.raises(ValueError, match="CSSL_EDU_CLAIMS"):
        claim(False, "x")


def test_claim_needs_a_sentence() -> None:
    with pytest.raises(ValueError, match="sentence"):
        claim(True, "  ")


def test_claim_greater_and_between_both_directions() -> None:
    assert claim_greater(2.0, 1.0, "2 > 1").holds
    with pytest.raises(ClaimError, match="1 > 2"):
        claim_greater(1.0, 2.0, "1 > 2")
    with pytest.raises(ClaimError, match="with a margin"):
        claim_greater(2.0, 1.5, "with a margin", margin=1.0)
    assert claim_between(math.log(255), 5.5, 5.6, "the loss starts at log(2N − 1)").holds
    with pytest.raises(ClaimError, match="starts at chance"):
        claim_between(4.0, 5.5, 5.6, "starts at chance")
    with pytest.raises(ValueError, match="non-finite"):
        claim_greater(float("nan"), 1.0, "nan")


# ------------------------------------------------------------------ statistics


@pytest.mark.parametrize(
    ("t", "df"), [(4.302653, 2), (2.776445, 4), (12.706205, 1), (2.0, 7.3), (0.3, 3), (6.0, 2.5)]
)
def test_student_t_tail_matches_numerical_integration(t: float, df: float) -> None:
    assert student_t_sf(t, df) == pytest.approx(t_two_sided_reference(t, df), abs=1e-7)


def test_student_t_tail_known_quantiles() -> None:
    for t, df in [(4.302653, 2), (2.776445, 4), (12.706205, 1), (1.959964, 1e7)]:
        assert student_t_sf(t, df) == pytest.approx(0.05, abs=2e-6)
    assert student_t_sf(0.0, 3) == pytest.approx(1.0)
    assert student_t_sf(math.inf, 3) == 0.0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-10, 10), min_size=2, max_size=6),
    st.lists(st.floats(-10, 10), min_size=2, max_size=6),
)
def test_welch_matches_its_formula_and_is_antisymmetric(a: list[float], b: list[float]) -> None:
    c, r = compare(a, b), compare(b, a)
    assert c.diff == pytest.approx(-r.diff, abs=1e-12)
    assert c.p_value == pytest.approx(r.p_value, abs=1e-12)
    assert 0.0 <= c.p_value <= 1.0
    if c.se > 1e-9:
        t, df = welch_reference(a, b)
        assert c.t == pytest.approx(t, rel=1e-9, abs=1e-9)
        assert c.df == pytest.approx(df, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-5, 5), st.floats(-5, 5)), min_size=2, max_size=6))
def test_paired_is_invariant_to_the_order_of_the_pairs(pairs: list[tuple[float, float]]) -> None:
    a, b = [p[0] for p in pairs], [p[1] for p in pairs]
    c = compare(a, b, paired=True)
    c_rev = compare(a[::-1], b[::-1], paired=True)
    assert c.p_value == pytest.approx(c_rev.p_value, abs=1e-12)
    assert c.df == len(pairs) - 1


def test_welch_and_paired_agree_with_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    a, b = [0.71, 0.74, 0.69], [0.66, 0.65, 0.68, 0.64]
    assert compare(a, b).p_value == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-6)
    a2, b2 = [0.71, 0.74, 0.69], [0.66, 0.70, 0.68]
    assert compare(a2, b2, paired=True).p_value == pytest.approx(stats.ttest_rel(a2, b2).pvalue, rel=1e-6)


def test_one_value_against_a_spread_is_a_prediction_interval() -> None:
    rnd = [0.344 - 0.017, 0.344, 0.344 + 0.017]
    c = compare(0.757, rnd)
    sd = float(np.std(rnd, ddof=1))
    assert c.se == pytest.approx(sd * math.sqrt(1 + 1 / 3))
    assert c.df == 2 and c.test == "prediction interval" and c.verdict() == "higher"
    flipped = compare(rnd, 0.757)
    assert flipped.diff == pytest.approx(-c.diff) and flipped.verdict() == "lower"
    assert compare(0.35, rnd).verdict() == "within noise"
    with pytest.raises(ValueError, match="no noise"):
        compare(0.5, 0.4)
    with pytest.raises(ValueError, match="equal length"):
        compare([1, 2, 3], [1, 2], paired=True)
    with pytest.raises(ValueError, match="NaN"):
        compare([1, float("nan")], [1, 2])


def test_claims_beyond_and_within_noise_pass_and_fail() -> None:
    high, low, close = [0.75, 0.76, 0.74], [0.60, 0.62, 0.61], [0.745, 0.76, 0.75]
    assert claim_beyond_noise(high, low, "high beats low").holds
    assert claim_beyond_noise(low, high, "low is below high", direction="less").holds
    with pytest.raises(ClaimError, match="low beats high"):
        claim_beyond_noise(low, high, "low beats high")
    with pytest.raises(ClaimError, match="high beats close"):
        claim_beyond_noise(high, close, "high beats close")
    assert claim_within_noise(high, close, "high and close are within noise").holds
    with pytest.raises(ClaimError, match="within noise, wrongly"):
        claim_within_noise(high, low, "within noise, wrongly")


# ------------------------------------------------------------------ McNemar and the bootstrap


def mcnemar_reference(n01: int, n10: int) -> float:
    n, k = n01 + n10, min(n01, n10)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=300))
def test_mcnemar_matches_the_binomial_sum_and_is_symmetric(pairs: list[tuple[bool, bool]]) -> None:
    a = np.array([p[0] for p in pairs])
    b = np.array([p[1] for p in pairs])
    m, r = mcnemar(a, b), mcnemar(b, a)
    assert m.only_a == int((a & ~b).sum()) and m.only_b == int((~a & b).sum())
    assert m.p_value == pytest.approx(mcnemar_reference(m.only_a, m.only_b), rel=1e-9)
    assert m.p_value == pytest.approx(r.p_value, rel=1e-12)
    assert m.acc_a == pytest.approx(a.mean())


def test_mcnemar_on_torch_tensors_and_large_n() -> None:
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(0)
    truth = torch.randint(0, 6, (5000,), generator=g)
    good = torch.where(torch.rand(5000, generator=g) < 0.8, truth, (truth + 1) % 6)
    bad = torch.where(torch.rand(5000, generator=g) < 0.7, truth, (truth + 1) % 6)
    assert claim_accuracy_beyond_noise(good == truth, bad == truth, "80 % beats 70 %").holds
    with pytest.raises(ClaimError, match="70 % beats 80 %"):
        claim_accuracy_beyond_noise(bad == truth, good == truth, "70 % beats 80 %")
    assert claim_accuracy_beyond_noise(
        good == truth, good == truth, "a model ties itself", direction="within"
    ).holds
    with pytest.raises(ValueError, match="same test images"):
        mcnemar(good[:10] == truth[:10], good[:9] == truth[:9])
    with pytest.raises(ValueError, match="True/False"):
        mcnemar(np.array([0, 2]), np.array([0, 1]))


def test_paired_bootstrap_brackets_the_mean_difference_and_is_seeded() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(1.0, 1.0, 400)
    b = a - 0.3 + rng.normal(0, 0.1, 400)
    d, lo, hi = paired_bootstrap(a, b, seed=3)
    assert lo < d < hi and lo > 0.25 and hi < 0.35
    assert paired_bootstrap(a, b, seed=3) == (d, lo, hi)


# ------------------------------------------------------------------ in a notebook under nbval


def _notebook(cells: list[str]) -> dict:
    return {
        "cells": [
            {"cell_type": "code", "metadata": {}, "source": src, "outputs": [], "execution_count": None}
            for src in cells
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def test_a_wrong_claim_in_a_lesson_fails_nbval_with_a_message_naming_it(tmp_path: Path) -> None:
    """The CI mechanism end to end: a scratch lesson with one true and one false sentence."""
    good = tmp_path / "good.ipynb"
    bad = tmp_path / "bad.ipynb"
    setup = "from cssl_edu.notebook import claim_beyond_noise\nseeds_a, seeds_b = [0.75, 0.76, 0.74], [0.60, 0.62, 0.61]"
    good.write_text(json.dumps(_notebook([setup, "claim_beyond_noise(seeds_a, seeds_b, 'A beats B')"])))
    bad.write_text(
        json.dumps(_notebook([setup, "claim_beyond_noise(seeds_b, seeds_a, 'B beats A, wrongly')"]))
    )
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "--nbval-lax",
        "--nbval-current-env",
        "--rootdir",
        str(tmp_path),
    ]
    ok = subprocess.run([*cmd, str(good)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    fail = subprocess.run([*cmd, str(bad)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert fail.returncode != 0
    assert "ClaimError" in fail.stdout and "B beats A, wrongly" in fail.stdout

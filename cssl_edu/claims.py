"""Claims as code: a lesson's measured sentence, checked by the run that measures it.

A lesson that *types* the direction of a stochastic result ("MoCHi ends more uniform than MoCo")
stays true only until a rerun, a zoo rebuild or a torch upgrade makes it false. Here every such
sentence is a call that prints the sentence with the numbers behind it and raises
:class:`ClaimError` (an ``AssertionError`` that names the sentence) when the run contradicts it,
so a notebook under ``pytest --nbval-lax`` fails instead of teaching something false::

    from cssl_edu.claims import claim, claim_beyond_noise, claim_within_noise

    claim(loss_hot > loss_cold, "a lower temperature gives a larger loss on the same batch",
          evidence=f"τ=0.05: {loss_hot:.2f}, τ=0.5: {loss_cold:.2f}")
    claim_beyond_noise(knn_trained, knn_random_seeds, "the trained encoder beats random init")
    claim_within_noise(acc_moco_seeds, acc_mochi_seeds, "MoCo and MoCHi are within noise on kNN")

The noise-aware forms take the spread that the cell measured:

- **independent runs** (training seeds, image sets drawn separately): Welch's t-test on the two
  lists of values, ``t = (mean_a − mean_b) / sqrt(s_a²/n_a + s_b²/n_b)`` with the
  Welch–Satterthwaite degrees of freedom;
- **paired runs** (the same seeds or the same image sets for both, ``paired=True``): the one-sample
  t-test on the differences ``d_i = a_i − b_i``, ``t = mean(d) / (sd(d)/√n)``, ``n − 1`` dof;
- **one value against a spread** (one trained encoder against random init over seeds): the value
  is compared with a new draw from ``b``'s distribution, ``t = (a − mean_b) / (s_b·sqrt(1 + 1/n_b))``
  with ``n_b − 1`` dof (a prediction interval);
- **two classifiers on the same test images**: :func:`mcnemar` (exact binomial test on the images
  that exactly one of the two gets right) — not two independent binomial standard errors, which
  ignore that both are scored on the same images.

"Beyond noise" means the two-sided p-value is below ``alpha`` (0.05 by default) *and* the
difference has the claimed sign; "within noise" means p ≥ ``alpha``. With three seeds a t-test
has little power: a "within noise" verdict says the run cannot tell the two apart, not that
they are equal — the printed line says so.

Set ``CSSL_EDU_CLAIMS=warn`` to turn a failed claim into a printed warning (to keep exploring after
changing a lesson's knobs); CI leaves it unset, so a false sentence fails the run.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = [
    "Claim",
    "ClaimError",
    "Comparison",
    "McNemar",
    "claim",
    "claim_accuracy_beyond_noise",
    "claim_between",
    "claim_beyond_noise",
    "claim_greater",
    "claim_within_noise",
    "compare",
    "mcnemar",
    "paired_bootstrap",
    "student_t_sf",
]


class ClaimError(AssertionError):
    """A lesson's sentence that the run just contradicted; the message names the sentence."""


@dataclass(frozen=True)
class Claim:
    """A checked sentence: ``text``, whether it ``holds``, and the ``evidence`` (numbers) behind it."""

    text: str
    holds: bool
    evidence: str

    def __str__(self) -> str:
        mark = "✓" if self.holds else "✗"
        return f"{mark} {self.text} — {self.evidence}" if self.evidence else f"{mark} {self.text}"


def _mode() -> str:
    mode = os.environ.get("CSSL_EDU_CLAIMS", "raise").strip().lower() or "raise"
    if mode not in {"raise", "warn"}:
        raise ValueError(f"CSSL_EDU_CLAIMS must be 'raise' or 'warn', got {mode!r}.")
    return mode


def claim(condition: object, text: str, *, evidence: str = "") -> Claim:
    """Print ``text`` with its ``evidence``; raise :class:`ClaimError` naming it when ``condition`` is false.

    Args:
        condition: the measured fact, e.g. ``acc_a > acc_b`` (anything with a truth value; a
            one-element tensor or NumPy bool works).
        text: the sentence of the lesson that the condition checks, as a student reads it.
        evidence: the numbers behind it, printed beside the sentence.

    Returns:
        The :class:`Claim` (``holds`` is True unless ``CSSL_EDU_CLAIMS=warn`` let a failure through).
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text must be the sentence being checked (a non-empty string).")
    holds = bool(condition)
    result = Claim(text=text, holds=holds, evidence=evidence)
    if holds:
        print(result)
        return result
    message = (
        f"Claim failed: “{text}”" + (f" — {evidence}" if evidence else "") + ". This run contradicts "
        "the lesson's sentence: if the run is right, the sentence (and this check) must change."
    )
    if _mode() == "warn":
        print(result)
        warnings.warn(message, stacklevel=2)
        return result
    raise ClaimError(message)


def _finite(x: float, name: str) -> float:
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"{name} is {x}: a claim cannot be checked on a non-finite number.")
    return x


def claim_greater(
    a: float,
    b: float,
    text: str,
    *,
    margin: float = 0.0,
    names: tuple[str, str] = ("A", "B"),
    fmt: str = ".3g",
) -> Claim:
    """Claim ``a > b + margin`` for two exact (not noisy) numbers, e.g. two losses on one fixed batch."""
    a, b = _finite(a, names[0]), _finite(b, names[1])
    extra = f" + {margin:{fmt}}" if margin else ""
    return claim(a > b + margin, text, evidence=f"{names[0]} {a:{fmt}} vs {names[1]} {b:{fmt}}{extra}")


def claim_between(
    x: float, low: float, high: float, text: str, *, name: str = "value", fmt: str = ".3g"
) -> Claim:
    """Claim ``low ≤ x ≤ high`` (a quantitative sentence: "the loss starts near log(2N − 1)")."""
    x = _finite(x, name)
    if not low <= high:
        raise ValueError(f"low must be ≤ high, got [{low}, {high}].")
    return claim(
        low <= x <= high, text, evidence=f"{name} = {x:{fmt}}, expected in [{low:{fmt}}, {high:{fmt}}]"
    )


# ----------------------------------------------------------------------------------------------
# Statistics: Student's t tail from the regularised incomplete beta function.


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz), for x < (a+1)/(a+b+2)."""
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        for num in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def student_t_sf(t: float, df: float) -> float:
    """Two-sided tail P(|T| ≥ |t|) of Student's t with ``df`` degrees of freedom: I_{df/(df+t²)}(df/2, 1/2)."""
    if not df > 0:
        raise ValueError(f"df must be > 0, got {df}.")
    if math.isinf(t):
        return 0.0
    return _betainc(df / 2.0, 0.5, df / (df + t * t))


def _values(x: Sequence[float] | np.ndarray | float, name: str) -> np.ndarray:
    try:
        arr = np.asarray([float(v) for v in np.atleast_1d(np.asarray(x, dtype=float))], dtype=float)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must be a number or a sequence of numbers (one per seed/run), got {x!r}."
        ) from None
    if arr.size == 0:
        raise ValueError(f"{name} is empty: pass one value per seed (or run).")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds NaN or inf ({arr.tolist()}): a claim cannot be checked on it.")
    return arr


@dataclass(frozen=True)
class Comparison:
    """``a`` against ``b`` with the noise the runs measured: difference, standard error, t, dof, p."""

    mean_a: float
    mean_b: float
    diff: float  # mean_a - mean_b
    se: float
    t: float
    df: float
    p_value: float  # two-sided
    n_a: int
    n_b: int
    test: str  # "Welch t", "paired t", "prediction interval"

    def verdict(self, alpha: float = 0.05) -> Literal["higher", "lower", "within noise"]:
        """Return "higher"/"lower" when p < ``alpha`` (A's mean above/below B's), else "within noise"."""
        if self.p_value < alpha:
            return "higher" if self.diff > 0 else "lower"
        return "within noise"

    def describe(self, fmt: str = ".3g", scale: float = 1.0, unit: str = "") -> str:
        """One line: the two means, the difference ± its standard error, the test and its p-value."""
        s = scale
        return (
            f"{self.mean_a * s:{fmt}}{unit} vs {self.mean_b * s:{fmt}}{unit}, difference "
            f"{self.diff * s:+{fmt}} ± {self.se * s:{fmt}}{unit} (SE; {self.test}, n = {self.n_a} vs "
            f"{self.n_b}, p = {self.p_value:.2g})"
        )


def compare(a: Sequence[float] | float, b: Sequence[float] | float, *, paired: bool = False) -> Comparison:
    """Compare two sets of measurements with the test that matches how they were made.

    Args:
        a, b: one value per training seed / run / image set. ``a`` may be a single value (one trained
            encoder) compared with the spread of ``b`` (≥ 2 values): a prediction interval.
        paired: True when ``a[i]`` and ``b[i]`` share seed or test images (then ``len(a) == len(b) ≥ 2``).

    Raises:
        ValueError: fewer than two values on a side that needs a spread, unequal lengths when
            paired, or non-finite values.
    """
    xa, xb = _values(a, "a"), _values(b, "b")
    if paired:
        if xa.size != xb.size or xa.size < 2:
            raise ValueError(
                f"paired=True needs a and b of equal length ≥ 2 (one pair per seed), got {xa.size} and {xb.size}."
            )
        d = xa - xb
        se = float(d.std(ddof=1) / math.sqrt(d.size))
        df, test = float(d.size - 1), "paired t"
    elif xa.size == 1:
        if xb.size < 2:
            raise ValueError(
                "one value against one value has no noise to compare with: pass ≥ 2 values (seeds) for b."
            )
        se = float(xb.std(ddof=1) * math.sqrt(1.0 + 1.0 / xb.size))
        df, test = float(xb.size - 1), "prediction interval"
    elif xb.size == 1:
        flipped = compare(xb, xa)
        return Comparison(
            mean_a=flipped.mean_b,
            mean_b=flipped.mean_a,
            diff=-flipped.diff,
            se=flipped.se,
            t=-flipped.t,
            df=flipped.df,
            p_value=flipped.p_value,
            n_a=xa.size,
            n_b=1,
            test=flipped.test,
        )
    else:
        va, vb = xa.var(ddof=1) / xa.size, xb.var(ddof=1) / xb.size
        se = float(math.sqrt(va + vb))
        denom = va**2 / (xa.size - 1) + vb**2 / (xb.size - 1)  # Welch–Satterthwaite
        df = float((va + vb) ** 2 / denom) if denom > 0 else float(xa.size + xb.size - 2)
        test = "Welch t"
    diff = float(xa.mean() - xb.mean())
    if se == 0.0:
        t = 0.0 if diff == 0.0 else math.copysign(math.inf, diff)
    else:
        t = diff / se
    p = 1.0 if t == 0.0 else student_t_sf(t, df)
    return Comparison(
        mean_a=float(xa.mean()),
        mean_b=float(xb.mean()),
        diff=diff,
        se=se,
        t=t,
        df=df,
        p_value=p,
        n_a=int(xa.size),
        n_b=int(xb.size),
        test=test,
    )


def claim_beyond_noise(
    a: Sequence[float] | float,
    b: Sequence[float] | float,
    text: str,
    *,
    paired: bool = False,
    direction: Literal["greater", "less"] = "greater",
    alpha: float = 0.05,
    names: tuple[str, str] = ("A", "B"),
    fmt: str = ".3g",
    scale: float = 1.0,
    unit: str = "",
) -> Claim:
    """Claim that ``a`` is above (``direction="greater"``) or below ``b`` beyond the measured noise (p < alpha)."""
    if direction not in ("greater", "less"):
        raise ValueError(f"direction must be 'greater' or 'less', got {direction!r}.")
    c = compare(a, b, paired=paired)
    wanted = "higher" if direction == "greater" else "lower"
    got = c.verdict(alpha)
    evidence = f"{names[0]} vs {names[1]}: {c.describe(fmt, scale, unit)} → {got}"
    return claim(got == wanted, text, evidence=evidence)


def claim_within_noise(
    a: Sequence[float] | float,
    b: Sequence[float] | float,
    text: str,
    *,
    paired: bool = False,
    alpha: float = 0.05,
    names: tuple[str, str] = ("A", "B"),
    fmt: str = ".3g",
    scale: float = 1.0,
    unit: str = "",
) -> Claim:
    """Claim that the runs cannot tell ``a`` from ``b`` (p ≥ alpha): a statement about this run's noise."""
    c = compare(a, b, paired=paired)
    evidence = (
        f"{names[0]} vs {names[1]}: {c.describe(fmt, scale, unit)} → {c.verdict(alpha)}"
        " (not told apart by these runs; not a proof of equality)"
    )
    return claim(c.verdict(alpha) == "within noise", text, evidence=evidence)


# ----------------------------------------------------------------------------------------------
# Two classifiers on the same test images.


@dataclass(frozen=True)
class McNemar:
    """McNemar's exact test: ``only_a`` images right by A alone, ``only_b`` by B alone, two-sided p."""

    acc_a: float
    acc_b: float
    only_a: int
    only_b: int
    n: int
    p_value: float

    def verdict(self, alpha: float = 0.05) -> Literal["higher", "lower", "within noise"]:
        if self.p_value < alpha:
            return "higher" if self.acc_a > self.acc_b else "lower"
        return "within noise"

    def describe(self) -> str:
        return (
            f"{100 * self.acc_a:.1f} % vs {100 * self.acc_b:.1f} % on the same {self.n} test images; "
            f"right by one only: {self.only_a} vs {self.only_b} (McNemar exact, p = {self.p_value:.2g})"
        )


def _as_bool(x: object, name: str) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()  # type: ignore[union-attr]
    arr = np.asarray(x)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D array of per-image correctness (bool or 0/1), got shape {arr.shape}."
        )
    if arr.dtype != bool:
        if not np.isin(arr, (0, 1)).all():
            raise ValueError(
                f"{name} must hold only True/False (or 0/1): one entry per test image, right or wrong."
            )
        arr = arr.astype(bool)
    return arr


def mcnemar(correct_a: object, correct_b: object) -> McNemar:
    """McNemar's exact test for two classifiers scored on the same test images.

    Only the discordant images carry information: ``n01`` right by A only and ``n10`` right by B
    only. Under "equally accurate" each discordant image is a fair coin, so
    ``p = min(1, 2 · P(Binomial(n01 + n10, 1/2) ≤ min(n01, n10)))``.

    Args:
        correct_a, correct_b: bool (N,) arrays or tensors, ``correct[i]`` = image i classified right.
    """
    a, b = _as_bool(correct_a, "correct_a"), _as_bool(correct_b, "correct_b")
    if a.shape != b.shape:
        raise ValueError(
            f"correct_a and correct_b must score the same test images: shapes {a.shape} and {b.shape}."
        )
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    n = only_a + only_b
    k = min(only_a, only_b)
    if n == 0:
        p = 1.0
    else:
        log_terms = [
            math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2)
            for i in range(k + 1)
        ]
        top = max(log_terms)
        p = min(1.0, 2.0 * math.exp(top) * sum(math.exp(t - top) for t in log_terms))
    return McNemar(
        acc_a=float(a.mean()), acc_b=float(b.mean()), only_a=only_a, only_b=only_b, n=int(a.size), p_value=p
    )


def claim_accuracy_beyond_noise(
    correct_a: object,
    correct_b: object,
    text: str,
    *,
    direction: Literal["greater", "less", "within"] = "greater",
    alpha: float = 0.05,
    names: tuple[str, str] = ("A", "B"),
) -> Claim:
    """Claim A's accuracy is above / below / within noise of B's, by McNemar's test on the same images."""
    if direction not in ("greater", "less", "within"):
        raise ValueError(f"direction must be 'greater', 'less' or 'within', got {direction!r}.")
    m = mcnemar(correct_a, correct_b)
    wanted = {"greater": "higher", "less": "lower", "within": "within noise"}[direction]
    return claim(
        m.verdict(alpha) == wanted,
        text,
        evidence=f"{names[0]} vs {names[1]}: {m.describe()} → {m.verdict(alpha)}",
    )


def paired_bootstrap(
    values_a: object, values_b: object, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Mean difference of per-item values measured on the same items, with a percentile bootstrap CI.

    Resamples the items (rows) with replacement ``n_boot`` times, all at once: an (n_boot, N)
    index matrix. Returns ``(mean(a − b), low, high)``.
    """
    a, b = _values(values_a, "values_a"), _values(values_b, "values_b")
    if a.shape != b.shape or a.size < 2:
        raise ValueError(
            f"values_a and values_b must be per-item values on the same ≥ 2 items, got {a.size} and {b.size}."
        )
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}.")
    d = a - b
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(n_boot, d.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(d.mean()), float(lo), float(hi)

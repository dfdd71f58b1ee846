"""How much does a representation change under a transformation? Three scores on features.

All three compare features of the same N images before and after a change, ``h`` and ``h'``
(both (N, D), row ``i`` is image ``i``), against pairs of *different* images, so that 1 means
fully invariant and 0 means "no more alike than two random images", whatever the encoder's
typical similarity (ReLU features, for example, all have positive cosine with one another).

**Cosine invariance.** With unit rows ``u_i = h_i / ||h_i||`` and ``v_j = h'_j / ||h'_j||``,
the positive similarity ``P = (1/N) sum_i u_i . v_i`` and the baseline
``B = 1/(N(N-1)) sum_{i != j} u_i . v_j``; the score is ``(P - B) / (1 - B)``. The baseline needs
no N x N matrix: ``sum_{i != j} u_i . v_j = (sum_i u_i) . (sum_j v_j) - N P``.

**Firing invariance** (after Purushwalkam & Gupta 2020, who count which units "fire" for an
image and for its transformed versions, following Goodfellow et al. 2009). Each unit is
standardised with the statistics of ``h`` over the N images; unit ``d`` *fires* for an image when
it is among the image's ``k`` most active standardised units (a top-k mask ``M`` of shape (N, D)).
The overlap ``O = (1/(N k)) sum_i |M_i ∩ M'_i|`` is the fraction of the units firing for ``x`` that
still fire for ``t(x)``; chance ``C`` is the same overlap between different images,
``C = ((sum_i M_i) . (sum_j M'_j) - N k O) / (N (N - 1) k)``; the score is ``(O - C) / (1 - C)``.

**Category invariance** treats another image of the same class as the "transformation" of an
image: ``P_cat`` is the mean cosine over pairs of distinct images with the same label, the baseline
the mean over all pairs of distinct images, score ``(P_cat - B) / (1 - B)``; the class sums give
``sum_{i != j, y_i = y_j} u_i . u_j = sum_c ||sum_{y_i = c} u_i||^2 - N``. Next to the *instance*
invariance (the cosine score between an image and its augmented view) it separates "the
encoder ignores nuisances of one object" from "the encoder groups objects of a class".

A degenerate baseline (``B = 1``: every feature points the same way, a collapsed encoder) makes
the score 0: the encoder cannot tell changed images from different ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from cssl_edu._validation import as_float_tensor, as_labels, check_finite, check_matrix, check_same_shape

_EPS = 1e-8


def _normalised_score(positive: float, baseline: float) -> float:
    """``(positive - baseline) / (1 - baseline)``, 0 when the baseline is (numerically) 1."""
    denom = 1.0 - baseline
    return 0.0 if denom < 1e-6 else (positive - baseline) / denom


def _check_pair(h: Tensor, h_t: Tensor) -> tuple[Tensor, Tensor]:
    """``(h, h_t)`` checked: finite float (N, D) of the same shape, N >= 2; nested lists are converted."""
    h = as_float_tensor(h, "h", finite=False)
    h_t = as_float_tensor(h_t, "h_t", finite=False)
    check_matrix(h, "h", min_rows=2)
    check_same_shape(h, h_t, "h", "h_t")
    check_finite(h, "h")
    check_finite(h_t, "h_t")
    return h, h_t


def invariance_score(h: Tensor, h_t: Tensor, *, center: bool = False) -> dict[str, float]:
    """Cosine invariance of features ``h`` (N, D) to the change that produced ``h_t`` (N, D).

    Args:
        h: features of the original images, one row per image.
        h_t: features of the same images after the change (row ``i`` belongs to image ``i``).
        center: subtract the mean of ``h`` from both before comparing (removes the shared
            direction that makes all ReLU features alike; the score is normalised either way).

    Returns:
        ``{"score": (P - B) / (1 - B), "positive": P, "baseline": B}``: 1 for ``h_t = c h``
        (c > 0), about 0 when ``h_t`` is unrelated to ``h``.
    """
    h, h_t = _check_pair(h, h_t)
    h, h_t = h.double(), h_t.double()
    if center:
        mu = h.mean(0, keepdim=True)
        h, h_t = h - mu, h_t - mu
    u, v = F.normalize(h, dim=1, eps=_EPS), F.normalize(h_t, dim=1, eps=_EPS)
    n = u.shape[0]
    diag = (u * v).sum(1)
    positive = float(diag.mean())
    baseline = float((u.sum(0) @ v.sum(0) - diag.sum()) / (n * (n - 1)))
    return {"score": _normalised_score(positive, baseline), "positive": positive, "baseline": baseline}


def topk_mask(h: Tensor, k: int, *, mean: Tensor | None = None, std: Tensor | None = None) -> Tensor:
    """bool (N, D): True at each row's ``k`` largest standardised entries ``(h - mean) / std``.

    ``h``: (N, D) float, finite, N ≥ 2 (for the column std); ``k`` an int in [1, D].
    ``mean`` / ``std`` (D,) default to the column statistics of ``h`` itself.
    """
    check_matrix(h, "h", min_rows=2)
    check_finite(h, "h")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= h.shape[1]:
        raise ValueError(f"k must be an int in [1, {h.shape[1]}] (the feature dimension), got {k!r}.")
    mean = h.mean(0) if mean is None else mean
    std = h.std(0) if std is None else std
    z = (h - mean) / std.clamp_min(1e-6)
    idx = z.topk(k, dim=1).indices
    return torch.zeros_like(z, dtype=torch.bool).scatter_(1, idx, True)


def firing_invariance(h: Tensor, h_t: Tensor, *, k: int = 16) -> dict[str, float]:
    """Firing-based invariance: do the same top-``k`` units fire for ``x`` and ``t(x)``?

    Args:
        h, h_t: (N, D) features before and after the change (N >= 2, ``1 <= k < D``).
        k: units counted as firing per image; both sets are standardised with ``h``'s unit
            statistics, so a unit that is large for every image does not fire for all of them.

    Returns:
        ``{"score": (O - C) / (1 - C), "overlap": O, "chance": C}`` (see the module docstring).
    """
    h, h_t = _check_pair(h, h_t)
    n, d = h.shape
    if not isinstance(k, int) or not 1 <= k < d:
        raise ValueError(
            f"k (units firing per image) must be an int in [1, {d - 1}] for {d} units, got {k!r}."
        )
    h, h_t = h.double(), h_t.double()
    mean, std = h.mean(0), h.std(0)
    m, m_t = topk_mask(h, k, mean=mean, std=std).double(), topk_mask(h_t, k, mean=mean, std=std).double()
    same = (m * m_t).sum(1)  # (N,) units firing in both
    overlap = float(same.mean()) / k
    chance = float((m.sum(0) @ m_t.sum(0) - same.sum()) / (n * (n - 1) * k))
    return {"score": _normalised_score(overlap, chance), "overlap": overlap, "chance": chance}


def category_invariance(h: Tensor, labels: Tensor) -> dict[str, float]:
    """Cosine similarity of same-class pairs of distinct images, normalised by all distinct pairs.

    Args:
        h: (N, D) features; labels: int (N,), ``-1`` rows are ignored. At least two classes and
            one class with two images are needed.

    Returns:
        ``{"score": (P_cat - B) / (1 - B), "positive": P_cat, "baseline": B}``: 1 when each class
        maps to one direction, about 0 when features ignore the class.
    """
    check_matrix(h, "h", min_rows=2)
    check_finite(h, "h")
    labels = as_labels(labels, h.shape[0], "labels")
    keep = labels >= 0
    u = F.normalize(h[keep].double(), dim=1, eps=_EPS)
    y = labels[keep].to(u.device).long()
    n = u.shape[0]
    counts = torch.bincount(y)
    pairs_same = float((counts * (counts - 1)).sum())
    if int((counts > 0).sum()) < 2 or pairs_same == 0:
        raise ValueError(
            "category invariance needs at least two classes and a class with two or more images; "
            f"got class counts {counts.tolist()}."
        )
    norms = (u * u).sum(1)
    class_sums = torch.zeros(int(y.max()) + 1, u.shape[1], dtype=u.dtype, device=u.device).index_add_(0, y, u)
    same = float((class_sums * class_sums).sum() - norms.sum()) / pairs_same
    total = u.sum(0)
    baseline = float(total @ total - norms.sum()) / (n * (n - 1))
    return {"score": _normalised_score(same, baseline), "positive": same, "baseline": baseline}

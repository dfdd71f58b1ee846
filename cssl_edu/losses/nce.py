"""Noise-contrastive estimation (Gutmann & Hyvärinen 2010): learn a density by telling data from noise.

A model gives an *unnormalised* log-density s(x) = log p̃_θ(x) (a score; its normaliser is
unknown or is one more parameter). NCE draws k noise samples y_1 … y_k from a known
distribution q for every data sample x and trains a **binary classifier** "data or noise?"
whose posterior uses the model and the noise density:

    P(data | u) = p̃_θ(u) / (p̃_θ(u) + k q(u)) = σ(G(u)),   G(u) = s(u) − log(k q(u))

    L = −(1/N) Σ_n [ log σ(G(x_n)) + Σ_{j=1}^{k} log(1 − σ(G(y_nj))) ]
      =  (1/N) Σ_n [ softplus(−G(x_n)) + Σ_j softplus(G(y_nj)) ]

Its minimiser is the data density itself, p̃_θ = p_data *normalised* — the classifier can
only be right if the model's scale is right, because the noise term k q(u) fixes it. That is
the **log k·q(x) term**, and it is what separates NCE from its relatives:

- **negative sampling** (word2vec, Mikolov et al. 2013) drops it, i.e. uses σ(s(u)) as if
  k q(u) = 1: simpler and fine for learning embeddings, but s is no longer a log-density;
- **InfoNCE** (van den Oord et al. 2018) puts the data sample among its k noise samples and
  asks *which* of the k + 1 is the data, a softmax instead of k + 1 binary decisions: q and
  the normaliser cancel inside the softmax, no log k·q term is needed.

The model is often **self-normalised**: s(u) is used as a normalised log-density with no
learned normaliser (Mnih & Teh 2012), which NCE makes approximately true at its optimum.
PIRL (Misra & van der Maaten 2020) uses exactly this loss with s = cos/τ, q uniform over the
dataset of |D| images and k negatives drawn from a memory bank.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from cssl_edu._validation import as_bool_mask, check_finite, check_has_data, check_same_device


def _as_log_q(x: Tensor | float, like: Tensor, name: str) -> Tensor:
    if isinstance(x, Tensor):
        check_has_data(x, name)
        if not (x.is_floating_point() or x.dtype in (torch.int32, torch.int64)):
            raise ValueError(
                f"{name} must be a float (or a float tensor) of log-densities, got dtype {x.dtype}."
            )
    elif isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ValueError(f"{name} must be a float or a tensor of log-densities, got {type(x).__name__}.")
    t = torch.as_tensor(x, dtype=like.dtype, device=like.device)
    try:
        torch.broadcast_shapes(t.shape, like.shape)
    except RuntimeError:
        raise ValueError(
            f"{name} must broadcast to shape {tuple(like.shape)} (a float for a uniform noise density), "
            f"got shape {tuple(t.shape)}."
        ) from None
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} must be finite log-densities (q(x) > 0 wherever noise can fall).")
    return t


def nce_loss(
    data_scores: Tensor,
    noise_scores: Tensor,
    data_log_q: Tensor | float,
    noise_log_q: Tensor | float,
    noise_mask: Tensor | None = None,
) -> Tensor:
    """The NCE loss of Gutmann & Hyvärinen with k noise samples per data sample.

    Args:
        data_scores: (N,) the model's unnormalised log-density s(x_n) of each data sample.
        noise_scores: (N, k) s(y_nj) of the k noise samples drawn for data sample n.
        data_log_q: log q(x_n) of the noise distribution at the data samples, (N,) or a float.
        noise_log_q: log q(y_nj) at the noise samples, (N, k) or anything broadcastable (a
            float for uniform noise).
        noise_mask: optional (N, k) bool (or 0/1 ints/floats), True where a noise sample must be
            left out (e.g. a draw that hit the data sample itself); k in log(k·q) stays the
            number drawn.

    Scores: float, finite, on one device (computed in their common dtype, at least float32).

    Returns:
        a scalar, the mean over the N data samples of
        softplus(−G(x_n)) + Σ_j softplus(G(y_nj)), G(u) = s(u) − log k − log q(u).

    Example:
        >>> s_data, s_noise = torch.zeros(4), torch.zeros(4, 3)
        >>> round(float(nce_loss(s_data, s_noise, math.log(1 / 3), math.log(1 / 3))), 4)  # k·q = 1: σ(0) everywhere
        2.7726
    """
    if not isinstance(data_scores, Tensor) or data_scores.dim() != 1 or not data_scores.is_floating_point():
        raise ValueError(
            "data_scores must be a floating-point tensor of shape (N,), one score per data sample, got "
            f"{tuple(data_scores.shape) if isinstance(data_scores, Tensor) else type(data_scores).__name__}."
        )
    n = data_scores.shape[0]
    if n < 1:
        raise ValueError("data_scores is empty: NCE needs at least one data sample.")
    if not isinstance(noise_scores, Tensor) or noise_scores.dim() != 2 or noise_scores.shape[0] != n:
        raise ValueError(
            f"noise_scores must have shape (N, k) = ({n}, k), k noise samples per data sample, got "
            f"{tuple(noise_scores.shape) if isinstance(noise_scores, Tensor) else type(noise_scores).__name__}."
        )
    k = noise_scores.shape[1]
    if n < 1 or k < 1:
        raise ValueError(f"NCE needs at least one data sample and one noise sample each, got N={n}, k={k}.")
    if not noise_scores.is_floating_point():
        raise ValueError(f"noise_scores must be a floating-point tensor, got dtype {noise_scores.dtype}.")
    check_same_device(("data_scores", data_scores), ("noise_scores", noise_scores))
    for name, x in (("data_scores", data_scores), ("noise_scores", noise_scores)):
        check_finite(x, name)
    dtype = torch.promote_types(torch.promote_types(data_scores.dtype, noise_scores.dtype), torch.float32)
    s_data, s_noise = data_scores.to(dtype), noise_scores.to(dtype)
    log_k = math.log(k)
    g_data = s_data - log_k - _as_log_q(data_log_q, s_data, "data_log_q")
    g_noise = s_noise - log_k - _as_log_q(noise_log_q, s_noise, "noise_log_q")
    noise_terms = F.softplus(g_noise)  # −log(1 − σ(G)) for every noise sample
    if noise_mask is not None:
        mask = as_bool_mask(noise_mask, tuple(noise_scores.shape), "noise_mask", device=noise_terms.device)
        noise_terms = noise_terms.masked_fill(mask, 0.0)
    return (F.softplus(-g_data) + noise_terms.sum(1)).mean()


def negative_sampling_loss(data_scores: Tensor, noise_scores: Tensor) -> Tensor:
    """Negative sampling (word2vec): NCE without the log k·q term, −log σ(s(x)) − Σ_j log σ(−s(y_j)).

    Args:
        data_scores: (N,) scores of the data samples.
        noise_scores: (N, k) scores of the noise samples.

    Returns:
        the mean over N (equal to :func:`nce_loss` with k·q(u) = 1 everywhere).
    """
    k = noise_scores.shape[1] if isinstance(noise_scores, Tensor) and noise_scores.dim() == 2 else 1
    return nce_loss(data_scores, noise_scores, -math.log(k), -math.log(k))

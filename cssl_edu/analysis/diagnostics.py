"""Look inside a representation: similarity matrices, 2-D embeddings, geometry over training.

- :func:`similarity_matrix`: the representational similarity matrix (RSM) ``R_ij = u_i . u_j`` of
  unit features, rows and columns sorted by one or more factors (class, then hue, ...), so that
  what the encoder groups together shows up as blocks.
- :func:`pca`: projection on the top principal directions, ``Y = (H - mean) V_k`` with ``V_k``
  the first ``k`` right singular vectors of the centred features (signs fixed so that each
  column's largest-magnitude entry is positive: deterministic).
- :func:`tsne`: a small, batched t-SNE (van der Maaten & Hinton 2008) in torch: Gaussian
  affinities with a per-point bandwidth found by bisection (all points at once) to match the
  perplexity, symmetrised ``P``, Student-t ``Q``, gradient descent on ``KL(P || Q)`` with momentum
  and early exaggeration. O(N^2) memory: meant for a few thousand points.
- :func:`geometry_over_training`: alignment, uniformity (Wang & Isola 2020) and the collapse ratio
  (:mod:`cssl_edu.eval.geometry`) of a trainer's encoder after every epoch.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from cssl_edu._validation import (
    check_finite,
    check_has_data,
    check_image_batch,
    check_matrix,
    check_module,
    check_number,
    check_same_shape,
)
from cssl_edu.eval import alignment, collapse_std, uniformity
from cssl_edu.eval.features import module_device
from cssl_edu.train import Trainer


def sort_order(*keys: Tensor) -> Tensor:
    """Indices (N,) that sort by ``keys[0]``, ties broken by ``keys[1]``, and so on (stable)."""
    if not keys:
        raise ValueError("sort_order needs at least one of keys: tensors of shape (N,).")
    for key in keys:
        if not isinstance(key, Tensor):
            raise ValueError(f"keys must be tensors of shape (N,), got a {type(key).__name__}.")
        check_has_data(key, "keys")
    n = keys[0].shape[0]
    order = torch.arange(n)
    for key in reversed(keys):  # least significant first; stable sorts keep the earlier order
        if key.shape != (n,):
            raise ValueError(f"every one of keys must have shape ({n},), got {tuple(key.shape)}.")
        order = order[torch.sort(key.cpu()[order], stable=True).indices]
    return order


def similarity_matrix(features: Tensor, *keys: Tensor, center: bool = False) -> tuple[Tensor, Tensor]:
    """Cosine RSM of ``features`` (N, D), rows and columns sorted by ``keys`` (each (N,)).

    ``center=True`` subtracts the mean feature first: ReLU features share a large common
    direction that makes every cosine high; without it the structure stands out.

    Returns:
        ``(R, order)``: R float (N, N) with ``R[a, b] = cos(h_order[a], h_order[b])``, and the order.
    """
    check_matrix(features, "features")
    check_finite(features, "features")
    order = sort_order(*keys) if keys else torch.arange(features.shape[0])
    x = features.float()
    if center:
        x = x - x.mean(0, keepdim=True)
    u = F.normalize(x, dim=1)[order.to(features.device)]
    return (u @ u.T).cpu(), order


def pca(features: Tensor, dim: int = 2) -> Tensor:
    """Coordinates (N, dim) on the top ``dim`` principal directions (see the module docstring)."""
    check_matrix(features, "features", min_rows=2)
    check_finite(features, "features")
    if not isinstance(dim, int) or not 1 <= dim <= min(features.shape):
        raise ValueError(
            f"dim must be an int in [1, {min(features.shape)}] for features {tuple(features.shape)}, got {dim!r}."
        )
    x = features.double()
    x = x - x.mean(0, keepdim=True)
    _, _, vh = torch.linalg.svd(x, full_matrices=False)
    v = vh[:dim].T  # (D, dim)
    sign = torch.sign(v.gather(0, v.abs().argmax(0, keepdim=True)))
    return (x @ (v * sign)).float()


def _affinities(x: Tensor, perplexity: float, iters: int = 64) -> Tensor:
    """Symmetric t-SNE input affinities P (N, N), ``sum P = 1``.

    ``p_{j|i} = exp(-beta_i d_ij) / sum_k exp(-beta_i d_ik)`` with squared distances ``d``; each
    ``beta_i`` is bisected (in log space, all rows together) until the entropy ``H_i`` of row ``i``
    equals ``log(perplexity)``; then ``P = (p_{j|i} + p_{i|j}) / 2N``.
    """
    n = x.shape[0]
    d = torch.cdist(x, x).square_()
    d.fill_diagonal_(float("inf"))
    target = math.log(perplexity)
    lo = torch.full((n, 1), -50.0, dtype=x.dtype)
    hi = torch.full((n, 1), 50.0, dtype=x.dtype)
    scale = d[torch.isfinite(d)].median().clamp_min(1e-12)
    for _ in range(iters):
        log_beta = (lo + hi) / 2
        logits = -d / scale * log_beta.exp()
        p = torch.softmax(logits, dim=1)
        entropy = -(p * torch.log_softmax(logits, dim=1).nan_to_num(neginf=0.0)).sum(1, keepdim=True)
        too_flat = entropy > target  # entropy too high: sharpen (raise beta)
        lo = torch.where(too_flat, log_beta, lo)
        hi = torch.where(too_flat, hi, log_beta)
    p = torch.softmax(-d / scale * ((lo + hi) / 2).exp(), dim=1)
    return (p + p.T) / (2 * n)


def tsne(
    features: Tensor,
    dim: int = 2,
    *,
    perplexity: float = 30.0,
    n_iter: int = 500,
    learning_rate: float | None = None,
    early_exaggeration: float = 12.0,
    seed: int = 0,
) -> Tensor:
    """t-SNE coordinates (N, dim) of ``features`` (N, D); deterministic for a given ``seed``.

    Minimises ``KL(P || Q)`` with ``q_ij ∝ (1 + ||y_i - y_j||^2)^-1``; the gradient is
    ``dC/dy_i = 4 sum_j (p_ij - q_ij) (1 + ||y_i - y_j||^2)^-1 (y_i - y_j)``, one (N, N) matrix
    product per step. The start is the PCA projection scaled to standard deviation 1e-4 (plus
    1e-6 noise from ``seed``); ``P`` is multiplied by ``early_exaggeration`` for the first quarter
    of the steps; momentum 0.5 then 0.8; step size ``max(N / early_exaggeration / 4, 50)`` by default.

    Args:
        features: (N, D) with N > 3 * perplexity is advisable (perplexity is clipped to (N - 1) / 3).
        dim: output dimension (2 for plots).
        perplexity: effective number of neighbours.
        n_iter: gradient steps.
    """
    check_matrix(features, "features", min_rows=4)
    check_finite(features, "features")
    if not isinstance(n_iter, int) or n_iter < 1:
        raise ValueError(f"n_iter must be an int >= 1, got {n_iter!r}.")
    check_number(perplexity, "perplexity", low=0.0, low_open=True)
    n = features.shape[0]
    x = features.double().cpu()
    perplexity = min(float(perplexity), (n - 1) / 3)
    p = _affinities(x, perplexity).clamp_min(1e-12)
    g = torch.Generator().manual_seed(int(seed))
    y = pca(x, dim).double() if min(x.shape) >= dim else torch.randn(n, dim, generator=g, dtype=torch.float64)
    y = y / y.std(0, keepdim=True).clamp_min(1e-12) * 1e-4 + 1e-6 * torch.randn(
        n, dim, generator=g, dtype=torch.float64
    )
    lr = learning_rate if learning_rate is not None else max(n / early_exaggeration / 4, 50.0)
    velocity = torch.zeros_like(y)
    gains = torch.ones_like(y)
    stop_exaggeration = max(1, n_iter // 4)
    for it in range(n_iter):
        exag = early_exaggeration if it < stop_exaggeration else 1.0
        kernel = 1.0 / (1.0 + torch.cdist(y, y).square())
        kernel.fill_diagonal_(0.0)
        q = (kernel / kernel.sum()).clamp_min(1e-12)
        w = (exag * p - q) * kernel  # (N, N)
        grad = 4.0 * (w.sum(1, keepdim=True) * y - w @ y)
        # adaptive gains (Jacobs 1988), as in the reference implementation
        same_sign = torch.sign(grad) == torch.sign(velocity)
        gains = torch.where(same_sign, gains * 0.8, gains + 0.2).clamp_min(0.01)
        momentum = 0.5 if it < stop_exaggeration else 0.8
        velocity = momentum * velocity - lr * gains * grad
        y = y + velocity
        y = y - y.mean(0, keepdim=True)
    return y.float()


def embed_2d(features: Tensor, method: str = "pca", **kwargs: Any) -> Tensor:
    """2-D coordinates (N, 2) by ``"pca"`` or ``"tsne"`` (keyword arguments go to :func:`tsne`)."""
    if method == "pca":
        return pca(features, 2)
    if method == "tsne":
        return tsne(features, 2, **kwargs)
    raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}.")


@torch.no_grad()
def embedding_geometry(encoder: torch.nn.Module, views1: Tensor, views2: Tensor) -> dict[str, float]:
    """Alignment of positive pairs ``(views1[i], views2[i])``, uniformity and collapse of ``views1``.

    Args:
        encoder: maps normalised float views (N, 3, S, S) to features (N, D).
        views1, views2: two augmented views of the same N ≥ 2 images, float (N, 3, S, S), finite,
            one shape; any float dtype (cast to the encoder's parameters' dtype).
    """
    check_module(encoder, "encoder")
    check_image_batch(views1, "views1", finite=True)
    check_image_batch(views2, "views2", finite=True)
    check_same_shape(views1, views2, "views1", "views2")
    param = next(encoder.parameters(), None)
    device = module_device(encoder)
    dtype = param.dtype if param is not None else torch.float32
    was_training = encoder.training
    encoder.eval()
    try:
        z1 = encoder(views1.to(device, dtype)).float()
        z2 = encoder(views2.to(device, dtype)).float()
    finally:
        encoder.train(was_training)
    return {
        "alignment": float(alignment(z1, z2)),
        "uniformity": float(uniformity(z1)),
        "collapse_ratio": collapse_std(z1)["ratio"],
    }


def geometry_over_training(trainer: Any, images: Tensor, *, seed: int = 0) -> list[dict[str, float]]:
    """Run ``trainer`` epoch by epoch and measure the geometry of its backbone's features after each.

    Args:
        trainer: a :class:`~cssl_edu.train.Trainer` not yet (or partly) trained.
        images: uint8 (N, 3, H, W) held-out images; two views of each are drawn once with the
            trainer's own augmentation and ``seed``, and reused every epoch.

    Returns:
        rows ``{"epoch", "alignment", "uniformity", "collapse_ratio", "loss"}``; epoch 0 is before
        training (loss NaN).
    """
    check_image_batch(images, "images")
    if not isinstance(trainer, Trainer):
        raise ValueError(f"trainer must be a cssl_edu.train.Trainer, got {type(trainer).__name__}.")
    g = torch.Generator().manual_seed(int(seed))
    images = images.to(trainer.device)
    v1, v2 = trainer.augment(images, generator=g), trainer.augment(images, generator=g)
    rows = [{"epoch": 0, **embedding_geometry(trainer.method.backbone, v1, v2), "loss": float("nan")}]
    total_epochs = trainer.cfg.epochs
    for epoch in range(trainer.step // trainer.steps_per_epoch + 1, total_epochs + 1):
        trainer.fit(max_steps=epoch * trainer.steps_per_epoch)
        loss = trainer.history.step_loss[-trainer.steps_per_epoch :]
        rows.append(
            {
                "epoch": epoch,
                **embedding_geometry(trainer.method.backbone, v1, v2),
                "loss": sum(loss) / len(loss),
            }
        )
    return rows

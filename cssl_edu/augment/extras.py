"""Optional ops for the course's composition study (all off by default): Gaussian noise and cutout.

Batched, per-sample and device-agnostic, like the rest of :mod:`cssl_edu.augment`.
"""

from __future__ import annotations

import torch
from torch import Tensor


def add_gaussian_noise_(images: Tensor, index: Tensor, noise: Tensor, sigma: float) -> Tensor:
    """In place, for the samples listed in ``index``: ``x <- clamp(x + sigma * n, 0, 1)``.

    Args:
        images: float (B, C, H, W) in [0, 1].
        index: int64 (K,) samples that get noise.
        noise: standard normal (K, C, H, W) draws, one per listed sample.
        sigma: noise standard deviation in [0, 1] pixel units.
    """
    if index.numel():
        noise = noise.to(device=images.device, dtype=images.dtype, non_blocking=True)
        images[index] = images[index].add_(noise, alpha=sigma).clamp_(0.0, 1.0)
    return images


def cutout_mask(centers: Tensor, size: int, side: int) -> Tensor:
    """Boolean masks (B, side, side) of a ``size x size`` square per sample, clipped at the borders.

    The square covers rows ``[cy - size // 2, cy - size // 2 + size)`` and likewise columns, with
    ``(cy, cx) = centers[b]`` integer pixel positions (uniform over the image in the recipe, so
    the square may stick out of it, as in DeVries & Taylor's cutout).

    Args:
        centers: int64 (B, 2) of ``(cy, cx)``.
        size: square side in pixels.
        side: image side ``S``.
    """
    start = centers - size // 2  # (B, 2)
    pos = torch.arange(side, device=centers.device)
    inside = (pos >= start.unsqueeze(-1)) & (pos < (start + size).unsqueeze(-1))  # (B, 2, S)
    return inside[:, 0, :, None] & inside[:, 1, None, :]


def cutout_(images: Tensor, apply: Tensor, centers: Tensor, size: int) -> Tensor:
    """In place: set the cutout square of every sample with ``apply`` (bool (B,)) to 0 in all channels.

    Applied after normalisation, 0 is the dataset's mean colour. images (B, C, S, S).
    """
    mask = cutout_mask(centers.to(images.device, non_blocking=True), size, images.shape[-1])
    mask &= apply.to(images.device, non_blocking=True).view(-1, 1, 1)
    return images.masked_fill_(mask.unsqueeze(1), 0.0)

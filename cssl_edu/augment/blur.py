"""Batched Gaussian blur with a per-sample sigma: one depthwise separable convolution for the batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def gaussian_kernels(sigma: Tensor, kernel_size: int) -> Tensor:
    """1-D Gaussian kernels, one per sample: ``w_i = exp(-(i - c)^2 / (2 sigma^2)) / Z``, ``c = (k - 1) / 2``.

    Args:
        sigma: float (B,) standard deviations in pixels (> 0).
        kernel_size: odd ``k``.

    Returns:
        float (B, k), each row summing to 1, on ``sigma.device``.
    """
    offsets = torch.arange(kernel_size, device=sigma.device, dtype=sigma.dtype) - (kernel_size - 1) / 2
    logits = -(offsets.square().unsqueeze(0)) / (2.0 * sigma.square().unsqueeze(1))
    return torch.softmax(logits, dim=1)


def gaussian_blur(images: Tensor, sigma: Tensor, kernel_size: int) -> Tensor:
    """Blur each image with its own isotropic Gaussian ``k x k`` kernel (``k`` odd), reflect-padded.

    The 2-D kernel ``w w^T`` is separable, so the image is padded by ``k // 2`` on every side
    (reflection, as torchvision's ``gaussian_blur``), filtered along rows, then along columns.
    Per-sample kernels are realised as a grouped convolution over ``B * C`` groups (the batch is
    folded into channels), so the whole batch is two ``conv2d`` calls.

    Args:
        images: float (B, C, H, W), with ``k // 2 < min(H, W)``.
        sigma: float (B,) standard deviations in pixels.
        kernel_size: odd ``k``.

    Returns:
        float (B, C, H, W); a constant image stays constant (the kernels sum to 1).
    """
    b, c, h, w = images.shape
    if b == 0:
        return images
    pad = kernel_size // 2
    weight = gaussian_kernels(
        sigma.to(device=images.device, dtype=images.dtype, non_blocking=True), kernel_size
    )
    weight = weight.repeat_interleave(c, dim=0)  # (B*C, k): channel j of sample i uses row i
    x = F.pad(images, (pad, pad, pad, pad), mode="reflect").reshape(1, b * c, h + 2 * pad, w + 2 * pad)
    x = F.conv2d(x, weight.view(b * c, 1, 1, kernel_size), groups=b * c)
    x = F.conv2d(x, weight.view(b * c, 1, kernel_size, 1), groups=b * c)
    return x.view(b, c, h, w)

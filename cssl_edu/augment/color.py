"""Batched colour ops with per-sample factors: grayscale, the four jitter ops, and staged ColorJitter.

Images are float tensors ``(B, 3, H, W)`` with values in [0, 1]; factors are ``(B,)`` tensors.
Every op follows the definition torchvision uses for float images (the tests compare them),
applied to each sample with its own factor by broadcasting, never with a Python loop.

Definitions, with ``gray(x) = 0.2989 R + 0.587 G + 0.114 B`` (ITU-R 601-2 luma, torchvision's
constants) and ``clamp`` to [0, 1]:

- brightness ``b``: ``clamp(b * x)``
- contrast ``c``:   ``clamp(c * x + (1 - c) * mean(gray(x)))`` (mean over the whole image)
- saturation ``s``: ``clamp(s * x + (1 - s) * gray(x))``
- hue ``h``: rotate the hue of every pixel by ``h`` turns in HSV space (S and V unchanged)
"""

from __future__ import annotations

import torch
from torch import Tensor

LUMA = (0.2989, 0.587, 0.114)
"""Grayscale weights for (R, G, B), the ones ``torchvision``'s ``rgb_to_grayscale`` uses."""

BRIGHTNESS, CONTRAST, SATURATION, HUE = 0, 1, 2, 3
"""Op ids in a jitter order, numbered as in ``torchvision``'s ``ColorJitter``."""


def _col(v: Tensor, like: Tensor) -> Tensor:
    """A per-sample (B,) tensor as (B, 1, 1, 1), on ``like``'s device and dtype, for broadcasting."""
    return v.to(device=like.device, dtype=like.dtype, non_blocking=True).view(-1, 1, 1, 1)


def rgb_to_grayscale(images: Tensor) -> Tensor:
    """Luma ``0.2989 R + 0.587 G + 0.114 B`` of a (B, 3, H, W) batch, as (B, 1, H, W)."""
    r, g, b = images.unbind(dim=-3)
    return (r * LUMA[0]).add_(g, alpha=LUMA[1]).add_(b, alpha=LUMA[2]).unsqueeze(-3)


def adjust_brightness(images: Tensor, factor: Tensor) -> Tensor:
    """``clamp(b * x, 0, 1)`` per sample. images (B, 3, H, W), factor (B,) -> (B, 3, H, W)."""
    return (images * _col(factor, images)).clamp_(0.0, 1.0)


def adjust_contrast(images: Tensor, factor: Tensor) -> Tensor:
    """``clamp(c * x + (1 - c) * m, 0, 1)``, ``m`` the image's mean luma. (B, 3, H, W), (B,) -> (B, 3, H, W)."""
    c = _col(factor, images)
    mean = rgb_to_grayscale(images).mean(dim=(-3, -2, -1), keepdim=True)
    return (images * c).add_(mean * (1.0 - c)).clamp_(0.0, 1.0)


def adjust_saturation(images: Tensor, factor: Tensor) -> Tensor:
    """``clamp(s * x + (1 - s) * gray(x), 0, 1)`` per sample. (B, 3, H, W), (B,) -> (B, 3, H, W)."""
    s = _col(factor, images)
    return (images * s).add_(rgb_to_grayscale(images) * (1.0 - s)).clamp_(0.0, 1.0)


def _hue6_and_chroma(images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """HSV pieces of a (B, 3, H, W) batch: hue in sextants (in [-1, 5)), chroma ``d = max - min`` and ``max``.

    hue = ``(G - B) / d`` where R is the largest channel, ``(B - R) / d + 2`` where G is,
    ``(R - G) / d + 4`` where B is (ties resolved R, then G, as torchvision does), and 0 where
    ``d = 0`` (gray pixels have no hue; the numerator is 0 there too, so dividing by
    ``max(d, tiny)`` gives it). The three cases are blended with 0/1 masks ``m_R``, ``m_G``
    (arithmetic is cheaper than ``torch.where`` on the CPU). Shapes (B, 1, H, W) each.
    """
    r, g, b = images.split(1, dim=-3)
    maxc = images.amax(dim=-3, keepdim=True)
    chroma = maxc - images.amin(dim=-3, keepdim=True)
    m_r = (r == maxc).to(images.dtype)
    m_g = (g == maxc).to(images.dtype).mul_(1.0 - m_r)  # G is a max and R is not
    r_g = r - g
    # num = (1 - m_R - m_G) (R - G) + m_R (G - B) + m_G (B - R);  sextant = 4 (1 - m_R) - 2 m_G
    num = (g - b - r_g).mul_(m_r).add_(r_g).addcmul_(b - r - r_g, m_g)
    sextant = (1.0 - m_r).mul_(4.0).sub_(m_g, alpha=2.0)
    return num.div_(chroma.clamp(min=1e-12)).add_(sextant), chroma, maxc


def rgb_to_hsv(images: Tensor) -> Tensor:
    """RGB (B, 3, H, W) in [0, 1] to HSV (B, 3, H, W): hue in [0, 1) turns, ``S = d / V``, ``V = max``."""
    hue6, chroma, maxc = _hue6_and_chroma(images)
    hue = torch.remainder(hue6, 6.0) / 6.0
    sat = chroma / torch.where(maxc > 0, maxc, torch.ones_like(maxc))
    return torch.cat((hue, sat, maxc), dim=-3)


def _hsv_pieces_to_rgb(hue6: Tensor, chroma: Tensor, value: Tensor) -> Tensor:
    """Closed-form HSV -> RGB: channel ``n`` in (5, 3, 1) for (R, G, B) is ``V - C * clamp(min(k, 4 - k), 0, 1)``.

    ``k = (n + hue6) mod 6``, ``C = V * S`` the chroma. Inputs (B, 1, H, W), output (B, 3, H, W).
    """
    n = torch.tensor([5.0, 3.0, 1.0], device=hue6.device, dtype=hue6.dtype).view(1, 3, 1, 1)
    k = torch.add(hue6, n).remainder_(6.0)
    ramp = torch.minimum(k, 4.0 - k, out=k).clamp_(0.0, 1.0)  # min(k, 4 - k, 1), floored at 0
    return ramp.mul_(chroma).neg_().add_(value)


def hsv_to_rgb(hsv: Tensor) -> Tensor:
    """HSV (B, 3, H, W) (hue in turns) back to RGB (B, 3, H, W); the inverse of :func:`rgb_to_hsv`."""
    h, s, v = hsv.split(1, dim=-3)
    return _hsv_pieces_to_rgb(h * 6.0, s * v, v)


def adjust_hue(images: Tensor, factor: Tensor) -> Tensor:
    """Shift every pixel's hue by ``h`` turns (``h`` in [-0.5, 0.5]) per sample, keeping S and V.

    Computed without materialising S: ``V * S`` is the chroma ``max - min``, so only the hue needs a
    division. (B, 3, H, W), (B,) -> (B, 3, H, W).
    """
    hue6, chroma, maxc = _hue6_and_chroma(images)
    return _hsv_pieces_to_rgb(hue6.add_(_col(factor, images), alpha=6.0), chroma, maxc)


def color_jitter(images: Tensor, factors: Tensor, order: Tensor, apply: Tensor) -> Tensor:
    """torchvision's ColorJitter with each sample's own factors and its own random order of the four ops.

    The ops run in 4 stages. At stage ``k`` sample ``b`` gets op ``order[b, k]``. Brightness,
    contrast and saturation are all blends ``clamp(f * x + w_g * gray(x) + w_m * mean(gray(x)))``:
    brightness has ``w_g = w_m = 0``, contrast ``w_m = 1 - f``, saturation ``w_g = 1 - f``, so one
    broadcasted expression serves every sample in the stage (samples doing hue, or not jittered,
    get ``f = 1``, ``w = 0``: exactly the identity). The hue op then runs on the index subset of
    samples whose stage-``k`` op is hue.

    Args:
        images: float (B, 3, H, W) in [0, 1]; modified in place and returned.
        factors: float (B, 4): brightness, contrast, saturation factors and hue shift.
        order: int64 (B, 4): a permutation of (0, 1, 2, 3) per sample (0 brightness, 1 contrast,
            2 saturation, 3 hue).
        apply: bool (B,): which samples are jittered at all.

    Returns:
        ``images``, jittered.
    """
    dev = images.device
    # Per-stage coefficients and hue subsets are computed where the parameters live (usually the
    # CPU: no device sync, few kernel launches) and moved once.
    op = order  # (B, 4): op of each stage
    blend = apply.unsqueeze(1) & (op != HUE)
    f = torch.where(blend, factors.gather(1, op.clamp(max=SATURATION)), 1.0)
    w_gray = torch.where(blend & (op == SATURATION), 1.0 - f, 0.0)
    w_mean = torch.where(blend & (op == CONTRAST), 1.0 - f, 0.0)
    coef = torch.stack((f, w_gray, w_mean)).to(device=dev, dtype=images.dtype, non_blocking=True)
    coef = coef.view(3, -1, 4, 1, 1, 1)  # (3, B, 4, 1, 1, 1): [f, w_g, w_m][:, b, stage]
    is_hue = apply.unsqueeze(1) & (op == HUE)
    hue_subsets = [is_hue[:, k].nonzero().squeeze(1).to(dev, non_blocking=True) for k in range(4)]
    hue_factor = factors[:, HUE].to(device=dev, dtype=images.dtype, non_blocking=True)

    offset = torch.empty_like(images[:, :1])  # (B, 1, H, W) work buffer, reused by every stage
    for k, idx in enumerate(hue_subsets):
        torch.mul(images[:, 0:1], LUMA[0], out=offset)
        offset.add_(images[:, 1:2], alpha=LUMA[1]).add_(images[:, 2:3], alpha=LUMA[2])  # gray(x)
        mean = offset.mean(dim=(-3, -2, -1), keepdim=True)
        offset.mul_(coef[1, :, k]).add_(mean.mul_(coef[2, :, k]))  # w_g * gray(x) + w_m * mean(gray(x))
        torch.addcmul(offset, images, coef[0, :, k], out=images).clamp_(0.0, 1.0)
        if idx.numel():
            images[idx] = adjust_hue(images[idx], hue_factor[idx])
    return images


def random_grayscale_(images: Tensor, index: Tensor) -> Tensor:
    """Replace, in place, the samples listed in ``index`` (int64 (K,)) by their luma on all 3 channels."""
    if index.numel():
        images[index] = rgb_to_grayscale(images[index]).expand(-1, 3, -1, -1)
    return images

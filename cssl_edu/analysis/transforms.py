"""A deterministic family of image transformations at a chosen strength, for whole batches.

Invariance is measured by comparing ``h(x)`` with ``h(t_s(x))`` for a transformation ``t`` at
strength ``s`` in [0, 1]; ``s = 0`` is always the identity and ``s = 1`` the strongest setting.
Every transformation is a pure function of ``(images, strength, seed)``: where it needs a
direction or a position (which way to rotate, where to occlude), each image draws its own from a
``torch.Generator`` seeded with ``seed``, so two calls give the same pixels.

=============  ===================================================================================
name           what strength ``s`` does (S = image side)
=============  ===================================================================================
crop           zoom in: keep a square window of side ``(1 - s/2) S`` at a random position, resize
               it back to ``S`` (area kept ``(1 - s/2)^2``, 1/4 at ``s = 1``)
occlusion      paint a square covering a fraction ``s/2`` of the image, at a random position, in the
               image's mean colour
scale          zoom out: shrink the picture about its centre by ``1 - s/2``, edge pixels extend
rotation       rotate about the centre by ``s * 180`` degrees, clockwise or counter-clockwise
               (the stand-in for a change of viewpoint)
translation    shift by ``s * S / 4`` pixels in a random direction, edge pixels extend
color          rotate every pixel's hue by ``s / 2`` turns (either way); saturation and value kept
grayscale      desaturate: ``x <- (1 - s) x + s gray(x)``
blur           Gaussian blur with standard deviation ``2.5 s`` pixels
=============  ===================================================================================

The geometric ones resample with one batched ``grid_sample`` (bilinear, ``padding_mode="border"``)
whose per-image affine map sends an output pixel at normalised position ``p`` in ``[-1, 1]^2`` to
the source position ``A p + b``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from cssl_edu._validation import check_image_batch
from cssl_edu.augment.batched import to_unit_float
from cssl_edu.augment.blur import gaussian_blur
from cssl_edu.augment.color import adjust_hue, adjust_saturation

#: the transformation names :func:`apply_transform` knows, in a display order
TRANSFORMS: tuple[str, ...] = (
    "crop",
    "occlusion",
    "scale",
    "rotation",
    "translation",
    "color",
    "grayscale",
    "blur",
)
#: Gaussian blur standard deviation (pixels) at strength 1
MAX_BLUR_SIGMA = 2.5


def _affine(images: Tensor, mat: Tensor, bias: Tensor) -> Tensor:
    """Resample each image at source positions ``mat[i] @ p + bias[i]``; mat (B, 2, 2), bias (B, 2)."""
    theta = torch.cat([mat, bias.unsqueeze(-1)], dim=2).to(images)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _signs(b: int, g: torch.Generator) -> Tensor:
    return torch.where(torch.rand(b, generator=g) < 0.5, -1.0, 1.0)


def check_strength(strength: float) -> float:
    """Return ``strength`` as a float, or raise ``ValueError`` unless it lies in [0, 1]."""
    try:
        s = float(strength)
    except (TypeError, ValueError):
        raise ValueError(f"strength must be a number in [0, 1], got {strength!r}.") from None
    if not 0.0 <= s <= 1.0:  # also rejects NaN
        raise ValueError(
            f"strength must lie in [0, 1] (0 = identity, 1 = the strongest setting), got {strength!r}."
        )
    return s


def apply_transform(images: Tensor, name: str, strength: float, *, seed: int = 0) -> Tensor:
    """Apply transformation ``name`` at ``strength`` to every image of a batch (see the module table).

    Args:
        images: uint8 (B, 3, H, W) in [0, 255] or float (B, 3, H, W) in [0, 1]; square images for
            the geometric transformations.
        name: one of :data:`TRANSFORMS`.
        strength: ``s`` in [0, 1]; 0 returns the images unchanged (as float).
        seed: seeds the per-image directions and positions.

    Returns:
        float32 (B, 3, H, W) in [0, 1] on ``images.device``.
    """
    check_image_batch(images, "images", finite=True)
    if name not in TRANSFORMS:
        raise ValueError(f"unknown transformation {name!r}; choose one of {', '.join(TRANSFORMS)}.")
    s = check_strength(strength)
    x = to_unit_float(images)
    if s == 0.0:
        return x
    b, _, h, w = x.shape
    if name in ("crop", "scale", "rotation", "translation") and h != w:
        raise ValueError(f"geometric transformations need square images, got {h}x{w}; resize them first.")
    g = torch.Generator().manual_seed(int(seed))
    eye = torch.eye(2).expand(b, 2, 2)
    zero = torch.zeros(b, 2)
    if name == "crop":
        keep = 1.0 - 0.5 * s  # window half-side in normalised units; its centre may move by 1 - keep
        offset = (2.0 * torch.rand(b, 2, generator=g) - 1.0) * (1.0 - keep)
        return _affine(x, eye * keep, offset)
    if name == "scale":
        return _affine(x, eye / (1.0 - 0.5 * s), zero)
    if name == "rotation":
        theta = _signs(b, g) * math.pi * s
        cos, sin = torch.cos(theta), torch.sin(theta)
        mat = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
        return _affine(x, mat, zero)
    if name == "translation":
        phi = 2.0 * math.pi * torch.rand(b, generator=g)
        shift = 0.5 * s * torch.stack([torch.cos(phi), torch.sin(phi)], 1)  # S/4 px = 0.5 normalised
        return _affine(x, eye, -shift)  # the content moves by +shift
    if name == "occlusion":
        side = max(1, round(math.sqrt(0.5 * s) * h)), max(1, round(math.sqrt(0.5 * s) * w))
        top = (torch.rand(b, generator=g) * (h - side[0] + 1)).floor().long().to(x.device)
        left = (torch.rand(b, generator=g) * (w - side[1] + 1)).floor().long().to(x.device)
        rows = torch.arange(h, device=x.device)
        cols = torch.arange(w, device=x.device)
        inside_r = (rows >= top[:, None]) & (rows < top[:, None] + side[0])  # (B, H)
        inside_c = (cols >= left[:, None]) & (cols < left[:, None] + side[1])  # (B, W)
        mask = (inside_r[:, :, None] & inside_c[:, None, :]).unsqueeze(1)  # (B, 1, H, W)
        return torch.where(mask, x.mean(dim=(2, 3), keepdim=True), x)
    if name == "color":
        return adjust_hue(x, (_signs(b, g) * 0.5 * s).to(x.device)).clamp_(0.0, 1.0)
    if name == "grayscale":
        return adjust_saturation(x, torch.full((b,), 1.0 - s, device=x.device))
    # blur: a kernel of +-3 sigma, odd, kept smaller than the image (reflection padding needs it)
    sigma = MAX_BLUR_SIGMA * s
    k = min(2 * math.ceil(3 * sigma) + 1, 2 * ((min(h, w) - 1) // 2) - 1)
    if k < 3:
        return x
    return gaussian_blur(x, torch.full((b,), sigma, device=x.device), k)

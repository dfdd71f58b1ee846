"""Batched geometric ops with per-sample parameters: crop boxes, resized crop + flip, resize, rotation.

Every function takes a whole batch ``(B, C, H, W)`` and a per-sample parameter tensor; none
loops over samples in Python, and all of them run on whatever device the images are on.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def sample_crop_boxes(
    u_scale: Tensor,
    u_ratio: Tensor,
    u_offset: Tensor,
    height: int,
    width: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
) -> Tensor:
    """Turn uniforms into RandomResizedCrop boxes with torchvision's sampling rule, for all samples at once.

    For each sample and each of up to ``A`` attempts (``A = u_scale.shape[1]``, 10 in torchvision),
    with ``U`` the given uniforms in [0, 1):

    - target area ``a = H * W * (s0 + (s1 - s0) * U)``,
    - aspect ratio ``r = exp(log r0 + (log r1 - log r0) * U)``,
    - ``w = round(sqrt(a * r))``, ``h = round(sqrt(a / r))`` (round half to even, as Python's ``round``).

    The first attempt with ``0 < w <= W`` and ``0 < h <= H`` wins, and the box's top-left corner is
    uniform over the integer positions that keep it inside the image: ``top = floor(U * (H - h + 1))``.
    A sample whose attempts all fail gets torchvision's fallback: the largest central box whose
    aspect ratio is clamped into ``[r0, r1]``.

    Args:
        u_scale, u_ratio: uniforms of shape (B, A).
        u_offset: uniforms of shape (B, 2) for the (top, left) position.
        height, width: input image size ``H, W``.
        scale: area-fraction range ``(s0, s1)``.
        ratio: aspect-ratio (width / height) range ``(r0, r1)``.

    Returns:
        int64 tensor (B, 4) of ``(top, left, height, width)`` in input pixels, on ``u_scale.device``.
    """
    area = float(height * width)
    u_scale = u_scale.double()
    u_ratio = u_ratio.double()
    target = area * (scale[0] + (scale[1] - scale[0]) * u_scale)
    lr0, lr1 = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(lr0 + (lr1 - lr0) * u_ratio)
    w = torch.round(torch.sqrt(target * aspect))
    h = torch.round(torch.sqrt(target / aspect))
    valid = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = valid.to(torch.uint8).argmax(dim=1, keepdim=True)  # index of the first valid attempt
    w = w.gather(1, first).squeeze(1)
    h = h.gather(1, first).squeeze(1)
    found = valid.any(dim=1)

    # torchvision's central fallback, one box shared by every sample that needs it
    in_ratio = width / height
    if in_ratio < min(ratio):
        fw, fh = width, round(width / min(ratio))
    elif in_ratio > max(ratio):
        fw, fh = round(height * max(ratio)), height
    else:
        fw, fh = width, height
    w = torch.where(found, w, torch.full_like(w, fw))
    h = torch.where(found, h, torch.full_like(h, fh))

    u_offset = u_offset.double()
    top = torch.floor(u_offset[:, 0] * (height - h + 1))
    left = torch.floor(u_offset[:, 1] * (width - w + 1))
    top = torch.where(found, top, torch.full_like(top, (height - fh) // 2))
    left = torch.where(found, left, torch.full_like(left, (width - fw) // 2))
    return torch.stack((top, left, h, w), dim=1).long()


def max_taps(length: Tensor, out_size: int) -> int:
    """Taps per output pixel that spans of these lengths need: ``ceil(2 * max(1, max(length) / S))``."""
    if length.numel() == 0:
        return 2
    return max(2, math.ceil(2.0 * float(length.max()) / out_size))


def resample_taps(
    start: Tensor, length: Tensor, in_size: int, out_size: int, taps: int | None = None
) -> tuple[Tensor, Tensor]:
    """Per-sample 1-D resampling taps of torchvision's antialiased bilinear resize of the span ``[start, start+length)``.

    Output pixel ``i`` of a span of ``L`` input pixels resized to ``S`` has its centre at input
    coordinate ``c_i = start + (i + 0.5) * L / S`` (half-pixel centres). With the scale
    ``r = L / S`` and support ``s = max(r, 1)``, input pixel ``j`` (centre ``j + 0.5``) of the
    span gets weight ``max(0, 1 - |j + 0.5 - c_i| / s)``, normalised to sum to 1 over the span.
    Upscaling (``r <= 1``) this is plain bilinear interpolation with the border pixel replicated;
    downscaling it is a tent filter ``r`` pixels wide (antialiasing), as ``F.interpolate(...,
    antialias=True)`` and PIL compute it. Pixels outside the span never contribute.

    Args:
        start, length: float (N,) span start and length in input pixels (integers in practice).
        in_size: input side (indices are clamped into ``[0, in_size)``; clamped taps have weight 0).
        out_size: output side ``S``.
        taps: ``K``; by default :func:`max_taps` (pass it when ``length`` is on a GPU, to spare a sync).

    Returns:
        ``(index, weight)``: int64 (N, S, K) input pixel indices and float64 (N, S, K) weights,
        ``K = ceil(2 * max(s))`` taps per output pixel (2 when upscaling); extra taps get weight 0.
    """
    start = start.double()
    length = length.double()
    scale = length / out_size
    support = scale.clamp(min=1.0)
    k = max_taps(length, out_size) if taps is None else taps
    centre = start[:, None] + scale[:, None] * (
        torch.arange(out_size, dtype=start.dtype, device=start.device) + 0.5
    )
    first = torch.floor(centre - support[:, None] - 0.5) + 1.0  # leftmost pixel with a nonzero weight
    j = first.unsqueeze(-1) + torch.arange(k, dtype=start.dtype, device=start.device)  # (N, S, K)
    weight = (1.0 - (j + 0.5 - centre.unsqueeze(-1)).abs() / support[:, None, None]).clamp_(min=0.0)
    weight *= (j >= start[:, None, None]) & (j < (start + length)[:, None, None])
    weight /= weight.sum(dim=-1, keepdim=True)
    return j.clamp_(0, in_size - 1).long(), weight


def crop_resize_flip(images: Tensor, boxes: Tensor, size: int, flip: Tensor | None = None) -> Tensor:
    """Crop each image to its own box, resize it to ``size x size`` and mirror the flagged ones, in one go.

    Equal (up to float rounding) to torchvision's ``resized_crop(img, top, left, h, w, [S, S],
    antialias=True)`` followed by ``hflip`` where ``flip`` is set, per sample, with the taps of
    :func:`resample_taps`. The resize is separable, ``y = W_row x W_col^T`` per sample and
    channel, and each row of ``W`` has only ``K`` nonzero taps (2 when upscaling), so instead of
    dense matrix products it gathers, for each tap, the tapped input rows of the whole batch at
    once (one ``index_select`` on the uint8 input: only the rows used are ever converted to
    float), blends them with their weights, then does the same along columns (``gather``).
    A flip is free: it reverses the order of the column taps. A uint8 input's ``1/255`` is
    folded into the row weights.

    Args:
        images: uint8 (0-255) or float (0-1) (B, C, H, W).
        boxes: int (B, 4) of ``(top, left, height, width)`` in pixels.
        size: output side ``S``.
        flip: optional bool (B,): mirror these samples left-right.

    Returns:
        float32 (B, C, S, S) in [0, 1], contiguous, on ``images.device``.
    """
    if images.is_floating_point() and images.dtype != torch.float32:
        images = images.float()
    b, c, h, w = images.shape
    dev = images.device
    ky, kx = max_taps(boxes[:, 2], size), max_taps(boxes[:, 3], size)  # before the boxes leave the CPU
    boxes = boxes.to(dev, non_blocking=True)
    row_idx, row_w = resample_taps(boxes[:, 0], boxes[:, 2], h, size, ky)  # (B, S, Ky)
    col_idx, col_w = resample_taps(boxes[:, 1], boxes[:, 3], w, size, kx)  # (B, S, Kx)
    if flip is not None:
        flip = flip.to(dev, non_blocking=True).view(-1, 1, 1)
        col_idx = torch.where(flip, col_idx.flip(1), col_idx)
        col_w = torch.where(flip, col_w.flip(1), col_w)
    if images.dtype == torch.uint8:
        row_w = row_w / 255.0
    row_w = row_w.float()
    col_w = col_w.float()

    # rows: in the (B*C*H, W) view, tap t of output row i of (b, c) is row (b*C + c)*H + row_idx[b, i, t]
    rows = images.reshape(b * c * h, w)
    plane = (h * torch.arange(b * c, device=dev)).view(b, c, 1)
    mid = torch.empty(0)
    for t in range(row_idx.shape[-1]):
        tapped = rows.index_select(0, (row_idx[:, None, :, t] + plane).view(-1)).view(b, c, size, w)
        tapped = tapped.to(torch.float32)  # a plain cast: mixed uint8 * float arithmetic is far slower
        weight = row_w[:, None, :, t, None]  # (B, 1, S, 1)
        mid = tapped.mul_(weight) if t == 0 else mid.addcmul_(tapped, weight)

    # columns: gather tap t of every output column from the last dim
    out = torch.empty(0)
    for t in range(col_idx.shape[-1]):
        tapped = mid.gather(3, col_idx[:, None, None, :, t].expand(b, c, size, size))
        weight = col_w[:, None, None, :, t]  # (B, 1, 1, S)
        out = tapped.mul_(weight) if t == 0 else out.addcmul_(tapped, weight)
    return out


def resize(images: Tensor, size: int) -> Tensor:
    """Resize a float batch (B, C, H, W) to (B, C, S, S): bilinear, half-pixel centres, antialiased.

    The kernel of ``torchvision.transforms.v2.Resize(antialias=True)`` on float tensors; returns
    the input itself when it already has side ``S``.
    """
    if images.shape[-2:] == (size, size):
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def rotate(images: Tensor, degrees: Tensor) -> Tensor:
    """Rotate each image about its centre, counter-clockwise by its own angle (degrees), bilinear, zero fill.

    For an output pixel at normalised coordinates ``p = (x, y)`` in [-1, 1]^2 (``y`` pointing down),
    the source is ``R p`` with ``R = [[cos t, -sin t], [sin t, cos t]]``, ``t`` the angle in radians:
    with ``y`` pointing down this turns the picture counter-clockwise on screen, like
    ``torchvision``'s ``rotate``.
    Pixels whose source falls outside the image become 0 (black).

    Args:
        images: float (B, C, S, S) (square, so normalised coordinates are isotropic).
        degrees: float (B,) angles.

    Returns:
        float (B, C, S, S).
    """
    theta = torch.deg2rad(degrees.to(device=images.device, dtype=images.dtype, non_blocking=True))
    cos, sin = torch.cos(theta), torch.sin(theta)
    zero = torch.zeros_like(cos)
    mat = torch.stack((torch.stack((cos, -sin, zero), 1), torch.stack((sin, cos, zero), 1)), 1)
    grid = F.affine_grid(mat, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

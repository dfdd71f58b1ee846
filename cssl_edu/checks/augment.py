"""Self-check for an augmentation pipeline: what a SimCLR view generator must do, whatever its draws."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from cssl_edu.checks import bugs as B
from cssl_edu.checks._core import CheckFailed, call_learner, fail, one_thread, passed


def _images(b: int, size: int, seed: int) -> Tensor:
    """(b, 3, size, size) uint8 images: smooth colour gradients plus noise and a bright square."""
    g = torch.Generator().manual_seed(seed)
    ramp = torch.linspace(0, 1, size)
    base = torch.rand(b, 3, 1, 1, generator=g) * ramp.view(1, 1, 1, -1) + torch.rand(
        b, 3, 1, 1, generator=g
    ) * ramp.view(1, 1, -1, 1)
    img = 0.5 * base + 0.3 * torch.rand(b, 3, size, size, generator=g)
    img[:, :, size // 4 : size // 2, size // 8 : size // 2] = 1.0
    return (img.clamp(0, 1) * 255).round().to(torch.uint8)


@one_thread
def check_augment(fn: Callable[[Tensor], Any], image_size: int = 32) -> None:
    """Check an augmentation ``fn(images uint8 (B, 3, H, W)) -> views float (B, 3, S, S)``, S = ``image_size``.

    Augmentations are random, so the check tests properties rather than values: the output's
    shape and dtype; the input left untouched; pixels scaled from 0-255 and normalised with a
    mean and std (values below 0); fresh randomness on every call; and every image drawing its
    own parameters (a batch of identical images gives different views). The package's
    :class:`~cssl_edu.augment.SimCLRAugment` passes.
    """
    check = "check_augment"
    bugs = B.BUGS["augment"]
    x = _images(8, 32, seed=51)
    x_before = x.clone()
    name = "8 images of 32x32"
    out = call_learner(check, None, lambda: fn(x))
    if not isinstance(out, Tensor) or not out.is_floating_point():
        got = f"dtype {out.dtype}" if isinstance(out, Tensor) else type(out).__name__
        raise CheckFailed(
            f"{check}: ✗ on {name} the result is {got}, expected a float tensor "
            "(convert with x.float() / 255 before the colour operations).",
            check=check,
        )
    want = (8, 3, image_size, image_size)
    if tuple(out.shape) != want:
        raise CheckFailed(
            f"{check}: ✗ on {name} the result has shape {tuple(out.shape)}, expected {want} "
            f"(B, 3, S, S) with S = image_size = {image_size}.",
            check=check,
        )
    if not torch.equal(x, x_before):
        raise fail(check, bugs["modifies_input"], f"on {name} the input images changed during the call.")
    if not bool(torch.isfinite(out).all()):
        raise CheckFailed(f"{check}: ✗ on {name} the views contain NaN or inf.", check=check)
    hi, lo = float(out.max()), float(out.min())
    if hi > 50:
        raise fail(
            check,
            bugs["not_scaled"],
            f"on {name} the views reach {hi:.1f}; normalised views stay within about ±3.",
        )
    at_max = (out == out.amax(dim=(0, 2, 3), keepdim=True)).float().mean()
    if at_max > 0.5:
        raise fail(
            check,
            bugs["not_scaled"],
            f"on {name} {100 * float(at_max):.0f} % of the values sit at the "
            "maximum: the images saturate to white (0-255 pixels clamped as if in [0, 1]).",
        )
    if lo >= -1e-6 and hi <= 1 + 1e-6:
        raise fail(
            check, bugs["not_normalised"], f"on {name} every value is in [0, 1] (min {lo:.3f}, max {hi:.3f})."
        )
    out2 = call_learner(check, None, lambda: fn(x))
    if isinstance(out2, Tensor) and out2.shape == out.shape and torch.equal(out2, out):
        raise fail(check, bugs["deterministic"], f"on {name} two calls returned identical views.")
    same = x[:1].repeat(8, 1, 1, 1)
    out3 = call_learner(check, None, lambda: fn(same))
    if isinstance(out3, Tensor) and out3.shape == out.shape and bool((out3 == out3[:1]).all()):
        raise fail(
            check,
            bugs["same_params_for_batch"],
            "on a batch of 8 copies of one image all 8 views are identical.",
        )
    passed(check, 7)

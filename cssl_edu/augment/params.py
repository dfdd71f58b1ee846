"""Draw every per-sample random parameter of the SimCLR recipe for a batch, in one place.

All draws come from one ``torch.Generator`` (or torch's default CPU generator) in a fixed order,
so the same seed gives the same parameters whatever the images are, and on CUDA the images
never wait on a random-number kernel: the parameters are small tensors drawn where the
generator lives (the CPU unless a CUDA generator is given) and moved once.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .config import AugmentConfig
from .geometry import sample_crop_boxes

CROP_ATTEMPTS = 10
"""Tries at a valid RandomResizedCrop box before the central fallback (torchvision's rule)."""


def _device_of(generator: torch.Generator | None) -> torch.device:
    return torch.device("cpu") if generator is None else generator.device


def sample_params(
    batch: int, height: int, width: int, cfg: AugmentConfig, generator: torch.Generator | None = None
) -> dict[str, Tensor]:
    """Per-sample parameters of :class:`~cssl_edu.augment.SimCLRAugment` for ``batch`` images of size (H, W).

    Every sample draws its own values; every value is drawn even when its op is switched off, so
    the random stream does not depend on the probabilities. Returned on the generator's device.

    Keys (B = ``batch``):

    - ``crop_box`` int64 (B, 4): ``(top, left, height, width)`` in input pixels (the whole image
      when ``cfg.crop`` is False).
    - ``flip`` bool (B,): mirrored left-right (probability ``flip_p``).
    - ``rotate`` bool (B,), ``angle`` float (B,): degrees ``~ U(-d, d)``, counter-clockwise.
    - ``jitter`` bool (B,): colour jitter applied (probability ``jitter_p``).
    - ``brightness``, ``contrast``, ``saturation`` float (B,): factors ``~ U(cfg.<op>)``;
      ``hue`` float (B,): shift in turns ``~ U(cfg.hue)``.
    - ``jitter_order`` int64 (B, 4): a uniform random permutation of (0 brightness, 1 contrast,
      2 saturation, 3 hue) per sample: the order the four jitter ops run in.
    - ``grayscale`` bool (B,).
    - ``blur`` bool (B,) (always False when ``cfg.blur`` is off), ``blur_sigma`` float (B,) ``~ U(0.1, 2.0)``.
    - ``noise`` bool (B,).
    - ``cutout`` bool (B,), ``cutout_center`` int64 (B, 2): ``(cy, cx)`` uniform over the output pixels.
    """
    dev = _device_of(generator)

    def rand(*shape: int) -> Tensor:
        return torch.rand(shape, generator=generator, device=dev)

    def coin(p: float) -> Tensor:
        return rand(batch) < p

    crop_u = rand(batch, 2 * CROP_ATTEMPTS + 2)
    if cfg.crop:
        box = sample_crop_boxes(
            crop_u[:, :CROP_ATTEMPTS],
            crop_u[:, CROP_ATTEMPTS : 2 * CROP_ATTEMPTS],
            crop_u[:, 2 * CROP_ATTEMPTS :],
            height,
            width,
            cfg.crop_scale,
            cfg.crop_ratio,
        )
    else:
        box = torch.tensor([0, 0, height, width], device=dev).expand(batch, 4).clone()
    out: dict[str, Tensor] = {"crop_box": box, "flip": coin(cfg.flip_p)}
    out["rotate"] = coin(cfg.rotation_p)
    out["angle"] = (2.0 * rand(batch) - 1.0) * cfg.rotation_degrees

    out["jitter"] = coin(cfg.jitter_p)
    u = rand(batch, 4)
    for j, (name, (lo, hi)) in enumerate(
        zip(
            ("brightness", "contrast", "saturation", "hue"),
            (cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue),
        )
    ):
        out[name] = lo + (hi - lo) * u[:, j]
    out["jitter_order"] = rand(batch, 4).argsort(dim=1)

    out["grayscale"] = coin(cfg.grayscale_p)
    out["blur"] = coin(cfg.blur_p) & cfg.blur
    lo, hi = cfg.blur_sigma
    out["blur_sigma"] = lo + (hi - lo) * rand(batch)
    out["noise"] = coin(cfg.noise_p)
    out["cutout"] = coin(cfg.cutout_p)
    out["cutout_center"] = (rand(batch, 2) * cfg.image_size).long().clamp_(max=cfg.image_size - 1)
    return out

"""The SimCLR recipe per image, as a ``torchvision.transforms.v2.Compose`` for DataLoader workers.

This is the reference implementation: plain torchvision transforms (plus two tiny ones for the
optional noise and cutout ops), drawing from torch's global RNG like any torchvision transform.
:class:`~cssl_edu.augment.SimCLRAugment` samples the same distribution for whole batches.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torchvision.transforms import v2

from .config import CIFAR10_MEAN, CIFAR10_STD, AugmentConfig


class CheckImage(nn.Module):
    """First step of the pipeline: raise ``ValueError`` unless the input is a uint8/float (3, H, W) tensor."""

    def forward(self, img: Tensor) -> Tensor:
        if not isinstance(img, Tensor):
            raise ValueError(
                f"simclr_transform expects a tensor image of shape (3, H, W), got {type(img).__name__}; "
                "convert PIL images with torchvision.transforms.v2.functional.pil_to_tensor first."
            )
        if img.dim() != 3 or img.shape[0] != 3:
            raise ValueError(
                f"simclr_transform expects one channels-first RGB image (3, H, W), got shape {tuple(img.shape)}; "
                "for batches use SimCLRAugment."
            )
        if not (img.dtype == torch.uint8 or img.is_floating_point()):
            raise ValueError(
                f"the image must be uint8 (0-255) or floating point (0-1), got dtype {img.dtype}."
            )
        return img


class RandomGaussianNoise(nn.Module):
    """With probability ``p``: ``x <- clamp(x + sigma * n, 0, 1)``, ``n ~ N(0, I)``; float (3, H, W) in [0, 1]."""

    def __init__(self, p: float, sigma: float) -> None:
        super().__init__()
        self.p, self.sigma = p, sigma

    def forward(self, img: Tensor) -> Tensor:
        if torch.rand(()) >= self.p:
            return img
        return (img + self.sigma * torch.randn_like(img)).clamp_(0.0, 1.0)


class RandomCutout(nn.Module):
    """With probability ``p``: zero a ``size x size`` square centred at a uniform pixel (clipped at the borders).

    Runs after normalisation, so 0 is the dataset's mean colour. float (C, S, S) -> (C, S, S).
    """

    def __init__(self, p: float, size: int) -> None:
        super().__init__()
        self.p, self.size = p, size

    def forward(self, img: Tensor) -> Tensor:
        if torch.rand(()) >= self.p:
            return img
        side_h, side_w = img.shape[-2:]
        cy, cx = (int(v) for v in (torch.rand(2) * torch.tensor([side_h, side_w])).long())
        y0, x0 = max(cy - self.size // 2, 0), max(cx - self.size // 2, 0)
        y1, x1 = cy - self.size // 2 + self.size, cx - self.size // 2 + self.size
        img = img.clone()
        img[..., y0:y1, x0:x1] = 0.0
        return img


def transform_from_config(cfg: AugmentConfig) -> v2.Compose:
    """Build the per-image pipeline for a validated :class:`AugmentConfig` (ops with probability 0 left out)."""
    size = (cfg.image_size, cfg.image_size)
    steps: list[nn.Module] = [CheckImage(), v2.ToDtype(torch.float32, scale=True)]
    if cfg.crop:
        steps.append(v2.RandomResizedCrop(size, scale=cfg.crop_scale, ratio=cfg.crop_ratio, antialias=True))
    else:
        steps.append(v2.Resize(size, antialias=True))
    if cfg.flip_p > 0:
        steps.append(v2.RandomHorizontalFlip(cfg.flip_p))
    if cfg.rotation_p > 0:
        rotation = v2.RandomRotation(cfg.rotation_degrees, interpolation=v2.InterpolationMode.BILINEAR)
        steps.append(v2.RandomApply([rotation], p=cfg.rotation_p))
    if cfg.jitter_p > 0:
        jitter = v2.ColorJitter(
            brightness=cfg.brightness, contrast=cfg.contrast, saturation=cfg.saturation, hue=cfg.hue
        )
        steps.append(v2.RandomApply([jitter], p=cfg.jitter_p))
    if cfg.grayscale_p > 0:
        steps.append(v2.RandomGrayscale(cfg.grayscale_p))
    if cfg.blur and cfg.blur_p > 0:
        steps.append(v2.RandomApply([v2.GaussianBlur(cfg.blur_kernel, sigma=cfg.blur_sigma)], p=cfg.blur_p))
    if cfg.noise_p > 0:
        steps.append(RandomGaussianNoise(cfg.noise_p, cfg.noise_sigma))
    steps.append(v2.Normalize(list(cfg.mean), list(cfg.std)))
    if cfg.cutout_p > 0:
        steps.append(RandomCutout(cfg.cutout_p, cfg.cutout_pixels))
    return v2.Compose(steps)


def simclr_transform(
    image_size: int = 32,
    *,
    strength: float = 1.0,
    crop: bool = True,
    crop_scale: tuple[float, float] | None = None,
    flip_p: float = 0.5,
    jitter_p: float = 0.8,
    grayscale_p: float = 0.2,
    blur: bool | None = None,
    blur_p: float = 0.5,
    rotation_p: float = 0.0,
    rotation_degrees: float = 30.0,
    cutout_p: float = 0.0,
    cutout_size: float = 0.5,
    noise_p: float = 0.0,
    noise_sigma: float = 0.05,
    mean: Sequence[float] = CIFAR10_MEAN,
    std: Sequence[float] = CIFAR10_STD,
) -> v2.Compose:
    """SimCLR's augmentation for one image: uint8 (3, H, W) (or float in [0, 1]) -> float32 (3, S, S) normalised.

    The image is converted to float32 in [0, 1] first (so no op rounds to uint8), then:

    1. ``RandomResizedCrop(S, scale=crop_scale, ratio=(3/4, 4/3))``: area fraction
       ``~ U(crop_scale)``, aspect ratio log-uniform, up to 10 attempts then a central crop;
       ``crop_scale`` is (0.2, 1) for ``image_size <= 32`` and (0.08, 1) above. ``crop=False``
       replaces it with a plain (antialiased) resize to ``S x S``.
    2. horizontal flip with probability ``flip_p`` (0.5).
    3. optional rotation, ``U(-rotation_degrees, rotation_degrees)``, with ``rotation_p`` (0).
    4. with probability ``jitter_p`` (0.8), ``ColorJitter(0.4 s, 0.4 s, 0.4 s, min(0.1 s, 0.5))``
       with ``s = strength``: brightness/contrast/saturation factors ``~ U(max(0, 1 - 0.4 s), 1 + 0.4 s)``,
       hue shift ``~ U(-0.1 s, 0.1 s)`` turns, the four ops in a random order. ``strength=1`` is
       ``s = 0.5`` in the SimCLR paper's notation (jitter ``0.8 s, 0.8 s, 0.8 s, 0.2 s``); the
       paper's ``s = 1`` is ``strength=2``.
    5. grayscale (luma ``0.2989 R + 0.587 G + 0.114 B`` on all channels) with ``grayscale_p`` (0.2).
    6. Gaussian blur with ``blur_p`` (0.5): kernel side about 10 % of ``S`` (odd, >= 3), sigma
       ``~ U(0.1, 2.0)``; ``blur=None`` turns it on only for ``image_size >= 64``.
    7. optional Gaussian noise ``clamp(x + noise_sigma * n, 0, 1)`` with ``noise_p`` (0).
    8. ``Normalize(mean, std)`` (per-channel, [0, 1] units; CIFAR-10's by default).
    9. optional cutout with ``cutout_p`` (0): a square of side ``cutout_size * S`` set to 0
       (the mean colour), centred at a uniform pixel.

    Randomness comes from torch's global RNG (seed DataLoader workers as usual).
    Bad arguments raise ``ValueError``.
    """
    cfg = AugmentConfig.create(
        image_size,
        strength=strength,
        crop=crop,
        crop_scale=crop_scale,
        flip_p=flip_p,
        jitter_p=jitter_p,
        grayscale_p=grayscale_p,
        blur=blur,
        blur_p=blur_p,
        rotation_p=rotation_p,
        rotation_degrees=rotation_degrees,
        cutout_p=cutout_p,
        cutout_size=cutout_size,
        noise_p=noise_p,
        noise_sigma=noise_sigma,
        mean=mean,
        std=std,
    )
    return transform_from_config(cfg)

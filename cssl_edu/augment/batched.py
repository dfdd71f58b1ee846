"""The SimCLR recipe for a whole batch on its device, every image with its own parameters.

``torchvision.transforms.v2`` applied to a batch tensor draws *one* set of parameters for the
whole batch (every image gets the same crop, the same jitter). :class:`SimCLRAugment` draws
per sample and applies each op to the whole batch at once: crop + resize + flip as two batched
gathers of interpolation taps, colour ops as broadcasted arithmetic with per-sample factors,
blur as one grouped convolution.
It samples the same distribution as :func:`~cssl_edu.augment.simclr_transform` (the tests
check this), at a fraction of the cost.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from cssl_edu._validation import check_image_batch

from .blur import gaussian_blur
from .color import color_jitter, random_grayscale_
from .config import CIFAR10_MEAN, CIFAR10_STD, AugmentConfig, check_image_size
from .extras import add_gaussian_noise_, cutout_
from .geometry import crop_resize_flip, resize, rotate
from .params import sample_params


def to_unit_float(x: Tensor) -> Tensor:
    """uint8 [0, 255] -> float32 [0, 1]; floating input is taken to be in [0, 1] already (copied to float32)."""
    if x.dtype == torch.uint8:
        return x.to(torch.float32).div_(255.0)
    return x.to(torch.float32, copy=True)


def _index(mask: Tensor, device: torch.device) -> Tensor:
    """Indices (K,) of the True entries of a bool (B,) mask, computed where the mask lives, moved to ``device``."""
    return mask.nonzero().squeeze(1).to(device, non_blocking=True)


class SimCLRAugment(nn.Module):
    """SimCLR's augmentation recipe on a batch, each image drawing its own parameters (CPU or GPU).

    Per image, in order: RandomResizedCrop to ``image_size`` (area fraction ``~ U(crop_scale)``,
    aspect ratio log-uniform in (3/4, 4/3), torchvision's 10-attempt rule and central fallback;
    ``crop_scale`` defaults to (0.2, 1) up to 32 px, (0.08, 1) above; ``crop=False``: resize
    only) -> horizontal flip (``flip_p``) -> [rotation, ``rotation_p``] -> colour jitter
    (``jitter_p``) with brightness, contrast, saturation factors ``~ U(1 - 0.4 s, 1 + 0.4 s)``
    and hue shift ``~ U(-0.1 s, 0.1 s)`` (capped at 0.5), ``s = strength``, the four ops in a
    random order per image -> grayscale (``grayscale_p``) -> Gaussian blur (``blur_p``, kernel
    about 10 % of ``image_size``, sigma ``~ U(0.1, 2)``; ``blur=None`` turns it on from 64 px up)
    -> [Gaussian noise, ``noise_p``] -> normalise ``(x - mean) / std`` -> [cutout, ``cutout_p``].
    Bracketed ops are off by default. See :class:`~cssl_edu.augment.config.AugmentConfig`.

    ``strength=1`` gives jitter (0.4, 0.4, 0.4, 0.1): that is ``s = 0.5`` in the SimCLR paper's
    notation, where jitter is (0.8 s, 0.8 s, 0.8 s, 0.2 s); the paper's ``s = 1`` is
    ``strength=2``.

    Args: see :func:`~cssl_edu.augment.simclr_transform`, which takes the same arguments.
    """

    def __init__(
        self,
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
    ) -> None:
        super().__init__()
        self.config = AugmentConfig.create(
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
        self.register_buffer("mean", torch.tensor(self.config.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(self.config.std).view(1, 3, 1, 1), persistent=False)

    def extra_repr(self) -> str:
        c = self.config
        return (
            f"image_size={c.image_size}, crop={c.crop}, crop_scale={c.crop_scale}, flip_p={c.flip_p}, "
            f"jitter_p={c.jitter_p}, brightness={c.brightness}, hue={c.hue}, grayscale_p={c.grayscale_p}, "
            f"blur={c.blur}, blur_p={c.blur_p}, blur_kernel={c.blur_kernel}"
        )

    def forward(
        self, x: Tensor, generator: torch.Generator | None = None, return_params: bool = False
    ) -> Tensor | tuple[Tensor, dict[str, Tensor]]:
        """Augment a batch: uint8 (B, 3, H, W) in [0, 255] or float in [0, 1] -> float32 (B, 3, S, S), normalised.

        Args:
            x: images on any device; the output is on the same device.
            generator: source of all randomness (a CPU generator, or one on ``x``'s device).
                When None, the parameters come from torch's default CPU generator (and the
                optional noise from the default generator of ``x``'s device). The same seed gives
                exactly the same views.
            return_params: also return the per-sample parameters drawn (see
                :func:`~cssl_edu.augment.params.sample_params` for the keys), on ``x.device``.

        Returns:
            the views, or ``(views, params)`` when ``return_params``.
        """
        check_image_batch(x)
        cfg = self.config
        b, _, h, w = x.shape
        dev = x.device
        p = sample_params(b, h, w, cfg, generator)

        # crop (or, with crop=False, the whole-image box: a plain resize) + resize + flip, one pass;
        # always a fresh tensor, so the in-place ops below never touch x
        img = crop_resize_flip(x, p["crop_box"], cfg.image_size, p["flip"])

        idx = _index(p["rotate"], dev)
        if idx.numel():
            img[idx] = rotate(img[idx], p["angle"][p["rotate"]])

        factors = torch.stack((p["brightness"], p["contrast"], p["saturation"], p["hue"]), dim=1)
        if bool(p["jitter"].any()):
            color_jitter(img, factors, p["jitter_order"], p["jitter"])
        random_grayscale_(img, _index(p["grayscale"], dev))

        idx = _index(p["blur"], dev)
        if idx.numel():
            img[idx] = gaussian_blur(img[idx], p["blur_sigma"][p["blur"]], cfg.blur_kernel)

        idx = _index(p["noise"], dev)
        if idx.numel():
            noise_dev = dev if generator is None else generator.device
            noise = torch.randn(
                (idx.numel(), 3, cfg.image_size, cfg.image_size), generator=generator, device=noise_dev
            )
            add_gaussian_noise_(img, idx, noise, cfg.noise_sigma)

        img.sub_(self.mean.to(dev, non_blocking=True)).div_(self.std.to(dev, non_blocking=True))
        if bool(p["cutout"].any()):
            cutout_(img, p["cutout"], p["cutout_center"], cfg.cutout_pixels)

        if return_params:
            return img, {k: v.to(dev, non_blocking=True) for k, v in p.items()}
        return img


class EvalTransform(nn.Module):
    """Evaluation preprocessing: uint8 (B, 3, H, W) -> float32 (B, 3, S, S), ``(resize(x / 255) - mean) / std``.

    The resize is bilinear with antialiasing (a no-op when the images already have side ``S``);
    no randomness. Also accepts a single image (3, H, W), returning (3, S, S).
    """

    def __init__(
        self, image_size: int = 32, mean: Sequence[float] = CIFAR10_MEAN, std: Sequence[float] = CIFAR10_STD
    ) -> None:
        super().__init__()
        self.image_size = check_image_size(image_size)
        cfg = AugmentConfig.create(image_size, mean=mean, std=std)
        self.register_buffer("mean", torch.tensor(cfg.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg.std).view(1, 3, 1, 1), persistent=False)

    def extra_repr(self) -> str:
        return f"image_size={self.image_size}"

    def forward(self, x: Tensor) -> Tensor:
        """Resize and normalise a uint8 (or [0, 1] float) batch; see the class docstring."""
        single = isinstance(x, Tensor) and x.dim() == 3
        if single:
            x = x.unsqueeze(0)
        check_image_batch(x)
        img = resize(to_unit_float(x), self.image_size)
        img = (img - self.mean.to(img.device)) / self.std.to(img.device)
        return img.squeeze(0) if single else img

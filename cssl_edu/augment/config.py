"""One validated set of SimCLR augmentation settings, shared by the per-image and batched paths.

Both implementations (:func:`~cssl_edu.augment.simclr_transform` for DataLoader workers and
:class:`~cssl_edu.augment.SimCLRAugment` for whole batches on the device) are built from the
same :class:`AugmentConfig`, so they cannot drift apart: every range and probability below is
resolved and checked exactly once, here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

CIFAR10_MEAN: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
"""Per-channel mean of the CIFAR-10 training images, in [0, 1] units."""
CIFAR10_STD: tuple[float, float, float] = (0.2470, 0.2435, 0.2616)
"""Per-channel (population) standard deviation of the CIFAR-10 training images, in [0, 1] units."""

CROP_RATIO: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0)
"""Aspect-ratio range (width / height) of RandomResizedCrop, sampled log-uniformly."""
BLUR_SIGMA: tuple[float, float] = (0.1, 2.0)
"""Range of the Gaussian blur's standard deviation (pixels), sampled uniformly."""
JITTER_BASE: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1)
"""Brightness, contrast, saturation and hue jitter at ``strength=1``."""


def _probability(p: float, name: str) -> float:
    try:
        q = float(p)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}.") from None
    if not (0.0 <= q <= 1.0):  # also rejects NaN
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}.")
    return q


def _channel_triple(values: Sequence[float], name: str, *, positive: bool) -> tuple[float, float, float]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be 3 numbers (one per RGB channel), got {values!r}.") from None
    if len(out) != 3:
        raise ValueError(f"{name} must have 3 values (one per RGB channel), got {len(out)}: {values!r}.")
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{name} must be finite, got {values!r}.")
    if positive and not all(v > 0 for v in out):
        raise ValueError(f"{name} must be > 0 in every channel, got {values!r}.")
    return out  # type: ignore[return-value]


def check_image_size(image_size: int) -> int:
    """Return ``image_size`` as an int, or raise ``ValueError`` unless it is an integer >= 8."""
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 8:
        raise ValueError(
            f"image_size must be an integer >= 8 (the output side in pixels), got {image_size!r}."
        )
    return image_size


def default_blur_kernel(image_size: int) -> int:
    """Blur kernel side: about 10 % of ``image_size``, made odd, at least 3 (32 → 3, 64 → 7, 96 → 9, 224 → 23)."""
    k = int(0.1 * image_size)
    if k % 2 == 0:
        k += 1
    return max(k, 3)


@dataclass(frozen=True)
class AugmentConfig:
    """The resolved SimCLR recipe. Build it with :meth:`create`, which validates every field.

    Ops and their order (each drawn independently per image):

    1. crop: RandomResizedCrop to ``image_size`` (``crop=False``: plain resize to ``image_size``);
    2. horizontal flip with ``flip_p``;
    3. rotation by ``U(-rotation_degrees, rotation_degrees)`` with ``rotation_p`` (off by default);
    4. colour jitter with ``jitter_p``: brightness, contrast, saturation, hue in a random order;
    5. grayscale with ``grayscale_p``;
    6. Gaussian blur with ``blur_p`` when ``blur`` is on;
    7. additive Gaussian noise with ``noise_p`` (off by default), clamped to [0, 1];
    8. normalisation ``(x - mean) / std``;
    9. cutout with ``cutout_p`` (off by default): a square of side ``cutout_size * image_size``
       set to 0 after normalisation, i.e. to the dataset's mean colour.
    """

    image_size: int
    crop: bool
    crop_scale: tuple[float, float]
    crop_ratio: tuple[float, float]
    flip_p: float
    jitter_p: float
    brightness: tuple[float, float]
    contrast: tuple[float, float]
    saturation: tuple[float, float]
    hue: tuple[float, float]
    grayscale_p: float
    blur: bool
    blur_p: float
    blur_kernel: int
    blur_sigma: tuple[float, float]
    rotation_p: float
    rotation_degrees: float
    cutout_p: float
    cutout_size: float
    noise_p: float
    noise_sigma: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def create(
        cls,
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
    ) -> AugmentConfig:
        """Validate the user-facing arguments and resolve the defaults that depend on ``image_size``.

        Jitter ranges: with ``(b, c, s, h) = (0.4, 0.4, 0.4, 0.1) * strength``, the brightness,
        contrast and saturation factors are ``U(max(0, 1 - b), 1 + b)`` and the hue shift is
        ``U(-min(h, 0.5), min(h, 0.5))`` (in turns of the colour wheel).
        """
        image_size = check_image_size(image_size)
        try:
            strength = float(strength)
        except (TypeError, ValueError):
            raise ValueError(f"strength must be a number >= 0, got {strength!r}.") from None
        if not (math.isfinite(strength) and strength >= 0):
            raise ValueError(
                f"strength must be a finite number >= 0 (1.0 is SimCLR's CIFAR recipe), got {strength!r}."
            )

        if crop_scale is None:
            crop_scale = (0.2, 1.0) if image_size <= 32 else (0.08, 1.0)
        try:
            lo, hi = (float(v) for v in crop_scale)
        except (TypeError, ValueError):
            raise ValueError(
                f"crop_scale must be a pair (min, max) of area fractions, got {crop_scale!r}."
            ) from None
        if not (0.0 < lo <= hi <= 1.0):
            raise ValueError(
                f"crop_scale must satisfy 0 < min <= max <= 1 (area fractions), got {crop_scale!r}."
            )

        b, c, s, h = (v * strength for v in JITTER_BASE)
        h = min(h, 0.5)

        if blur is None:
            blur = image_size >= 64
        if not isinstance(blur, bool):
            raise ValueError(f"blur must be True, False or None (None: on from 64 px up), got {blur!r}.")
        kernel = default_blur_kernel(image_size)

        try:
            rotation_degrees = float(rotation_degrees)
        except (TypeError, ValueError):
            raise ValueError(
                f"rotation_degrees must be a number in [0, 180], got {rotation_degrees!r}."
            ) from None
        if not (0.0 <= rotation_degrees <= 180.0):
            raise ValueError(f"rotation_degrees must be in [0, 180], got {rotation_degrees!r}.")
        try:
            cutout_size = float(cutout_size)
            noise_sigma = float(noise_sigma)
        except (TypeError, ValueError):
            raise ValueError("cutout_size and noise_sigma must be numbers.") from None
        if not (0.0 < cutout_size <= 1.0):
            raise ValueError(
                f"cutout_size is the square's side as a fraction of image_size, in (0, 1]; got {cutout_size!r}."
            )
        if not (math.isfinite(noise_sigma) and noise_sigma >= 0):
            raise ValueError(f"noise_sigma must be >= 0 (in [0, 1] pixel units), got {noise_sigma!r}.")
        if not isinstance(crop, bool):
            raise ValueError(f"crop must be True or False, got {crop!r}.")

        return cls(
            image_size=image_size,
            crop=crop,
            crop_scale=(lo, hi),
            crop_ratio=CROP_RATIO,
            flip_p=_probability(flip_p, "flip_p"),
            jitter_p=_probability(jitter_p, "jitter_p"),
            brightness=(max(0.0, 1.0 - b), 1.0 + b),
            contrast=(max(0.0, 1.0 - c), 1.0 + c),
            saturation=(max(0.0, 1.0 - s), 1.0 + s),
            hue=(-h, h),
            grayscale_p=_probability(grayscale_p, "grayscale_p"),
            blur=blur,
            blur_p=_probability(blur_p, "blur_p"),
            blur_kernel=kernel,
            blur_sigma=BLUR_SIGMA,
            rotation_p=_probability(rotation_p, "rotation_p"),
            rotation_degrees=rotation_degrees,
            cutout_p=_probability(cutout_p, "cutout_p"),
            cutout_size=cutout_size,
            noise_p=_probability(noise_p, "noise_p"),
            noise_sigma=noise_sigma,
            mean=_channel_triple(mean, "mean", positive=False),
            std=_channel_triple(std, "std", positive=True),
        )

    @property
    def cutout_pixels(self) -> int:
        """Side of the cutout square in output pixels, at least 1."""
        return max(1, round(self.cutout_size * self.image_size))

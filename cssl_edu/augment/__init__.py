"""SimCLR's augmentation recipe, twice: per image for DataLoader workers, and batched per sample on the device.

- :func:`simclr_transform` - a ``torchvision.transforms.v2.Compose`` for one uint8 (3, H, W) image.
- :class:`SimCLRAugment` - an ``nn.Module`` for a (B, 3, H, W) batch on CPU or GPU, every image
  drawing its own crop, flip, jitter, grayscale and blur; the same distribution, much faster.
- :class:`EvalTransform` - resize + normalise for evaluation, no randomness.
- :class:`AugmentConfig` - the validated settings both implementations are built from.

The batched ops live in :mod:`~cssl_edu.augment.geometry`, :mod:`~cssl_edu.augment.color`,
:mod:`~cssl_edu.augment.blur` and :mod:`~cssl_edu.augment.extras`; the per-sample random
parameters are drawn in :mod:`~cssl_edu.augment.params`.
"""

from .batched import EvalTransform, SimCLRAugment
from .config import CIFAR10_MEAN, CIFAR10_STD, AugmentConfig
from .params import sample_params
from .per_image import simclr_transform

__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "AugmentConfig",
    "EvalTransform",
    "SimCLRAugment",
    "sample_params",
    "simclr_transform",
]

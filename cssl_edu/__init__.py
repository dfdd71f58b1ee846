"""cssl-edu: contrastive self-supervised learning, taught from scratch and implemented for real.

Sub-packages:

- :mod:`cssl_edu.data` - the built-in Shapes dataset, real datasets, views and a device-resident loader
- :mod:`cssl_edu.augment` - the SimCLR augmentation recipe, per image and batched per sample
- :mod:`cssl_edu.models` - ResNets with the CIFAR stem, a small ConvNet, projection heads
- :mod:`cssl_edu.losses` - NT-Xent and the rest of the contrastive family
- :mod:`cssl_edu.methods` - SimCLR and friends, each a module with a ``forward`` returning a loss
- :mod:`cssl_edu.train` - a plain-PyTorch trainer with atomic checkpoints and exact resume
- :mod:`cssl_edu.eval` - kNN, linear probes, alignment/uniformity, collapse checks
- :mod:`cssl_edu.analysis` - what an encoder learned; :func:`cssl_edu.diagnose` (``cssl-edu doctor``)
  tells whether a run is learning, collapsed or diverged
"""

from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:  # the version is written once, in pyproject.toml; an installed package carries it in its metadata
    __version__ = version("cssl-edu")
except PackageNotFoundError:  # a source tree on sys.path without being installed
    __version__ = "0+unknown"

del PackageNotFoundError, version


def __getattr__(name: str) -> Any:
    """``cssl_edu.diagnose``, imported on first use (``import cssl_edu`` stays free of torch)."""
    if name == "diagnose":
        from cssl_edu.analysis.doctor import diagnose

        return diagnose
    raise AttributeError(f"module 'cssl_edu' has no attribute {name!r}")

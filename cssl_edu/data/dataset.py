"""``ImageDataset``: a whole image dataset held in memory as one uint8 tensor.

Every dataset in the course (Shapes, CIFAR, STL-10, a folder of images, an ``.npz`` file) is
loaded into the same container, so the rest of the package sees one format:

- ``images``: uint8 ``(N, 3, H, W)``, RGB, channels first;
- ``labels``: int64 ``(N,)``, ``-1`` marks an unlabeled image (STL-10's unlabeled split);
- ``classes``: the class names, ``classes[labels[i]]`` is image ``i``'s class;
- ``factors``: optional per-image tensors whose first dimension is ``N`` (Shapes stores its
  nuisance factors here: hue, scale, rotation, position, background, ...).

Keeping the whole dataset in one tensor lets :class:`~cssl_edu.data.views.DeviceLoader` move it
to the GPU once and index batches there, with no per-image Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

IndexLike = Tensor | Sequence[int] | np.ndarray | slice


def as_index(idx: IndexLike, n: int, *, device: torch.device | None = None) -> Tensor:
    """Turn ``idx`` (int sequence, int/bool tensor or array, or slice) into an int64 index tensor.

    Raises ``ValueError`` for a float index, a boolean mask of the wrong length, or an index
    outside ``[-n, n)``.
    """
    if isinstance(idx, slice):
        return torch.arange(n, device=device)[idx]
    t = torch.as_tensor(np.asarray(idx) if not isinstance(idx, Tensor) else idx)
    if t.dtype == torch.bool:
        if t.dim() != 1 or t.numel() != n:
            raise ValueError(
                f"a boolean mask must have one entry per image ({n}), got shape {tuple(t.shape)}."
            )
        t = t.nonzero().squeeze(1)
    elif t.is_floating_point() or t.is_complex():
        raise ValueError(f"indices must be integers or a boolean mask, got dtype {t.dtype}.")
    t = t.reshape(-1).long()
    if t.numel() and (int(t.min()) < -n or int(t.max()) >= n):
        raise ValueError(
            f"index out of range for a dataset of {n} images: got values in [{int(t.min())}, {int(t.max())}]."
        )
    return t.to(device) if device is not None else t


@dataclass(eq=False)
class ImageDataset(torch.utils.data.Dataset):
    """An in-memory image dataset: uint8 images, int64 labels, class names, optional factors.

    Args:
        images: uint8 ``(N, 3, H, W)`` RGB images.
        labels: int64 ``(N,)`` class indices in ``[0, len(classes))``; ``-1`` = unlabeled.
        classes: class names (may be empty when every label is ``-1``).
        factors: optional dict of per-image tensors, each with first dimension ``N``.
        name: a short name for messages and logs (e.g. ``"cifar10"``).

    ``ds[i]`` returns ``(image uint8 (3, H, W), label int)``. ``ds.mean`` / ``ds.std`` are the
    per-channel mean and (population) standard deviation of the pixels in ``[0, 1]`` units,

    .. math:: \\mu_c = \\frac{1}{NHW}\\sum_{n,h,w} x_{nchw}/255,\\qquad
              \\sigma_c = \\sqrt{\\frac{1}{NHW}\\sum_{n,h,w} (x_{nchw}/255)^2 - \\mu_c^2},

    computed once (in chunks, float64 accumulators) and cached.

    Example:
        >>> ds = ImageDataset(torch.zeros(4, 3, 8, 8, dtype=torch.uint8), torch.tensor([0, 1, 0, -1]), ["a", "b"])
        >>> len(ds), ds[1][1], ds.mean
        (4, 1, (0.0, 0.0, 0.0))
    """

    images: Tensor
    labels: Tensor
    classes: list[str]
    factors: dict[str, Tensor] | None = None
    name: str = ""
    _stats: tuple[tuple[float, ...], tuple[float, ...]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        images, labels = self.images, self.labels
        who = f"ImageDataset {self.name!r}" if self.name else "ImageDataset"
        if not isinstance(images, Tensor):
            raise ValueError(f"{who}: images must be a torch.Tensor, got {type(images).__name__}.")
        if images.dtype != torch.uint8:
            raise ValueError(
                f"{who}: images must be uint8 (0-255), got dtype {images.dtype}. "
                "Convert float images in [0, 1] with (x * 255).round().to(torch.uint8)."
            )
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(
                f"{who}: images must have shape (N, 3, H, W) (RGB, channels first), got {tuple(images.shape)}. "
                "For HWC arrays use images.permute(0, 3, 1, 2); for grayscale repeat the channel 3 times."
            )
        if not isinstance(labels, Tensor):
            raise ValueError(f"{who}: labels must be a torch.Tensor, got {type(labels).__name__}.")
        if labels.dtype != torch.int64 or labels.dim() != 1:
            raise ValueError(
                f"{who}: labels must be an int64 tensor of shape (N,), got dtype {labels.dtype} and "
                f"shape {tuple(labels.shape)}; use labels.long().reshape(-1)."
            )
        n = images.shape[0]
        if labels.shape[0] != n:
            raise ValueError(f"{who}: {n} images but {labels.shape[0]} labels; they must match one to one.")
        if labels.device != images.device:
            raise ValueError(
                f"{who}: images are on {images.device} but labels on {labels.device}; move both, e.g. with .to(device)."
            )
        if isinstance(self.classes, str) or not all(isinstance(c, str) for c in self.classes):
            raise ValueError(f"{who}: classes must be a list of class-name strings, got {self.classes!r}.")
        self.classes = list(self.classes)
        if n:
            lo, hi = int(labels.min()), int(labels.max())
            if lo < -1:
                raise ValueError(f"{who}: labels must be >= -1 (-1 = unlabeled), found {lo}.")
            if hi >= len(self.classes):
                raise ValueError(
                    f"{who}: label {hi} has no class name (only {len(self.classes)} classes given); "
                    "pass one name per class in `classes`."
                )
        if self.factors is not None:
            if not isinstance(self.factors, dict):
                raise ValueError(
                    f"{who}: factors must be a dict of tensors, got {type(self.factors).__name__}."
                )
            for key, value in self.factors.items():
                if not isinstance(value, Tensor) or value.dim() == 0 or value.shape[0] != n:
                    shape = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
                    raise ValueError(
                        f"{who}: factor {key!r} must be a tensor with one row per image (first dim {n}), got {shape}."
                    )

    # ------------------------------------------------------------------ Dataset protocol
    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        """Image ``i`` as uint8 ``(3, H, W)`` and its label as a Python int (``-1`` = unlabeled)."""
        return self.images[i], int(self.labels[i])

    def __repr__(self) -> str:
        n, _, h, w = self.images.shape
        keys = f", factors={sorted(self.factors)}" if self.factors else ""
        return (
            f"ImageDataset(name={self.name!r}, n={n}, size={h}x{w}, classes={len(self.classes)}, "
            f"device={self.images.device}{keys})"
        )

    # ------------------------------------------------------------------ statistics
    @property
    def image_size(self) -> int:
        """Side length ``H`` of the (square) images (``H`` when ``H != W``)."""
        return self.images.shape[-2]

    @property
    def mean(self) -> tuple[float, float, float]:
        """Per-channel pixel mean in [0, 1] units (cached)."""
        return self._channel_stats()[0]  # type: ignore[return-value]

    @property
    def std(self) -> tuple[float, float, float]:
        """Per-channel pixel standard deviation in [0, 1] units (cached)."""
        return self._channel_stats()[1]  # type: ignore[return-value]

    def _channel_stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        if self._stats is None:
            if len(self) == 0:
                raise ValueError("mean/std of an empty dataset are undefined; the dataset has 0 images.")
            s = torch.zeros(3, dtype=torch.float64, device=self.images.device)
            s2 = torch.zeros_like(s)
            for chunk in self.images.split(2048):  # bounded memory for large datasets
                x = chunk.to(torch.float32)
                s += x.sum(dim=(0, 2, 3), dtype=torch.float64)
                s2 += x.square_().sum(dim=(0, 2, 3), dtype=torch.float64)
            count = self.images[:, 0].numel()
            mean = s / count
            var = (s2 / count - mean.square()).clamp_min(0)
            self._stats = (
                tuple(float(v) for v in (mean / 255).tolist()),
                tuple(float(v) for v in (var.sqrt() / 255).tolist()),
            )
        return self._stats

    # ------------------------------------------------------------------ derived datasets
    def subset(self, idx: IndexLike) -> ImageDataset:
        """The images at ``idx`` (int indices, boolean mask or slice), with their labels and factors."""
        index = as_index(idx, len(self), device=self.images.device)
        factors = (
            None if self.factors is None else {k: v[index.to(v.device)] for k, v in self.factors.items()}
        )
        return ImageDataset(self.images[index], self.labels[index], list(self.classes), factors, self.name)

    def to(self, device: torch.device | str) -> ImageDataset:
        """The same dataset on ``device`` (returns ``self`` when it is already there)."""
        device = torch.device(device)
        if _same_device(self.images.device, device):
            return self
        factors = None if self.factors is None else {k: v.to(device) for k, v in self.factors.items()}
        out = ImageDataset(
            self.images.to(device), self.labels.to(device), list(self.classes), factors, self.name
        )
        out._stats = self._stats  # same pixels, same statistics
        return out

    def class_counts(self) -> dict[Any, int]:
        """Number of images per class name (``"unlabeled"`` for label ``-1``)."""
        values, counts = torch.unique(self.labels, return_counts=True)
        names = [self.classes[v] if v >= 0 else "unlabeled" for v in values.tolist()]
        return dict(zip(names, counts.tolist()))


def _same_device(a: torch.device, b: torch.device) -> bool:
    if a.type != b.type:
        return False
    if a.type == "cpu" or b.index is None:
        return True
    return a.index == b.index

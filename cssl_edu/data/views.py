"""Two ways to feed images to a contrastive method.

- :class:`MultiViewDataset`: the classic per-image path. ``ds[i]`` returns ``n_views``
  independently augmented views of image ``i``; a ``torch.utils.data.DataLoader`` with worker
  processes batches them. Simple and familiar, but every image costs Python calls.
- :class:`DeviceLoader`: the fast path. The whole uint8 dataset lives on the device (a
  CIFAR-10 train set is 150 MiB); a batch is one index into it, and augmentation then runs
  batched on the device (:class:`cssl_edu.augment.SimCLRAugment`). No per-image Python.

The DeviceLoader's shuffling is a pure function of ``(seed, epoch)``, so a run interrupted in
the middle of an epoch can resume at exactly the next batch: ``loader.epoch(e, start_batch=k)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor

from cssl_edu.data.dataset import ImageDataset

Transform = Callable[[Tensor], Tensor]


class MultiViewDataset(torch.utils.data.Dataset):
    """Wrap an :class:`ImageDataset` so that item ``i`` is ``([v_1, ..., v_n], label, i)``.

    Args:
        base: the images.
        transform: per-image augmentation, uint8 ``(3, H, W)`` → tensor (e.g.
            :func:`cssl_edu.augment.simclr_transform`); or a sequence of ``n_views`` transforms,
            one per view (asymmetric views, as in BYOL).
        n_views: views per image (2 for SimCLR).

    Each view calls the transform afresh, so the views differ by the transform's own
    randomness (``torch``'s global RNG, seeded per worker by the DataLoader).

    Example:
        >>> from torch.utils.data import DataLoader
        >>> mv = MultiViewDataset(ds, simclr_transform(32, mean=ds.mean, std=ds.std))  # doctest: +SKIP
        >>> views, labels, idx = next(iter(DataLoader(mv, batch_size=256, num_workers=2)))  # doctest: +SKIP
    """

    def __init__(
        self, base: ImageDataset, transform: Transform | Sequence[Transform], n_views: int = 2
    ) -> None:
        if not isinstance(base, ImageDataset):
            raise ValueError(f"base must be an ImageDataset, got {type(base).__name__}.")
        if not isinstance(n_views, int) or n_views < 1:
            raise ValueError(f"n_views must be an int >= 1 (2 for SimCLR), got {n_views!r}.")
        if callable(transform):
            transforms = [transform] * n_views
        elif isinstance(transform, Sequence) and all(callable(t) for t in transform):
            transforms = list(transform)
            if len(transforms) != n_views:
                raise ValueError(
                    f"got {len(transforms)} transforms for n_views={n_views}; give one per view."
                )
        else:
            raise ValueError(
                f"transform must be a callable (uint8 (3,H,W) image -> tensor) or a list of them, got {transform!r}."
            )
        self.base = base.to("cpu")  # DataLoader workers read from CPU memory
        self.transforms = transforms
        self.n_views = n_views

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> tuple[list[Tensor], int, int]:
        image, label = self.base[i]
        return [t(image) for t in self.transforms], label, int(i)


class DeviceLoader:
    """Batches of a device-resident dataset: ``(images uint8 (B,3,H,W), labels (B,), indices (B,))``.

    Args:
        dataset: the images; moved to ``device`` once.
        batch_size: images per batch ``B``.
        shuffle: visit the images in a fresh random order each epoch (else in index order).
        drop_last: skip the last, short batch (``N mod B`` images); keep it when False.
        device: where the dataset and the batches live.
        seed: the shuffling seed (non-negative int).

    Epoch ``e`` visits the images in the order :meth:`permutation` ``(e)``, a pure function of
    ``(seed, e)``: ``torch.randperm(N)`` from a CPU generator seeded with
    ``seed * 100003 + e``. ``iter(loader)`` runs epoch :attr:`epoch` and then advances it by
    one, so a plain ``for``-loop over epochs reshuffles; :meth:`set_epoch` sets it, and
    :meth:`epoch` ``(e, start_batch=k)`` resumes epoch ``e`` at batch ``k``.

    Example:
        >>> loader = DeviceLoader(ds, 256, device="cuda")  # doctest: +SKIP
        >>> for images, labels, idx in loader.epoch(3, start_batch=10): ...  # doctest: +SKIP
    """

    def __init__(
        self,
        dataset: ImageDataset,
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = True,
        device: torch.device | str = "cpu",
        seed: int = 0,
    ) -> None:
        if not isinstance(dataset, ImageDataset):
            raise ValueError(f"dataset must be an ImageDataset, got {type(dataset).__name__}.")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}.")
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
        n = len(dataset)
        if n == 0:
            raise ValueError("the dataset is empty: there is nothing to load.")
        if drop_last and batch_size > n:
            raise ValueError(
                f"batch_size {batch_size} is larger than the dataset ({n} images) and drop_last=True, "
                "so an epoch would have no batches; lower batch_size or pass drop_last=False."
            )
        self.device = torch.device(device)
        self.dataset = dataset.to(self.device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self._epoch = 0

    def __len__(self) -> int:
        """Batches per epoch: ``N // B`` with ``drop_last``, else ``ceil(N / B)``."""
        n, b = len(self.dataset), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    @property
    def epoch_index(self) -> int:
        """The epoch that the next ``iter(loader)`` will run."""
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter(loader)`` run epoch ``epoch``."""
        if not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int, got {epoch!r}.")
        self._epoch = epoch

    def permutation(self, epoch: int) -> Tensor:
        """The order in which epoch ``epoch`` visits the images: int64 ``(N,)`` on the CPU."""
        n = len(self.dataset)
        if not self.shuffle:
            return torch.arange(n)
        g = torch.Generator().manual_seed(self.seed * 100003 + epoch)
        return torch.randperm(n, generator=g)

    def epoch(self, epoch: int, start_batch: int = 0) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        """Iterate over the batches of epoch ``epoch``, starting at batch ``start_batch``.

        The batches are exactly the tail of the full epoch's, so a run stopped after ``k``
        batches continues with ``epoch(e, start_batch=k)``.
        """
        if not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int, got {epoch!r}.")
        if not isinstance(start_batch, int) or not 0 <= start_batch <= len(self):
            raise ValueError(
                f"start_batch must be an int in [0, {len(self)}] (batches per epoch), got {start_batch!r}."
            )
        return self._batches(self.permutation(epoch).to(self.device), start_batch)

    def _batches(self, order: Tensor, start_batch: int) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        images, labels, b = self.dataset.images, self.dataset.labels, self.batch_size
        for k in range(start_batch, len(self)):
            idx = order[k * b : (k + 1) * b]
            yield images.index_select(0, idx), labels.index_select(0, idx), idx

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        epoch = self._epoch
        self._epoch += 1
        return self.epoch(epoch)

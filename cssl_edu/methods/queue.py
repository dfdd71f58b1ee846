"""MoCo's queue of negative keys: a fixed-size ring buffer (He et al. 2020).

K slots hold the most recent keys. ``enqueue`` writes a batch at the pointer and advances
it modulo K, wrapping around the end — any batch size works, also one that does not divide
K, a short last batch, or one larger than K (then only its last K keys are kept). Until K
keys have arrived only the filled slots are used as negatives. The dataset index of each key
is stored beside it, so a query's own image can be masked out of its negatives.

Keys must be enqueued **after** the loss of the batch that produced them: otherwise each
query would find its own positive key among its negatives.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class KeyQueue(nn.Module):
    """A FIFO ring buffer of K L2-normalised keys of dimension d (saved in checkpoints).

    Example:
        >>> q = KeyQueue(size=5, dim=2)
        >>> q.enqueue(torch.randn(3, 2)); q.enqueue(torch.randn(4, 2))
        >>> q.negatives().shape, int(q.ptr), bool(q.full)
        (torch.Size([5, 2]), 2, True)
    """

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 1 or dim < 1:
            raise ValueError(f"queue size and dim must be ≥ 1, got size={size}, dim={dim}.")
        self.size, self.dim = int(size), int(dim)
        self.register_buffer("keys", torch.zeros(self.size, self.dim))
        self.register_buffer("indices", torch.full((self.size,), -1, dtype=torch.long))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @property
    def full(self) -> bool:
        return int(self.count) >= self.size

    @torch.no_grad()
    def enqueue(self, keys: Tensor, indices: Tensor | None = None) -> None:
        """Write (B, d) keys (and their dataset indices) at the pointer, wrapping around."""
        if keys.dim() != 2 or keys.shape[1] != self.dim:
            raise ValueError(f"keys must have shape (B, {self.dim}), got {tuple(keys.shape)}.")
        keys = F.normalize(keys.detach().to(self.keys.dtype), dim=1)
        idx = (
            torch.full((keys.shape[0],), -1, dtype=torch.long, device=keys.device)
            if indices is None
            else indices.detach().long()
        )
        if keys.shape[0] > self.size:  # only the newest K survive
            keys, idx = keys[-self.size :], idx[-self.size :]
        b = keys.shape[0]
        slots = (self.ptr + torch.arange(b, device=self.keys.device)) % self.size
        self.keys[slots] = keys.to(self.keys.device)
        self.indices[slots] = idx.to(self.indices.device)
        self.ptr.copy_((self.ptr + b) % self.size)
        self.count.add_(b).clamp_(max=self.size)

    def negatives(self) -> Tensor:
        """The filled keys, (min(count, K), d)."""
        return self.keys if self.full else self.keys[: int(self.count)]

    def negative_indices(self) -> Tensor:
        """Dataset indices of :meth:`negatives` (−1 where unknown)."""
        return self.indices if self.full else self.indices[: int(self.count)]

"""A memory bank of negatives (Wu et al. 2018, InstDisc; Misra & van der Maaten 2020, PIRL).

The bank holds one L2-normalised feature v_i per training image. A step encodes the batch
(q_i = normalise(g(f(x_i)))), takes the image's own bank entry v_i as its positive and K
entries drawn uniformly from the bank as negatives (the anchor's own entry left out), and
then refreshes the bank entries of the batch with momentum:

    v_i ← normalise(m v_i + (1 − m) q_i)

Compared with MoCo's queue, the bank's entries were computed by many different past
versions of the encoder (each image is seen once per epoch), so they are less consistent —
the motivation for MoCo's momentum encoder. Compared with in-batch negatives (SimCLR), the
number of negatives no longer depends on the batch size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cssl_edu._validation import as_indices
from cssl_edu.losses import info_nce
from cssl_edu.methods.base import Method, register
from cssl_edu.models.heads import ProjectionHead


class MemoryBank(nn.Module):
    """(dataset_size, d) unit vectors, initialised at random, updated with momentum."""

    def __init__(self, size: int, dim: int, momentum: float = 0.5, seed: int = 0) -> None:
        super().__init__()
        if size < 2:
            raise ValueError(f"the memory bank needs the dataset size (≥ 2 images), got {size}.")
        if not 0 <= momentum < 1:
            raise ValueError(f"bank momentum must be in [0, 1), got {momentum}.")
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("bank", F.normalize(torch.randn(size, dim, generator=g), dim=1))
        self.momentum = momentum

    @torch.no_grad()
    def update(self, indices: Tensor, features: Tensor) -> None:
        """v_i ← normalise(m v_i + (1 − m) normalise(z_i)) for the rows ``indices``."""
        z = F.normalize(features.detach().to(self.bank.dtype), dim=1)
        mixed = self.momentum * self.bank[indices] + (1 - self.momentum) * z
        self.bank[indices] = F.normalize(mixed, dim=1)

    def sample(
        self, k: int, exclude: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """K random rows (shared by the batch) and a (B, K) mask of the rows equal to each anchor's own."""
        n = self.bank.shape[0]
        idx = torch.randint(n, (k,), generator=generator, device=generator.device if generator else "cpu").to(
            self.bank.device
        )
        return self.bank[idx], exclude.view(-1, 1).to(idx.device) == idx.view(1, -1)


@register("membank")
class MemoryBankMethod(Method):
    """InstDisc-style training with a memory bank of negatives; one view per image.

    Args:
        backbone: the encoder.
        dataset_size: number of training images (one bank row each; passed by the trainer).
        num_negatives: K entries drawn per step.
        bank_momentum: m of the bank update (0.5 in InstDisc).
        temperature: τ (0.07 in InstDisc; the trainer passes the run's).
    """

    n_views = 1

    def __init__(
        self,
        backbone: nn.Module,
        *,
        dataset_size: int | None = None,
        num_negatives: int = 4096,
        bank_momentum: float = 0.5,
        temperature: float = 0.1,
        proj_hidden_dim: int = 2048,
        proj_out_dim: int = 128,
    ) -> None:
        super().__init__(backbone)
        if dataset_size is None:
            raise ValueError(
                "membank needs dataset_size (the number of training images); the trainer passes it."
            )
        self.projector = ProjectionHead(backbone.feature_dim, proj_hidden_dim, proj_out_dim)
        self.memory = MemoryBank(dataset_size, proj_out_dim, bank_momentum)
        self.num_negatives, self.temperature = num_negatives, temperature

    def forward(
        self, views: list[Tensor], labels: Tensor | None = None, indices: Tensor | None = None
    ) -> dict[str, Tensor]:
        self._check_views(views)
        if indices is None:
            raise ValueError("membank needs the dataset indices of the batch (the trainer passes them).")
        indices = as_indices(
            indices, views[0].shape[0], self.memory.bank.shape[0], device=self.memory.bank.device
        )
        q = self.projector(self.backbone(views[0]))
        positives = self.memory.bank[indices].clone()
        negatives, mask = self.memory.sample(self.num_negatives, indices)
        loss = info_nce(q, positives, negatives, self.temperature, negative_mask=mask)
        if self.training:
            self.memory.update(indices, q)
        return {"loss": loss}

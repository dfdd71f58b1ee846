"""SimCLR (Chen, Kornblith, Norouzi & Hinton 2020): two views, one encoder, NT-Xent.

    x ──t──▶ x̃₁ ──f──▶ h₁ ──g──▶ z₁ ┐
      └─t'─▶ x̃₂ ──f──▶ h₂ ──g──▶ z₂ ┘──▶ NT-Xent(z₁, z₂; τ)

Both views go through the encoder in one concatenated batch (one BN statistic over 2N
images, one kernel launch per layer). Negatives are the other 2N − 2 images of the batch.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cssl_edu.distributed import is_distributed, nt_xent_global
from cssl_edu.losses import nt_xent
from cssl_edu.methods.base import Method, register
from cssl_edu.models.heads import ProjectionHead


@register("simclr")
class SimCLR(Method):
    """SimCLR around any backbone.

    Example:
        >>> from cssl_edu.models import build_backbone
        >>> m = SimCLR(build_backbone("convnet"), proj_hidden_dim=256, proj_out_dim=64)
        >>> x1, x2 = torch.randn(8, 3, 32, 32), torch.randn(8, 3, 32, 32)
        >>> m([x1, x2], labels=None, indices=None)["loss"].shape
        torch.Size([])
    """

    n_views = 2

    def __init__(
        self,
        backbone: nn.Module,
        *,
        temperature: float = 0.5,
        proj_hidden_dim: int = 2048,
        proj_out_dim: int = 128,
        proj_layers: int = 2,
    ) -> None:
        super().__init__(backbone)
        self.projector = ProjectionHead(backbone.feature_dim, proj_hidden_dim, proj_out_dim, proj_layers)
        self.temperature = temperature

    def forward(
        self, views: list[Tensor], labels: Tensor | None = None, indices: Tensor | None = None
    ) -> dict[str, Tensor]:
        self._check_views(views)
        n = views[0].shape[0]
        z = self.projector(self.backbone(torch.cat(views)))
        z1, z2 = z[:n], z[n:]
        # under DDP every rank's anchors see all ranks' negatives (gradient-correct all-gather)
        loss_fn = nt_xent_global if is_distributed() else nt_xent
        return {"loss": loss_fn(z1, z2, self.temperature)}

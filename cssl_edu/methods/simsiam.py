"""SimSiam (Chen & He 2021): BYOL without the momentum encoder — the stop-gradient does the work.

    L = ½ [ −cos(p₁, sg(z₂)) − cos(p₂, sg(z₁)) ],   p = q(z), z = g(f(x))

With the stop-gradient sg(·) the loss is minimised like an alternating (EM-like) procedure
and the output does not collapse; remove it (``stop_gradient=False``) and every image
quickly maps to the same vector — the course measures this with ``z_std``, the per-dimension
std of the normalised projections (≈ 1/√d when spread out, → 0 at collapse).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cssl_edu.methods.base import Method, register
from cssl_edu.methods.byol import negative_cosine, normalized_std
from cssl_edu.models.heads import PredictionHead, ProjectionHead


@register("simsiam")
class SimSiam(Method):
    """SimSiam around any backbone. The projector ends with a BatchNorm, as in the paper."""

    n_views = 2

    def __init__(
        self,
        backbone: nn.Module,
        *,
        proj_hidden_dim: int = 2048,
        proj_out_dim: int = 2048,
        proj_layers: int = 3,
        pred_hidden_dim: int | None = None,
        stop_gradient: bool = True,
    ) -> None:
        super().__init__(backbone)
        self.projector = ProjectionHead(
            backbone.feature_dim, proj_hidden_dim, proj_out_dim, proj_layers, last_bn=True
        )
        self.predictor = PredictionHead(proj_out_dim, pred_hidden_dim or max(proj_out_dim // 4, 8))
        self.stop_gradient = stop_gradient

    def forward(
        self, views: list[Tensor], labels: Tensor | None = None, indices: Tensor | None = None
    ) -> dict[str, Tensor]:
        self._check_views(views)
        n = views[0].shape[0]
        z = self.projector(self.backbone(torch.cat(views)))
        p = self.predictor(z)
        target = torch.cat([z[n:], z[:n]])  # view 1's prediction targets view 2's projection
        if self.stop_gradient:
            target = target.detach()
        return {"loss": negative_cosine(p, target), "z_std": normalized_std(z)}

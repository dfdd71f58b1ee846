"""BYOL (Grill et al. 2020): positives only, a predictor, and an EMA target network.

    online: view ──f──▶ h ──g──▶ z ──q──▶ p
    target: view' ─f_ξ─▶ h' ─g_ξ─▶ z'          (EMA of the online f, g; no gradient)

    L = ‖p̂ − ẑ'‖² = 2 − 2 cos(p, z'),  symmetrised over the two views (mean of both directions)

With no negatives, nothing in the loss forbids a constant output; the predictor and the
slowly moving target (τ from 0.99 → 1 with a cosine schedule) keep training away from that
collapse in practice.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cssl_edu.methods.base import Method, register
from cssl_edu.methods.momentum import cosine_momentum, make_target, momentum_update
from cssl_edu.models.heads import PredictionHead, ProjectionHead


def normalized_std(z: Tensor) -> Tensor:
    """Mean per-dimension std of the L2-normalised rows of z (≈ 1/√d when spread, 0 when collapsed)."""
    return F.normalize(z.detach().float(), dim=1).std(dim=0).mean()


def negative_cosine(p: Tensor, z: Tensor) -> Tensor:
    """Mean of −cos(p_i, z_i) (z is used as given: detach it for a stop-gradient)."""
    dtype = torch.promote_types(torch.promote_types(p.dtype, z.dtype), torch.float32)  # fp16/bf16 → fp32
    return -F.cosine_similarity(p.to(dtype), z.to(dtype), dim=-1).mean()


@register("byol")
class BYOL(Method):
    """BYOL around any backbone; ``momentum`` is τ_base of the target's cosine EMA schedule.

    ``proj_layers`` / ``proj_last_bn``: the projector's depth and a non-affine BatchNorm on its
    output z (as SimSiam's projector has; the BYOL paper's has none). The BN removes the
    component all z share, so the target no longer carries a large common mean that the
    predictor can match without telling images apart.
    """

    n_views = 2

    def __init__(
        self,
        backbone: nn.Module,
        *,
        proj_hidden_dim: int = 4096,
        proj_out_dim: int = 256,
        pred_hidden_dim: int | None = None,
        momentum: float = 0.99,
        proj_layers: int = 2,
        proj_last_bn: bool = False,
    ) -> None:
        super().__init__(backbone)
        self.projector = ProjectionHead(
            backbone.feature_dim, proj_hidden_dim, proj_out_dim, proj_layers, last_bn=proj_last_bn
        )
        self.predictor = PredictionHead(proj_out_dim, pred_hidden_dim or proj_hidden_dim)
        self.target_backbone = make_target(backbone)
        self.target_projector = make_target(self.projector)
        self.base_momentum = self.momentum = momentum

    def forward(
        self, views: list[Tensor], labels: Tensor | None = None, indices: Tensor | None = None
    ) -> dict[str, Tensor]:
        self._check_views(views)
        n = views[0].shape[0]
        x = torch.cat(views)
        z = self.projector(self.backbone(x))
        p = self.predictor(z)
        with torch.no_grad():
            zt = self.target_projector(self.target_backbone(x))
        # p of view 1 predicts the target of view 2 and vice versa; 2 − 2cos = 2 + 2·(−cos)
        zt_swapped = torch.cat([zt[n:], zt[:n]])
        loss = 2 + 2 * negative_cosine(p, zt_swapped)
        return {"loss": loss, "z_std": normalized_std(z)}

    def on_train_step_end(self, step: int, progress: float) -> None:
        self.momentum = cosine_momentum(self.base_momentum, progress)
        momentum_update(self.backbone, self.target_backbone, self.momentum)
        momentum_update(self.projector, self.target_projector, self.momentum)

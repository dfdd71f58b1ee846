"""Supervised contrastive learning (Khosla et al. 2020) and the cross-entropy baseline.

SupCon pre-trains the encoder with :func:`cssl_edu.losses.supcon` — every image of the
same class is a positive — then a linear classifier is trained on the frozen features
(the two-stage recipe; ``cssl-edu eval`` runs the second stage). ``supervised`` trains the
encoder and a linear classifier end to end with cross-entropy on one augmented view, the
baseline SupCon is compared with, through the same trainer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cssl_edu._validation import as_labels
from cssl_edu.losses import supcon
from cssl_edu.methods.base import Method, register
from cssl_edu.models.heads import ProjectionHead


def _require_labels(name: str, labels: Tensor | None, views: list[Tensor]) -> Tensor:
    """The batch's labels as int64 (B,) on the views' device; every one must be ≥ 0 (no −1)."""
    if labels is None:
        raise ValueError(
            f"{name} is supervised: every image in the batch needs a label ≥ 0, got labels=None."
        )
    labels = as_labels(labels, views[0].shape[0], "labels", device=views[0].device)
    if bool((labels < 0).any()):
        raise ValueError(
            f"{name} is supervised: every image in the batch needs a label ≥ 0 (found −1 in labels)."
        )
    return labels


@register("supcon")
class SupConMethod(Method):
    """Backbone + projection head trained with SupCon on two views (τ = 0.1 by default)."""

    n_views = 2
    needs_labels = True

    def __init__(
        self,
        backbone: nn.Module,
        *,
        temperature: float = 0.1,
        proj_hidden_dim: int = 2048,
        proj_out_dim: int = 128,
    ) -> None:
        super().__init__(backbone)
        self.projector = ProjectionHead(backbone.feature_dim, proj_hidden_dim, proj_out_dim)
        self.temperature = temperature

    def forward(
        self, views: list[Tensor], labels: Tensor | None = None, indices: Tensor | None = None
    ) -> dict[str, Tensor]:
        self._check_views(views)
        labels = _require_labels("supcon", labels, views)
        n = views[0].shape[0]
        z = self.projector(self.backbone(torch.cat(views)))
        return {"loss": supcon(torch.stack([z[:n], z[n:]], dim=1), labels, self.temperature)}


@register("supervised")
class Supervised(Method):
    """Cross-entropy baseline: backbone + linear classifier on one augmented view."""

    n_views = 1
    needs_labels = True

    def __init__(self, backbone: nn.Module, *, num_classes: int = 10) -> None:
        super().__init__(backbone)
        self.classifier = nn.Linear(backbone.feature_dim, num_classes)

    def forward(
        self, views: list[Tensor], labels: Tensor | None = None, indices: Tensor | None = None
    ) -> dict[str, Tensor]:
        self._check_views(views)
        labels = _require_labels("supervised", labels, views)
        logits = self.classifier(self.backbone(views[0]))
        if int(labels.max()) >= logits.shape[1]:
            raise ValueError(
                f"label {int(labels.max())} ≥ num_classes {logits.shape[1]}; pass num_classes in --method-kwargs."
            )
        return {
            "loss": F.cross_entropy(logits.float(), labels),
            "acc": (logits.argmax(1) == labels).float().mean().detach(),
        }

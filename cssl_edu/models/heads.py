"""Projection and prediction heads: g(h) = z.

SimCLR (Chen et al. 2020) showed that the contrastive loss is best applied to z = g(h) from a
small MLP, while the features h *before* the head transfer better: the head is free to discard
information (colour, orientation) that the loss asks it to be invariant to.
"""

from __future__ import annotations

from torch import Tensor, nn


def _mlp(
    in_dim: int, hidden_dim: int, out_dim: int, num_layers: int, batch_norm: bool, last_bn: bool
) -> nn.Sequential:
    if num_layers < 1:
        raise ValueError(f"num_layers must be ≥ 1, got {num_layers}.")
    for name, v in (("in_dim", in_dim), ("hidden_dim", hidden_dim), ("out_dim", out_dim)):
        if int(v) < 1:
            raise ValueError(f"{name} must be a positive int, got {v}.")
    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(num_layers - 1):
        layers.append(nn.Linear(d, hidden_dim, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm1d(hidden_dim))
        layers.append(nn.ReLU(inplace=True))
        d = hidden_dim
    layers.append(nn.Linear(d, out_dim, bias=not last_bn))
    if last_bn:
        layers.append(nn.BatchNorm1d(out_dim, affine=False))
    return nn.Sequential(*layers)


class ProjectionHead(nn.Module):
    """Linear → BN → ReLU → … → Linear: (B, in_dim) → (B, out_dim).

    ``num_layers=2`` is SimCLR v1's head; ``num_layers=3`` SimCLR v2's; ``num_layers=1`` a
    linear head. ``last_bn`` adds a non-affine BN at the end (SimSiam, MoCo v3).
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int = 2048,
        out_dim: int = 128,
        num_layers: int = 2,
        batch_norm: bool = True,
        last_bn: bool = False,
    ) -> None:
        super().__init__()
        self.net = _mlp(in_dim, hidden_dim, out_dim, num_layers, batch_norm, last_bn)
        self.out_dim = out_dim

    def forward(self, h: Tensor) -> Tensor:
        return self.net(h)


class PredictionHead(ProjectionHead):
    """The BYOL / SimSiam predictor q(z): a 2-layer MLP with a bottleneck, (B, d) → (B, d)."""

    def __init__(self, dim: int = 128, hidden_dim: int = 512) -> None:
        super().__init__(dim, hidden_dim, dim, num_layers=2, batch_norm=True, last_bn=False)

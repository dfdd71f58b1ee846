"""The momentum (EMA) update shared by MoCo and BYOL.

    θ_target ← m · θ_target + (1 − m) · θ_online

m = 0 copies the online network; m = 1 freezes the target. MoCo uses m = 0.99–0.999, BYOL
raises m from 0.99 towards 1 with a cosine schedule. All parameters are updated in two
fused multi-tensor kernels (``torch._foreach_mul_`` / ``_foreach_add_``), not one small
kernel per tensor. Buffers (BatchNorm running statistics) are copied from the online
network, so evaluating the target uses statistics of the data it now sees.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def make_target(online: nn.Module) -> nn.Module:
    """A frozen deep copy of ``online`` (``requires_grad=False`` everywhere) to be updated by EMA."""
    target = copy.deepcopy(online)
    for p in target.parameters():
        p.requires_grad_(False)
    return target


@torch.no_grad()
def momentum_update(online: nn.Module, target: nn.Module, m: float) -> None:
    """θ_t ← m θ_t + (1 − m) θ_o for every parameter; buffers are copied. ``m`` ∈ [0, 1]."""
    if not 0.0 <= m <= 1.0:
        raise ValueError(f"momentum m must be in [0, 1], got {m}.")
    po, pt = list(online.parameters()), list(target.parameters())
    if len(po) != len(pt):
        raise ValueError(
            "online and target networks must have the same parameters (target = copy of online)."
        )
    torch._foreach_mul_(pt, m)
    torch._foreach_add_(pt, po, alpha=1.0 - m)
    for bo, bt in zip(online.buffers(), target.buffers()):
        bt.copy_(bo)


def cosine_momentum(base: float, progress: float) -> float:
    """BYOL's schedule: m = 1 − (1 − base) · (cos(π · progress) + 1) / 2, from ``base`` to 1."""
    progress = min(max(progress, 0.0), 1.0)
    return 1.0 - (1.0 - base) * (math.cos(math.pi * progress) + 1.0) / 2.0

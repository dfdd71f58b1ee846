"""Optimisers and the learning-rate schedule used by the trainer.

LARS (You, Gitman & Ginsburg 2017), as used by SimCLR for large batches: SGD with momentum
where each weight matrix's step is rescaled by the trust ratio η‖w‖ / ‖∇w + λw‖, so every
layer moves by a similar *relative* amount. Biases and normalisation parameters are excluded
from both weight decay and the adaptation, as in the SimCLR paper.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn


class LARS(torch.optim.Optimizer):
    """SGD + momentum + layer-wise adaptive rate scaling.

    For each parameter p in a group with ``lars_adapt=True``:
        g ← ∇p + λ p;  r ← η ‖p‖ / ‖g‖ (1 if either norm is 0);  v ← μ v + r g;  p ← p − lr v
    Groups with ``lars_adapt=False`` (biases, BN) use plain SGD + momentum without decay.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict],
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 1e-6,
        eta: float = 1e-3,
    ) -> None:
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}.")
        super().__init__(
            params,
            {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "eta": eta, "lars_adapt": True},
        )

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if group["lars_adapt"]:
                    g = g.add(p, alpha=group["weight_decay"])
                    w_norm, g_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(g)
                    trust = torch.where(
                        (w_norm > 0) & (g_norm > 0), group["eta"] * w_norm / g_norm, torch.ones_like(w_norm)
                    )
                    g = g.mul(trust)
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = g.clone()
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(g)
                p.add_(state["momentum_buffer"], alpha=-group["lr"])
        return loss


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Split parameters: weights of ≥ 2-D get weight decay (and LARS); biases and norms do not."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay, "lars_adapt": True},
        {"params": no_decay, "weight_decay": 0.0, "lars_adapt": False},
    ]


def build_optimizer(
    model: nn.Module, name: str, lr: float, weight_decay: float, momentum: float = 0.9
) -> torch.optim.Optimizer:
    """``sgd`` (Nesterov-free SGD + momentum), ``lars`` or ``adamw``, with decay only on weights."""
    groups = param_groups(model, weight_decay)
    if name == "lars":
        return LARS(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)
    for g in groups:
        g.pop("lars_adapt")
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise ValueError(f"unknown optimizer {name!r}; use sgd, lars or adamw.")


def warmup_cosine(total_steps: int, warmup_steps: int, final_ratio: float = 0.0):
    """Multiplier for ``LambdaLR``: linear warm-up from ~0 to 1, then cosine decay to ``final_ratio``."""
    total_steps = max(1, total_steps)
    warmup_steps = min(max(0, warmup_steps), total_steps - 1)

    def f(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps  # 1/W, 2/W, …, 1 at the last warm-up step
        t = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    return f

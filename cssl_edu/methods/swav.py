"""SwAV (Caron et al. 2020): swap the cluster assignments of crops, with multi-crop and a queue.

    crops x̃_1 … x̃_V ──f──▶ h ──g──▶ z ──normalise──▶ ẑ ──prototypes C──▶ scores ẑ·c_k   (V, B, K)
    codes   Q_c = sinkhorn(scores_c)       for the assigned (large) crops c, no gradient
    loss    predict Q_c from every other crop's softmax(scores_v / τ)      (see cssl_edu.losses.swav)

- **Prototypes** C ∈ ℝ^{K×d}, a linear layer without bias whose rows are re-normalised to
  unit length at every step, so the scores are cosines in [−1, 1] (otherwise the model could
  sharpen its predictions just by growing the prototype norms).
- **Multi-crop**: 2 crops at full resolution plus ``n_small_crops`` low-resolution crops of
  small areas (the paper: 2 × 224 px + 6 × 96 px). Only the large crops are assigned codes;
  every crop predicts them. Small crops cost little and add many comparisons between global
  and local views. Each resolution goes through the encoder as one batch.
- **Queue**: with small batches the equipartition over B samples is too coarse (B < K), so the
  features of the last ``queue_size`` samples (per assigned crop) join the Sinkhorn step as
  extra rows from epoch ``queue_start_epoch`` on, once full. Their scores use the current
  prototypes; only the batch's own codes are kept.
- **Frozen prototypes**: for the first ``freeze_prototypes_steps`` optimiser steps the
  prototypes get a zero gradient (they stay at their random initialisation while the encoder
  learns to use them — the paper's ``freeze_prototypes_niters``).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cssl_edu.augment.config import default_blur_kernel
from cssl_edu.losses.swav import swav_loss
from cssl_edu.methods.base import Method, register
from cssl_edu.methods.queue import KeyQueue
from cssl_edu.models.heads import ProjectionHead


@register("swav")
class SwAV(Method):
    """SwAV around any backbone.

    Args:
        backbone: the encoder f.
        num_prototypes: K (3,000 in the paper for ImageNet).
        temperature: τ of the prediction softmax (0.1 in the paper; the trainer passes the run's).
        epsilon: ε of the Sinkhorn step (0.05).
        sinkhorn_iters: Sinkhorn iterations (3).
        n_small_crops: low-resolution crops per image besides the 2 large ones (0 = no multi-crop).
        small_crop_size: side of the small crops in pixels (default: half the large crops').
        small_crop_scale: area fraction range of the small crops (the paper: (0.05, 0.14)).
        queue_size: features per assigned crop kept for the Sinkhorn step (0 = no queue).
        queue_start_epoch: the first epoch (0-based) in which the queue is used.
        freeze_prototypes_steps: optimiser steps during which the prototypes get no gradient.
        proj_hidden_dim, proj_out_dim: the projection head g (2-layer MLP) → d.

    Example:
        >>> from cssl_edu.models import build_backbone
        >>> m = SwAV(build_backbone("convnet"), num_prototypes=10, proj_hidden_dim=32, proj_out_dim=16)
        >>> views = [torch.randn(8, 3, 32, 32)] * 2 + [torch.randn(8, 3, 16, 16)] * 2
        >>> m(views, None, None)["loss"].shape
        torch.Size([])
    """

    def __init__(
        self,
        backbone: nn.Module,
        *,
        num_prototypes: int = 3000,
        temperature: float = 0.1,
        epsilon: float = 0.05,
        sinkhorn_iters: int = 3,
        n_small_crops: int = 2,
        small_crop_size: int | None = None,
        small_crop_scale: Sequence[float] = (0.05, 0.14),
        queue_size: int = 0,
        queue_start_epoch: int = 0,
        freeze_prototypes_steps: int = 0,
        proj_hidden_dim: int = 2048,
        proj_out_dim: int = 128,
    ) -> None:
        super().__init__(backbone)
        for name, v, lo in (
            ("num_prototypes", num_prototypes, 1),
            ("n_small_crops", n_small_crops, 0),
            ("queue_size", queue_size, 0),
            ("queue_start_epoch", queue_start_epoch, 0),
            ("freeze_prototypes_steps", freeze_prototypes_steps, 0),
        ):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name} must be an int ≥ {lo}, got {v!r}.")
        if small_crop_size is not None and (not isinstance(small_crop_size, int) or small_crop_size < 4):
            raise ValueError(f"small_crop_size must be an int ≥ 4 pixels (or None), got {small_crop_size!r}.")
        lo_s, hi_s = (float(v) for v in small_crop_scale)
        if not 0 < lo_s <= hi_s <= 1:
            raise ValueError(
                f"small_crop_scale must satisfy 0 < min ≤ max ≤ 1, got {tuple(small_crop_scale)}."
            )
        self.projector = ProjectionHead(backbone.feature_dim, proj_hidden_dim, proj_out_dim)
        self.prototypes = nn.Linear(proj_out_dim, num_prototypes, bias=False)
        with torch.no_grad():
            self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))
        self.temperature, self.epsilon, self.sinkhorn_iters = temperature, epsilon, sinkhorn_iters
        self.n_small_crops = n_small_crops
        self.n_views = 2 + n_small_crops
        self.same_size_views = False  # multi-crop: large and small crops
        self.small_crop_size, self.small_crop_scale = small_crop_size, (lo_s, hi_s)
        self.crops_for_assign = (0, 1)
        self.queue_start_epoch = queue_start_epoch
        self.freeze_prototypes_steps = freeze_prototypes_steps
        self.queues = nn.ModuleList(
            [KeyQueue(queue_size, proj_out_dim) for _ in self.crops_for_assign] if queue_size else []
        )
        #: optimiser steps taken (saved in checkpoints, so a resumed run keeps the prototypes frozen right)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    # ------------------------------------------------------------------ multi-crop views
    def small_augment(self, augment: nn.Module) -> nn.Module:
        """The trainer's augmentation with the small crops' size and area range (colour ops unchanged)."""
        cfg = augment.config
        size = self.small_crop_size or max(4, cfg.image_size // 2)
        small = copy.copy(augment)  # shares the normalisation buffers; only the config differs
        small.config = dataclasses.replace(
            cfg, image_size=size, crop_scale=self.small_crop_scale, blur_kernel=default_blur_kernel(size)
        )
        return small

    def make_views(
        self, images: Tensor, augment: nn.Module, generator: torch.Generator | None = None
    ) -> list[Tensor]:
        """2 large crops from ``augment`` and ``n_small_crops`` small ones from :meth:`small_augment`."""
        views = [augment(images, generator=generator) for _ in range(2)]
        if self.n_small_crops:
            small = self.small_augment(augment)
            views += [small(images, generator=generator) for _ in range(self.n_small_crops)]
        return views

    # ------------------------------------------------------------------ forward
    @torch.no_grad()
    def normalize_prototypes(self) -> None:
        """Put every prototype back on the unit sphere (done at the start of each training step)."""
        w = self.prototypes.weight
        w.copy_(F.normalize(w, dim=1))

    def embed(self, views: list[Tensor]) -> Tensor:
        """L2-normalised projections of all crops, (V·B, d), crops in order; one encoder pass per resolution."""
        out: list[Tensor | None] = [None] * len(views)
        sizes = sorted({tuple(v.shape[-2:]) for v in views}, reverse=True)
        for size in sizes:
            idx = [i for i, v in enumerate(views) if tuple(v.shape[-2:]) == size]
            z = self.projector(self.backbone(torch.cat([views[i] for i in idx])))
            for i, part in zip(idx, z.chunk(len(idx))):
                out[i] = part
        return F.normalize(torch.cat(out), dim=1)  # type: ignore[arg-type]

    def prototype_weight(self) -> Tensor:
        """The prototypes as used in the loss: frozen (zero gradient) for the first steps."""
        w = self.prototypes.weight
        if self.training and int(self.steps) < self.freeze_prototypes_steps:
            # value w, gradient 0 (not None: DDP expects a gradient for every parameter)
            return w.detach() + 0 * w
        return w

    def forward(
        self, views: list[Tensor], labels: Tensor | None = None, indices: Tensor | None = None
    ) -> dict[str, Tensor]:
        self._check_views(views)
        b = views[0].shape[0]
        if any(v.shape[0] != b for v in views):
            raise ValueError(
                f"every crop must hold the same {b} images, got batch sizes {[v.shape[0] for v in views]}."
            )
        if self.training:
            self.normalize_prototypes()
        z = self.embed(views)  # (V·B, d)
        w = self.prototype_weight()
        scores = (z @ w.to(z.dtype).T).view(len(views), b, -1)  # (V, B, K) cosines
        queue_scores = None
        use_queue = (
            len(self.queues) > 0 and self.current_epoch >= self.queue_start_epoch and self.queues[0].full
        )
        if use_queue:
            with torch.no_grad():
                stored = torch.stack([q.negatives() for q in self.queues])  # (A, M, d)
                queue_scores = stored.to(z.dtype) @ w.detach().to(z.dtype).T  # (A, M, K)
        loss = swav_loss(
            scores,
            self.temperature,
            self.epsilon,
            self.sinkhorn_iters,
            self.crops_for_assign,
            queue_scores=queue_scores,
        )
        if self.training and len(self.queues) and self.current_epoch >= self.queue_start_epoch:
            zs = z.view(len(views), b, -1)
            for q, c in zip(self.queues, self.crops_for_assign):
                q.enqueue(zs[c])  # after the loss: a batch never meets its own features
        return {"loss": loss}

    def on_train_step_end(self, step: int, progress: float) -> None:
        self.steps.fill_(step)

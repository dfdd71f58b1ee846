"""MoCo v2 (He et al. 2020; Chen, Fan, Girshick & He 2020): a momentum key encoder and a queue.

    view 1 ──f_q, g_q──▶ q ┐
    view 2 ──f_k, g_k──▶ k ┘──▶ InfoNCE(q, k, queue)     then  queue ← k,  θ_k ← m θ_k + (1 − m) θ_q

The key encoder (f_k, g_k) is an exponential moving average of the query encoder and gets
no gradient; its keys are consistent enough over many steps to be kept in a queue of K
negatives far larger than the batch.

**Shuffle-BN.** BatchNorm statistics of a batch leak information between its samples: if
query and key batches are normalised with statistics of the same images, the model can
find its positive through them. MoCo computes the keys' BN statistics over a different
set of images than the queries':

- across GPUs (DDP), the key batch is shuffled across ranks, encoded, and un-shuffled;
- on one device, ``key_bn_splits = S`` shuffles the key batch and encodes it as S
  sub-batches with separate BN statistics, then restores the order.
"""

from __future__ import annotations

import warnings

import torch
import torch.distributed as dist
from torch import Tensor, nn

from cssl_edu import distributed as cdist
from cssl_edu._validation import check_nonnegative_int, check_positive_int
from cssl_edu.losses import info_nce
from cssl_edu.methods.base import Method, register
from cssl_edu.methods.momentum import cosine_momentum, make_target, momentum_update
from cssl_edu.methods.queue import KeyQueue
from cssl_edu.models.heads import ProjectionHead


@register("moco")
class MoCo(Method):
    """MoCo v2 around any backbone.

    Args:
        backbone: the query encoder f_q (the key encoder is a copy).
        temperature: τ of InfoNCE (0.2 in MoCo v2).
        proj_hidden_dim, proj_out_dim: the MLP head g (MoCo v2's addition).
        queue_size: K, the number of negative keys.
        momentum: m of the key encoder's EMA (0.99 for CIFAR-size runs, 0.999 for ImageNet).
        momentum_schedule: raise m from ``momentum`` to 1 with a cosine over training.
        symmetric: also use view 2 as query and view 1 as key, and average the two losses.
        key_bn_splits: single-device shuffle-BN: encode the shuffled key batch in this many
            sub-batches (1 = plain BN). Under DDP the real cross-rank shuffle is used.
        mask_same_image: leave out queue entries that came from the query's own image.
        dataset_size: number of training images; a warning is given when K ≥ it.

    Example:
        >>> from cssl_edu.models import build_backbone
        >>> m = MoCo(build_backbone("convnet"), proj_hidden_dim=64, proj_out_dim=32, queue_size=64)
        >>> out = m([torch.randn(8, 3, 32, 32), torch.randn(8, 3, 32, 32)], None, torch.arange(8))
        >>> out["loss"].shape, int(m.queue.count)
        (torch.Size([]), 8)
    """

    n_views = 2

    def __init__(
        self,
        backbone: nn.Module,
        *,
        temperature: float = 0.2,
        proj_hidden_dim: int = 2048,
        proj_out_dim: int = 128,
        queue_size: int = 4096,
        momentum: float = 0.99,
        momentum_schedule: bool = False,
        symmetric: bool = False,
        key_bn_splits: int = 1,
        mask_same_image: bool = False,
        dataset_size: int | None = None,
    ) -> None:
        super().__init__(backbone)
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}.")
        if key_bn_splits < 1:
            raise ValueError(f"key_bn_splits must be ≥ 1, got {key_bn_splits}.")
        self.projector = ProjectionHead(backbone.feature_dim, proj_hidden_dim, proj_out_dim)
        self.key_backbone = make_target(backbone)
        self.key_projector = make_target(self.projector)
        self.queue = KeyQueue(queue_size, proj_out_dim)
        self.temperature = temperature
        self.base_momentum = self.momentum = momentum
        self.momentum_schedule = momentum_schedule
        self.symmetric = symmetric
        self.key_bn_splits = key_bn_splits
        self.mask_same_image = mask_same_image
        if dataset_size is not None and queue_size >= dataset_size:
            warnings.warn(
                f"queue_size K = {queue_size} ≥ dataset size {dataset_size}: after one epoch every image's own "
                "key from the previous epoch sits in the queue as a negative. Use a smaller queue, or "
                "mask_same_image=True.",
                UserWarning,
                stacklevel=2,
            )

    # ---------------------------------------------------------------- keys
    def _encode_keys(self, x: Tensor) -> Tensor:
        return self.key_projector(self.key_backbone(x))

    @torch.no_grad()
    def keys(self, x: Tensor) -> Tensor:
        """Keys (B, d) of a batch, with shuffle-BN; always detached."""
        if cdist.is_distributed():
            return self._keys_ddp_shuffle(x)
        if self.key_bn_splits == 1 or not self.training:
            return self._encode_keys(x)
        perm = torch.randperm(x.shape[0], device=x.device)
        k = torch.cat([self._encode_keys(chunk) for chunk in x[perm].chunk(self.key_bn_splits)])
        return k[torch.argsort(perm)]

    @torch.no_grad()
    def _keys_ddp_shuffle(self, x: Tensor) -> Tensor:
        """Shuffle the global key batch across ranks, encode, un-shuffle (MoCo's shuffle-BN)."""
        world, rank, b = cdist.world_size(), cdist.rank(), x.shape[0]
        gathered = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(gathered, x.contiguous())
        x_all = torch.cat(gathered)
        perm = torch.randperm(world * b, device=x.device)
        dist.broadcast(perm, src=0)
        k_local = self._encode_keys(x_all[perm][rank * b : (rank + 1) * b])
        k_parts = [torch.empty_like(k_local) for _ in range(world)]
        dist.all_gather(k_parts, k_local.contiguous())
        k_all = torch.cat(k_parts)[torch.argsort(perm)]
        return k_all[rank * b : (rank + 1) * b]

    # ---------------------------------------------------------------- loss
    def extra_negatives(self, q: Tensor, negatives: Tensor, mask: Tensor | None = None) -> Tensor | None:
        """Per-query extra negatives (none for MoCo; MoCHi overrides this).

        ``mask`` (N, K) marks queue entries that are not negatives of a query (its own image's
        keys under ``mask_same_image``); they must not be used to make negatives either.
        """
        return None

    def _loss(
        self, q: Tensor, k: Tensor, negatives: Tensor, neg_idx: Tensor, indices: Tensor | None
    ) -> Tensor:
        mask = None
        if self.mask_same_image and indices is not None and negatives.shape[0] > 0:
            mask = indices.view(-1, 1).to(neg_idx.device) == neg_idx.view(1, -1)
        extra = self.extra_negatives(q, negatives, mask)
        if negatives.shape[0] == 0:  # the very first step, no queue yet: the batch's other keys
            negatives = k.detach()
            mask = torch.eye(k.shape[0], dtype=torch.bool, device=k.device)  # never a query's own key
        return info_nce(q, k, negatives, self.temperature, extra, mask)

    def forward(
        self, views: list[Tensor], labels: Tensor | None = None, indices: Tensor | None = None
    ) -> dict[str, Tensor]:
        self._check_views(views)
        x1, x2 = views
        # a snapshot of the queue: the keys of this batch are enqueued only after its loss
        negatives, neg_idx = self.queue.negatives().clone(), self.queue.negative_indices().clone()
        q1 = self.projector(self.backbone(x1))
        k2 = self.keys(x2)
        loss = self._loss(q1, k2, negatives, neg_idx, indices)
        new_keys = [k2]
        if self.symmetric:
            q2 = self.projector(self.backbone(x2))
            k1 = self.keys(x1)
            loss = 0.5 * (loss + self._loss(q2, k1, negatives, neg_idx, indices))
            new_keys.append(k1)
        if self.training:
            for k in new_keys:
                self.queue.enqueue(
                    cdist.gather_with_grad(k) if cdist.is_distributed() else k, self._all_indices(indices)
                )
        return {"loss": loss}

    @staticmethod
    def _all_indices(indices: Tensor | None) -> Tensor | None:
        if indices is None or not cdist.is_distributed():
            return indices
        parts = [torch.empty_like(indices) for _ in range(cdist.world_size())]
        dist.all_gather(parts, indices.contiguous())
        return torch.cat(parts)

    def on_train_step_end(self, step: int, progress: float) -> None:
        if self.momentum_schedule:
            self.momentum = cosine_momentum(self.base_momentum, progress)
        momentum_update(self.backbone, self.key_backbone, self.momentum)
        momentum_update(self.projector, self.key_projector, self.momentum)


@register("mochi")
class MoCHi(MoCo):
    """MoCo + hard negative mixing (Kalantidis et al. 2020).

    Each query gets ``s`` + ``s_prime`` synthetic negatives mixed from its own ``n_hard``
    most similar queue entries (see :func:`cssl_edu.losses.mix_hard_negatives`), from epoch
    ``mochi_warmup_epochs`` on (the queue first has to hold meaningful keys).
    """

    def __init__(
        self,
        backbone: nn.Module,
        *,
        n_hard: int = 256,
        s: int = 256,
        s_prime: int = 128,
        mochi_warmup_epochs: int = 1,
        **moco_kwargs,
    ) -> None:
        super().__init__(backbone, **moco_kwargs)
        n_hard = check_positive_int(n_hard, "n_hard")
        s, s_prime = check_nonnegative_int(s, "s"), check_nonnegative_int(s_prime, "s_prime")
        mochi_warmup_epochs = check_nonnegative_int(mochi_warmup_epochs, "mochi_warmup_epochs")
        if s > 0 and n_hard < 2:
            raise ValueError("mixing two hard negatives (s > 0) needs n_hard ≥ 2.")
        if n_hard > self.queue.size:
            raise ValueError(f"n_hard ({n_hard}) cannot exceed the queue size ({self.queue.size}).")
        self.n_hard, self.s, self.s_prime = n_hard, s, s_prime
        self.mochi_warmup_epochs = mochi_warmup_epochs

    def extra_negatives(self, q: Tensor, negatives: Tensor, mask: Tensor | None = None) -> Tensor | None:
        from cssl_edu.losses import mix_hard_negatives

        if self.current_epoch < self.mochi_warmup_epochs or negatives.shape[0] < max(2, self.n_hard):
            return None
        # the masked entries (the query's own image) are excluded before the top-n_hard ranking:
        # otherwise they are the "hardest negatives" and the mixes approach the query itself
        return mix_hard_negatives(q.detach(), negatives, self.n_hard, self.s, self.s_prime, mask=mask)

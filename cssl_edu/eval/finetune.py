"""Few-label fine-tuning: the semi-supervised use SimCLR was made for.

The whole encoder f and a new linear classifier W are trained with cross-entropy on a small,
class-balanced labelled subset (1 %, 10 %, … of the labels), with light augmentation (crop
and flip). Starting f from a self-supervised checkpoint versus from random initialisation
(the "supervised from scratch" baseline, same labels, same budget) measures what the
unlabelled pre-training bought.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from cssl_edu._validation import as_labels, check_image_batch, check_module, check_positive_int
from cssl_edu.augment import EvalTransform, SimCLRAugment
from cssl_edu.eval.linear import balanced_subset


def finetune(
    backbone: nn.Module,
    train_images: Tensor,
    train_labels: Tensor,
    test_images: Tensor,
    test_labels: Tensor,
    *,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    fraction: float = 0.1,
    epochs: int = 30,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    batch_size: int = 128,
    num_classes: int | None = None,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, float]:
    """Fine-tune a **copy** of ``backbone`` + a linear head on a fraction of the labels.

    Args:
        backbone: encoder with ``feature_dim`` (left unchanged; a copy is trained).
        train_images, test_images: uint8 (N, 3, H, W) and (M, 3, H, W).
        train_labels, test_labels: int64 (N,), (M,).
        mean, std: the normalisation the encoder was trained with.
        fraction: share of labels used (class-balanced).
        epochs, lr, weight_decay, batch_size: AdamW with a cosine schedule.

    Returns:
        ``{"fraction", "n_labels", "test_acc"}``.
    """
    check_module(backbone, "backbone")
    check_image_batch(train_images, "train_images")
    check_image_batch(test_images, "test_images")
    train_labels = as_labels(train_labels, train_images.shape[0], "train_labels", device=train_images.device)
    test_labels = as_labels(test_labels, test_images.shape[0], "test_labels")
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    device = next(backbone.parameters()).device
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    idx = balanced_subset(train_labels, fraction, seed)
    x, y = (
        train_images[idx.to(train_images.device)].to(device),
        train_labels[idx.to(train_labels.device)].to(device),
    )
    c = int(
        num_classes
        if num_classes is not None
        else int(torch.cat([train_labels[train_labels >= 0], test_labels]).max()) + 1
    )
    net = nn.Sequential(copy.deepcopy(backbone), nn.Linear(backbone.feature_dim, c)).to(device)
    size = train_images.shape[-1]
    aug = SimCLRAugment(
        size, mean=mean, std=std, jitter_p=0.0, grayscale_p=0.0, blur_p=0.0, crop_scale=(0.5, 1.0)
    ).to(device)
    prep = EvalTransform(size, mean=mean, std=std)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * max(1, -(-len(y) // batch_size))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    aug_gen = torch.Generator(device=device).manual_seed(seed)
    net.train()
    for _ in tqdm(range(epochs), desc=f"fine-tune {fraction:.0%}", disable=not progress):
        perm = torch.randperm(len(y), generator=g).to(device)
        for start in range(0, len(y), batch_size):
            b = perm[start : start + batch_size]
            if b.numel() < 2:  # BatchNorm needs ≥ 2 samples
                continue
            loss = F.cross_entropy(net(aug(x[b], generator=aug_gen)), y[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    net.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, test_images.shape[0], 512):
            xb = prep(test_images[start : start + 512].to(device))
            correct += int((net(xb).argmax(1) == test_labels[start : start + 512].to(device)).sum())
    return {"fraction": fraction, "n_labels": len(y), "test_acc": correct / test_images.shape[0]}

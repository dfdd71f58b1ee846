"""Run a frozen encoder over a dataset: uint8 images → features h."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cssl_edu._validation import check_image_batch, check_module, check_positive_int
from cssl_edu.augment import EvalTransform


def module_device(module: nn.Module) -> torch.device:
    """The device of a module's first parameter (the CPU for a module without parameters)."""
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def extract_features(
    backbone: nn.Module,
    images: Tensor,
    *,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    image_size: int | None = None,
    batch_size: int = 512,
    device: torch.device | str | None = None,
    amp: bool = False,
) -> Tensor:
    """Features h = f(x) of every image, in eval mode, without augmentation.

    Args:
        backbone: the encoder f; its train/eval mode is restored afterwards.
        images: uint8 (N, 3, H, W) with N ≥ 1 (or float in [0, 1], finite), on any device.
        mean, std: per-channel normalisation (the dataset's), in [0, 1] units.
        image_size: resize to this side first (default: keep H).
        batch_size: images per forward pass (bounds memory).
        device: where to run (default: the backbone's device).
        amp: run under bf16 autocast on CUDA.

    Returns:
        float32 (N, D) features on ``device``.
    """
    check_module(backbone, "backbone")
    check_image_batch(images, "images", finite=True)
    batch_size = check_positive_int(batch_size, "batch_size")
    device = torch.device(device) if device is not None else module_device(backbone)
    prep = EvalTransform(image_size or images.shape[-1], mean=mean, std=std)
    was_training = backbone.training
    backbone.eval()
    out = []
    try:
        for start in range(0, images.shape[0], batch_size):
            x = prep(images[start : start + batch_size].to(device, non_blocking=True))
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
                out.append(backbone(x).float())
    finally:
        backbone.train(was_training)
    if not out:
        raise ValueError("images is empty: nothing to extract features from.")
    return torch.cat(out)

"""Encoders f(x) = h: ResNets with the CIFAR stem, and a small ConvNet for the CPU profile.

Every backbone maps images (B, 3, H, W) to features h of shape (B, feature_dim) and exposes
``feature_dim``. Evaluation (kNN, linear probe) always uses h, never the projection z.

The **CIFAR stem** (He et al. 2016, §4.2; used by SimCLR for CIFAR-10) replaces ImageNet's
7x7/stride-2 conv + 3x3 max-pool (which shrink a 32 px image to 8 px before the first block)
with a single 3x3/stride-1 conv and no pooling, keeping the 32x32 resolution in stage 1.
"""

from __future__ import annotations

import torch
import torchvision
from torch import Tensor, nn

ARCHS = ("convnet", "resnet18", "resnet34", "resnet50")


class SmallConvNet(nn.Module):
    """A 4-stage ConvNet (3x3 conv, stride 2, BN, ReLU) + global average pool.

    With widths (32, 64, 128, 256) a 32 px image goes 32 → 16 → 8 → 4 → 2 → pool → (B, 256).
    It trains at several hundred image pairs per second on a 2-core CPU, against ~7 pairs/s for
    ResNet-18, which is why it is the CPU profile's encoder.
    """

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128, 256), in_channels: int = 3) -> None:
        super().__init__()
        if not widths or any(int(w) < 1 for w in widths):
            raise ValueError(f"widths must be a non-empty tuple of positive ints, got {widths!r}.")
        layers: list[nn.Module] = []
        c_in = in_channels
        for w in widths:
            layers += [
                nn.Conv2d(c_in, w, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(w),
                nn.ReLU(True),
            ]
            c_in = w
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.feature_dim = c_in

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, H, W) → (B, feature_dim)."""
        return self.pool(self.features(x)).flatten(1)


class ResNetBackbone(nn.Module):
    """A torchvision ResNet without its classifier; (B, 3, H, W) → (B, 512 or 2048)."""

    def __init__(self, arch: str = "resnet18", *, cifar_stem: bool = True) -> None:
        super().__init__()
        net = getattr(torchvision.models, arch)(weights=None)
        if cifar_stem:
            net.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        self.feature_dim: int = net.fc.in_features
        net.fc = nn.Identity()
        self.net = net
        self.cifar_stem = cifar_stem

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, H, W) → (B, feature_dim)."""
        return self.net(x)


def build_backbone(arch: str = "convnet", image_size: int = 32, *, channels_last: bool = False) -> nn.Module:
    """Build an encoder by name.

    Args:
        arch: one of ``convnet``, ``resnet18``, ``resnet34``, ``resnet50``.
        image_size: input side in pixels; ResNets use the CIFAR stem for images ≤ 64 px and
            the ImageNet stem above.
        channels_last: store conv weights in NHWC (faster with AMP on tensor-core GPUs; feed
            NHWC inputs too, e.g. ``x.contiguous(memory_format=torch.channels_last)``).

    Returns:
        an ``nn.Module`` with attribute ``feature_dim``.
    """
    if arch == "convnet":
        model: nn.Module = SmallConvNet()
    elif arch in ARCHS:
        model = ResNetBackbone(arch, cifar_stem=image_size <= 64)
    else:
        raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}.")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model

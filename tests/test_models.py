"""Backbones and heads: shapes, the CIFAR stem, channels_last, validation."""

from __future__ import annotations

import pytest
import torch

from cssl_edu.models import PredictionHead, ProjectionHead, ResNetBackbone, SmallConvNet, build_backbone


@pytest.mark.parametrize(
    ("arch", "dim"), [("convnet", 256), ("resnet18", 512), ("resnet34", 512), ("resnet50", 2048)]
)
def test_backbones_map_images_to_feature_dim(arch: str, dim: int) -> None:
    m = build_backbone(arch, 32).eval()
    with torch.no_grad():
        h = m(torch.randn(2, 3, 32, 32))
    assert h.shape == (2, dim) and m.feature_dim == dim


def test_cifar_stem_keeps_resolution_and_imagenet_stem_above_64px() -> None:
    small = build_backbone("resnet18", 32)
    assert isinstance(small, ResNetBackbone) and small.cifar_stem
    assert small.net.conv1.kernel_size == (3, 3) and small.net.conv1.stride == (1, 1)
    assert isinstance(small.net.maxpool, torch.nn.Identity)
    # stage 1 output keeps 32x32 with the CIFAR stem
    feats = {}

    def hook(module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        feats["l1"] = output.shape

    small.net.layer1.register_forward_hook(hook)
    small.eval()(torch.randn(1, 3, 32, 32))
    assert feats["l1"][-2:] == (32, 32)
    big = build_backbone("resnet18", 96)
    assert not big.cifar_stem and big.net.conv1.kernel_size == (7, 7)


def test_channels_last_gives_same_output() -> None:
    torch.manual_seed(0)
    a = build_backbone("convnet").eval()
    b = build_backbone("convnet", channels_last=True).eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(
            a(x), b(x.contiguous(memory_format=torch.channels_last)), rtol=1e-4, atol=1e-5
        )


def test_projection_head_layers() -> None:
    h = ProjectionHead(256, 512, 64, num_layers=2)
    layers = [type(m).__name__ for m in h.net]
    assert layers == ["Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert h(torch.randn(5, 256)).shape == (5, 64)
    assert ProjectionHead(256, 512, 64, num_layers=3)(torch.randn(5, 256)).shape == (5, 64)
    assert len(ProjectionHead(256, out_dim=32, num_layers=1).net) == 1
    assert PredictionHead(64, 16)(torch.randn(3, 64)).shape == (3, 64)


def test_bad_model_arguments() -> None:
    with pytest.raises(ValueError, match="unknown arch"):
        build_backbone("vit")
    with pytest.raises(ValueError, match="num_layers"):
        ProjectionHead(8, num_layers=0)
    with pytest.raises(ValueError, match="widths"):
        SmallConvNet(widths=())

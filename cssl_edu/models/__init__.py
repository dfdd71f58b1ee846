"""Encoders (backbones) and heads."""

from cssl_edu.models.backbones import ARCHS, ResNetBackbone, SmallConvNet, build_backbone
from cssl_edu.models.heads import PredictionHead, ProjectionHead

__all__ = ["ARCHS", "PredictionHead", "ProjectionHead", "ResNetBackbone", "SmallConvNet", "build_backbone"]

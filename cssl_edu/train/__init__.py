"""The trainer, its optimisers and schedule, and atomic checkpoints."""

from cssl_edu.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from cssl_edu.train.optim import LARS, build_optimizer, warmup_cosine
from cssl_edu.train.trainer import (
    History,
    Trainer,
    backbone_from_checkpoint,
    build_model,
    load_splits,
    resolve_device,
)

__all__ = [
    "LARS",
    "CheckpointError",
    "History",
    "Trainer",
    "backbone_from_checkpoint",
    "build_model",
    "build_optimizer",
    "load_checkpoint",
    "load_splits",
    "resolve_device",
    "save_checkpoint",
    "warmup_cosine",
]

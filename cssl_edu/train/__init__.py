"""The trainer, its optimisers and schedule, and atomic checkpoints."""

from cssl_edu.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from cssl_edu.train.optim import LARS, build_optimizer, warmup_cosine
from cssl_edu.train.trainer import (
    History,
    RunWriteError,
    Trainer,
    backbone_from_checkpoint,
    build_model,
    check_options,
    existing_run_files,
    load_splits,
    resolve_device,
)

__all__ = [
    "LARS",
    "CheckpointError",
    "History",
    "RunWriteError",
    "Trainer",
    "backbone_from_checkpoint",
    "build_model",
    "build_optimizer",
    "check_options",
    "existing_run_files",
    "load_checkpoint",
    "load_splits",
    "resolve_device",
    "save_checkpoint",
    "warmup_cosine",
]

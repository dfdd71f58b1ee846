"""Train the encoders the analyses compare, through the package's own Trainer, CPU-profile sized.

:func:`train_encoder` builds a CPU-profile config (``make_config("cpu", ...)``) for a method and
an augmentation set from :data:`AUGMENTATIONS`, runs :class:`~cssl_edu.train.Trainer` on the
given images in a temporary directory, and returns the trained backbone. The supervised encoder
is the ``"supervised"`` method (cross-entropy on one augmented view, same backbone, same
optimiser); :func:`random_encoder` is the untrained baseline.
"""

from __future__ import annotations

import copy
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from cssl_edu._validation import check_positive_int
from cssl_edu.config import DATASET_DEFAULTS, make_config
from cssl_edu.data import ImageDataset
from cssl_edu.methods import METHODS, Method
from cssl_edu.models import build_backbone
from cssl_edu.train import History, Trainer, build_model

#: augmentation sets by name: overrides of the SimCLR recipe (on top of Shapes' crop scale 0.5-1)
AUGMENTATIONS: dict[str, dict[str, Any]] = {
    "default": {},
    "no_color": {"jitter_p": 0.0, "grayscale_p": 0.0},
    "no_crop": {"crop": False},
    "crop_only": {"jitter_p": 0.0, "grayscale_p": 0.0, "flip_p": 0.0},
}
#: per-method settings the CPU profile does not have (SupCon's usual temperature)
METHOD_SETTINGS: dict[str, dict[str, Any]] = {"supcon": {"temperature": 0.1}}


@dataclass
class TrainedEncoder:
    """A trained backbone with what produced it."""

    backbone: nn.Module
    method: Method
    history: History
    seconds: float
    config: dict[str, Any] = field(default_factory=dict)


def augment_kwargs(augment: str | Mapping[str, Any]) -> dict[str, Any]:
    """The ``augment_kwargs`` of a config for an augmentation set (a name in :data:`AUGMENTATIONS` or a dict)."""
    if isinstance(augment, str):
        if augment not in AUGMENTATIONS:
            raise ValueError(
                f"unknown augmentation set {augment!r}; choose one of {', '.join(AUGMENTATIONS)} or pass a dict."
            )
        augment = AUGMENTATIONS[augment]
    if not isinstance(augment, Mapping):
        raise ValueError(
            f"augment must be a name or a dict of SimCLRAugment arguments, got {type(augment).__name__}."
        )
    return {**DATASET_DEFAULTS["shapes"]["augment_kwargs"], **augment}


def random_encoder(arch: str = "convnet", image_size: int = 32, seed: int = 0) -> nn.Module:
    """An untrained backbone with a seeded initialisation, in eval mode (``image_size`` a positive int)."""
    image_size = check_positive_int(image_size, "image_size")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_backbone(arch, image_size).eval()


def train_encoder(
    method: str,
    train_set: ImageDataset,
    *,
    augment: str | Mapping[str, Any] = "default",
    epochs: int = 4,
    batch_size: int = 64,
    lr: float = 5e-3,
    seed: int = 0,
    device: str = "cpu",
    wrap: Callable[[Method], Method] | None = None,
    **overrides: Any,
) -> TrainedEncoder:
    """Train ``method`` on ``train_set`` with the CPU profile and return its backbone.

    Args:
        method: a registered method name (``"simclr"``, ``"supcon"``, ``"supervised"``, ...).
        train_set: the training images (and labels, for supervised methods).
        augment: augmentation set (see :func:`augment_kwargs`).
        epochs, batch_size, lr, seed, device: training settings, the CPU profile's otherwise. The
            defaults suit short runs (2,048 Shapes images: about 30 s on a busy 2-core CPU): more,
            smaller steps at a higher rate than the profile's 256 / 2e-3, which needs many more
            images to move away from its random initialisation.
        wrap: optional function that wraps the built method (e.g. to paste a shared feature into
            the views, :mod:`~cssl_edu.analysis.suppression`).
        **overrides: further :class:`~cssl_edu.config.TrainConfig` fields.

    Returns:
        :class:`TrainedEncoder`; ``backbone`` is in eval mode.
    """
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; available: {', '.join(sorted(METHODS))}.")
    if not isinstance(train_set, ImageDataset):
        raise ValueError(
            f"train_set must be an ImageDataset (e.g. make_shapes(...)), got {type(train_set).__name__}."
        )
    if len(train_set) < batch_size:
        raise ValueError(
            f"train_set has {len(train_set)} images, fewer than batch_size={batch_size}; lower batch_size or add images."
        )
    settings = {**METHOD_SETTINGS.get(method, {}), **overrides}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = make_config(
            "cpu",
            method=method,
            n_train=len(train_set),
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            device=device,
            knn_every=0,
            out_dir=tmp,
            augment_kwargs=augment_kwargs(augment),
            **settings,
        )
        torch.manual_seed(seed)
        model = build_model(cfg, len(train_set), max(1, len(train_set.classes)))
        if wrap is not None:
            model = wrap(model)
        trainer = Trainer(cfg, method=model, train_set=train_set, progress=False)
        t0 = time.perf_counter()
        history = trainer.fit()
        seconds = time.perf_counter() - t0
    backbone = copy.deepcopy(trainer.method.backbone).eval()
    return TrainedEncoder(backbone, trainer.method, history, seconds, cfg.to_dict())

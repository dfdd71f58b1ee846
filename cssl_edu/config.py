"""Training configuration and the two run profiles.

A profile is a set of defaults sized for a machine:

- ``cpu``: a small ConvNet on a few thousand built-in Shapes images — minutes on a laptop;
  what the notebooks and CI use.
- ``gpu``: ResNet-18 (CIFAR stem) on full CIFAR-10 with LARS, bf16 autocast and
  ``channels_last`` — the SimCLR recipe at course scale.

The profile is chosen by the device found (CUDA → ``gpu``) unless ``CSSL_EDU_PROFILE`` says
otherwise. Values from a config file (YAML or JSON) override the profile; command-line flags
override the file.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

PROFILES: dict[str, dict[str, Any]] = {
    "cpu": {
        # measured on a 2-core CPU (SimCLR, Shapes): kNN 69 % vs 36 % for the random-init
        # network after 12 epochs of 8,192 images, about a minute when the machine is quiet
        "arch": "convnet",
        "dataset": "shapes",
        "n_train": 8192,
        "n_test": 1000,
        "epochs": 12,
        "batch_size": 256,
        "optimizer": "adamw",
        "lr": 2e-3,
        "weight_decay": 1e-4,
        "warmup_epochs": 1.0,
        "temperature": 0.2,
        "proj_hidden_dim": 512,
        "proj_out_dim": 128,
        "amp": False,
        "knn_bank_size": 8192,
    },
    "gpu": {
        "arch": "resnet18",
        "dataset": "cifar10",
        "n_train": None,
        "n_test": None,
        "epochs": 200,
        "batch_size": 512,
        "optimizer": "lars",
        "lr": None,  # 0.3 × batch/256, the SimCLR paper's LARS rule
        "weight_decay": 1e-6,
        "warmup_epochs": 10.0,
        "proj_hidden_dim": 2048,
        "proj_out_dim": 128,
        "amp": True,
        "channels_last": True,
        "knn_bank_size": None,
    },
}


#: per-dataset defaults applied when the run does not set the key itself. Shapes' objects
#: cover a fraction of a 32 px image, so SimCLR's 0.2-1 crops often cut the object out and
#: the encoder learns backgrounds instead (measured: kNN 28 % vs 51 % with 0.5-1 crops).
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "shapes": {"augment_kwargs": {"crop_scale": (0.5, 1.0)}},
}


def default_profile() -> str:
    """``$CSSL_EDU_PROFILE`` if set, else ``gpu`` when CUDA is available, else ``cpu``."""
    env = os.environ.get("CSSL_EDU_PROFILE", "").strip().lower()
    if env:
        if env not in PROFILES:
            raise ValueError(f"CSSL_EDU_PROFILE={env!r} is not a profile; use one of {', '.join(PROFILES)}.")
        return env
    return "gpu" if torch.cuda.is_available() else "cpu"


@dataclass
class TrainConfig:
    """Everything a run needs; saved inside every checkpoint so a run can be resumed or evaluated."""

    method: str = "simclr"
    dataset: str = "shapes"
    data_root: str = "data"
    download: bool = False
    n_train: int | None = 8192
    n_test: int | None = 1000
    image_size: int = 32
    arch: str = "convnet"
    epochs: int = 12
    batch_size: int = 256
    optimizer: str = "adamw"
    lr: float | None = 2e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    warmup_epochs: float = 1.0
    temperature: float = 0.2
    proj_hidden_dim: int = 512
    proj_out_dim: int = 128
    strength: float = 1.0
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    sync_bn: bool = False
    seed: int = 0
    data_seed: int | None = None
    device: str = "auto"
    knn_k: int = 200
    knn_temperature: float = 0.1
    knn_every: int = 1
    knn_bank_size: int | None = 8192
    out_dir: str = "runs/simclr"
    save_every_steps: int = 0
    log_format: str = "jsonl"
    profile: str = "cpu"
    method_kwargs: dict[str, Any] = field(default_factory=dict)
    augment_kwargs: dict[str, Any] = field(default_factory=dict)
    #: options of the dataset itself, e.g. Shapes' ``{"bias": 0.99}`` (a colour shortcut in the
    #: training split) or ``{"scene": "scene"}`` (small objects among distractors); every split
    #: is loaded with them (:func:`cssl_edu.data.load_dataset`'s ``**kw``)
    dataset_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("n_train", "n_test"):  # "all" (e.g. --n-train all) means every image: None
            if isinstance(getattr(self, name), str) and getattr(self, name).strip().lower() == "all":
                setattr(self, name, None)
        errors = []

        def need(ok: bool, message: str) -> None:
            if not ok:
                errors.append(message)

        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def finite(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        need(is_int(self.epochs) and self.epochs >= 1, f"epochs must be an int ≥ 1, got {self.epochs!r}")
        need(
            is_int(self.batch_size) and self.batch_size >= 2,
            f"batch_size must be an int ≥ 2 (contrastive losses need negatives), got {self.batch_size!r}",
        )
        for name in ("n_train", "n_test", "knn_bank_size"):
            v = getattr(self, name)
            need(v is None or (is_int(v) and v >= 1), f"{name} must be an int ≥ 1 or 'all', got {v!r}")
        need(
            is_int(self.image_size) and self.image_size >= 8,
            f"image_size must be an int ≥ 8, got {self.image_size!r}",
        )
        need(
            finite(self.temperature) and self.temperature > 0,
            f"temperature must be a finite number > 0, got {self.temperature!r}",
        )
        need(
            finite(self.knn_temperature) and self.knn_temperature > 0,
            f"knn_temperature must be a finite number > 0, got {self.knn_temperature!r}",
        )
        need(is_int(self.knn_k) and self.knn_k >= 1, f"knn_k must be an int ≥ 1, got {self.knn_k!r}")
        need(
            is_int(self.knn_every) and self.knn_every >= 0,
            f"knn_every must be an int ≥ 0, got {self.knn_every!r}",
        )
        need(
            is_int(self.save_every_steps) and self.save_every_steps >= 0,
            f"save_every_steps must be an int ≥ 0, got {self.save_every_steps!r}",
        )
        need(
            self.optimizer in ("sgd", "lars", "adamw"),
            f"optimizer must be sgd, lars or adamw, got {self.optimizer!r}",
        )
        need(self.log_format in ("jsonl", "csv"), f"log_format must be jsonl or csv, got {self.log_format!r}")
        need(
            self.lr is None or (finite(self.lr) and self.lr > 0),
            f"lr must be a finite number > 0, got {self.lr!r}",
        )
        need(
            finite(self.weight_decay) and self.weight_decay >= 0,
            f"weight_decay must be a finite number ≥ 0, got {self.weight_decay!r}",
        )
        need(
            finite(self.momentum) and 0 <= self.momentum < 1,
            f"momentum must be in [0, 1), got {self.momentum!r}",
        )
        need(
            finite(self.warmup_epochs) and self.warmup_epochs >= 0,
            f"warmup_epochs must be a finite number ≥ 0, got {self.warmup_epochs!r}",
        )
        need(
            finite(self.strength) and self.strength >= 0,
            f"strength must be a finite number ≥ 0, got {self.strength!r}",
        )
        for name in ("proj_hidden_dim", "proj_out_dim"):
            v = getattr(self, name)
            need(is_int(v) and v >= 1, f"{name} must be an int ≥ 1, got {v!r}")
        need(is_int(self.seed) and self.seed >= 0, f"seed must be an int ≥ 0, got {self.seed!r}")
        need(
            self.data_seed is None or (is_int(self.data_seed) and self.data_seed >= 0),
            f"data_seed must be an int ≥ 0 or None (None: the same as seed), got {self.data_seed!r}",
        )
        for name in ("method_kwargs", "augment_kwargs", "dataset_kwargs"):
            v = getattr(self, name)
            need(isinstance(v, dict), f"{name} must be a mapping of option: value (a JSON object), got {v!r}")
        if errors:
            raise ValueError("invalid training config: " + "; ".join(errors) + ".")

    @property
    def base_lr(self) -> float:
        """The learning rate to use: ``lr`` if given, else the optimiser's rule scaled by batch size."""
        if self.lr is not None:
            return self.lr
        return {"lars": 0.3, "sgd": 0.06, "adamw": 1e-3}[self.optimizer] * (
            self.batch_size / 256 if self.optimizer != "adamw" else 1.0
        )

    @property
    def dataset_seed(self) -> int:
        """The seed of the data (Shapes generation, random subsets): ``data_seed``, else ``seed``."""
        return self.seed if self.data_seed is None else self.data_seed

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        unknown = set(d) - cls.field_names()
        if unknown:
            raise ValueError(
                f"unknown config key(s): {', '.join(sorted(unknown))}; valid keys: {', '.join(sorted(cls.field_names()))}."
            )
        return cls(**d)


def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a YAML (``.yml``/``.yaml``) or JSON config file into a dict of TrainConfig fields."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"config file {p} not found.")
    text = p.read_text()
    if p.suffix.lower() in (".yml", ".yaml"):
        import yaml

        data = yaml.safe_load(text) or {}
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"config file {p} must hold a mapping of option: value, got {type(data).__name__}.")
    return {k.replace("-", "_"): v for k, v in data.items()}


def make_config(profile: str | None = None, file: str | None = None, **overrides: Any) -> TrainConfig:
    """Profile defaults ← config file ← explicit overrides (``None`` values are ignored)."""
    profile = profile or default_profile()
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}.")
    d: dict[str, Any] = {"profile": profile, **PROFILES[profile]}
    if file:
        d.update(load_config_file(file))
    d.update({k: v for k, v in overrides.items() if v is not None})
    for k, v in DATASET_DEFAULTS.get(d.get("dataset", ""), {}).items():
        d.setdefault(k, v)
    if "out_dir" not in d or d["out_dir"] is None:
        d["out_dir"] = f"runs/{d.get('method', 'simclr')}-{d.get('dataset', 'shapes')}"
    return TrainConfig.from_dict(d)

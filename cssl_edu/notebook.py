"""Helpers the course notebooks share: set-up, pre-load cells, timing, image grids.

A notebook starts with::

    from cssl_edu.notebook import setup, pretrained, timer, show_images
    env = setup()            # seeds, device, profile (cpu on a laptop/CI, gpu on CUDA), a summary table

and a section that needs a trained encoder uses a **pre-load cell**::

    trainer = pretrained("simclr-shapes", method="simclr", epochs=env.scale(15, 200))

which loads ``checkpoints/simclr-shapes-<profile>.pt`` when it exists and trains (then saves)
otherwise, so each section can run on its own.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from cssl_edu.config import default_profile, make_config


@dataclass(frozen=True)
class NotebookEnv:
    """What a notebook needs to know about where it runs."""

    profile: str  # "cpu" or "gpu"
    device: torch.device
    seed: int
    ci: bool  # running under CI / nbval

    @property
    def quick(self) -> bool:
        """True in the CPU profile: notebooks use their small settings."""
        return self.profile == "cpu"

    def scale(self, cpu: Any, gpu: Any) -> Any:
        """Pick the CPU-profile or the GPU-profile value of a setting."""
        return cpu if self.quick else gpu


def _in_ci() -> bool:
    return bool(os.environ.get("CI")) or "PYTEST_CURRENT_TEST" in os.environ


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - seeds the legacy global RNG that user code may use
    torch.manual_seed(seed)


def setup(seed: int = 0, *, verbose: bool = True) -> NotebookEnv:
    """Seed everything, pick the profile and device, set plotting defaults, print a summary."""
    seed_everything(seed)
    profile = default_profile()
    device = torch.device("cuda" if profile == "gpu" and torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    try:
        import matplotlib.pyplot as plt

        plt.rcParams.update(
            {"figure.dpi": 90, "axes.grid": True, "grid.alpha": 0.3, "figure.figsize": (6, 4)}
        )
    except ImportError:  # pragma: no cover
        pass
    env = NotebookEnv(profile=profile, device=device, seed=seed, ci=_in_ci())
    if verbose:
        from cssl_edu import __version__

        name = (
            torch.cuda.get_device_name(device)
            if device.type == "cuda"
            else f"CPU ({torch.get_num_threads()} threads)"
        )
        print(f"cssl-edu {__version__} | torch {torch.__version__} | device: {name} | profile: {profile}")
    return env


@contextmanager
def timer(label: str = "took") -> Iterator[None]:
    """``with timer("training"):`` prints the wall time of the block."""
    t0 = time.perf_counter()
    yield
    print(f"{label}: {time.perf_counter() - t0:.1f} s")


def checkpoint_dir() -> Path:
    """Where pre-load cells keep checkpoints: ``$CSSL_EDU_CHECKPOINTS`` or ``./checkpoints``."""
    return Path(os.environ.get("CSSL_EDU_CHECKPOINTS", "checkpoints"))


def pretrained(
    name: str, *, profile: str | None = None, retrain: bool = False, progress: bool = True, **overrides: Any
):
    """Pre-load cell: return a :class:`~cssl_edu.train.Trainer` whose model is trained.

    Loads ``checkpoint_dir()/<name>-<profile>/last.pt`` if it holds a finished run with the same
    settings; otherwise trains with ``make_config(profile, **overrides)`` (which saves there).

    Args:
        name: a label for the run, e.g. ``"simclr-shapes"``.
        profile: ``cpu``/``gpu`` (default: the one found).
        retrain: ignore an existing checkpoint.
        **overrides: TrainConfig fields (method, dataset, epochs, …).
    """
    from cssl_edu.train import CheckpointError, Trainer

    profile = profile or default_profile()
    out = checkpoint_dir() / f"{name}-{profile}"
    cfg = make_config(profile, out_dir=str(out), **overrides)
    trainer = Trainer(cfg, progress=progress)
    if not retrain and trainer.last_checkpoint.exists():
        try:
            trainer.load(trainer.last_checkpoint)
        except CheckpointError as e:
            print(f"ignoring {trainer.last_checkpoint}: {e}")
            trainer = Trainer(cfg, progress=progress)
        else:
            if trainer.step >= trainer.total_steps:
                print(f"loaded {trainer.last_checkpoint} ({trainer.step} steps)")
                return trainer
    with timer(f"trained {name}"):
        trainer.fit(resume=not retrain)
    return trainer


def show_images(
    images: Tensor, nrow: int = 8, title: str | None = None, ax: Any = None, labels: list[str] | None = None
):
    """Show a grid of images: uint8 (N, 3, H, W), or float (N, 3, H, W) in [0, 1]."""
    import matplotlib.pyplot as plt
    import torchvision

    x = images.detach().cpu()
    if x.dtype == torch.uint8:
        x = x.float() / 255
    grid = torchvision.utils.make_grid(x.clamp(0, 1), nrow=nrow, padding=2, pad_value=1.0)
    if ax is None:
        _, ax = plt.subplots(figsize=(min(12, 1.3 * nrow), 1.3 * ((len(x) + nrow - 1) // nrow) + 0.4))
    ax.imshow(grid.permute(1, 2, 0).numpy())
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    if labels is not None:
        ax.set_xlabel(", ".join(labels))
    return ax


def denormalize(x: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """Undo per-channel normalisation of (N, 3, H, W) float images, for display."""
    m = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
    return (x * s + m).clamp(0, 1)

"""Input checks shared by the losses, methods and data code.

Every public function validates its inputs with these helpers so that a learner who passes
the wrong thing gets one clear sentence saying what was wrong and what to do, instead of a
shape error from deep inside ``torch``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def check_temperature(temperature: float, name: str = "temperature") -> float:
    """Return ``temperature`` as a float, or raise ``ValueError`` unless it is finite and > 0."""
    if isinstance(temperature, Tensor):
        if temperature.numel() != 1:
            raise ValueError(f"{name} must be a scalar, got a tensor of shape {tuple(temperature.shape)}.")
        temperature = float(temperature)
    try:
        t = float(temperature)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {temperature!r}.") from None
    if not math.isfinite(t) or t <= 0:
        raise ValueError(
            f"{name} must be a finite number > 0 (typical values 0.05-1.0), got {temperature!r}."
        )
    return t


def check_matrix(z: Tensor, name: str, *, min_rows: int = 1) -> None:
    """Check that ``z`` is a 2-D floating tensor of shape (N, d) with N >= ``min_rows``."""
    if not isinstance(z, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (N, d), got {type(z).__name__}.")
    if z.dim() != 2:
        raise ValueError(
            f"{name} must be 2-D with shape (N, d) (batch, embedding dim), got shape {tuple(z.shape)}. "
            "Flatten the features first, e.g. z.flatten(1)."
        )
    if not z.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {z.dtype}.")
    if z.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows (samples), got shape {tuple(z.shape)}.")
    if z.shape[1] < 1:
        raise ValueError(f"{name} has an empty embedding dimension: shape {tuple(z.shape)}.")


def check_finite(z: Tensor, name: str) -> None:
    """Raise ``ValueError`` if ``z`` holds NaN or ±inf (costs one reduction, no host sync on CPU)."""
    if not bool(torch.isfinite(z).all()):
        raise ValueError(
            f"{name} contains NaN or inf values; check the encoder output (learning rate too high?) "
            "or the input data."
        )


def check_same_shape(a: Tensor, b: Tensor, name_a: str, name_b: str) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape (one row per image in each view), "
            f"got {tuple(a.shape)} and {tuple(b.shape)}."
        )

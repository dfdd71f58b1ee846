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


def check_positive_int(value: object, name: str) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` unless it is an integer ≥ 1.

    ``bool`` and non-integral floats are refused (``2.0`` is accepted as 2).
    """
    ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok and isinstance(value, float) and value.is_integer():
        value, ok = int(value), True
    if not ok or int(value) < 1:  # type: ignore[call-overload]
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    return int(value)  # type: ignore[call-overload]


def check_nonnegative_int(value: object, name: str) -> int:
    """Return ``value`` as an int, or raise ``ValueError`` unless it is an integer ≥ 0."""
    ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok and isinstance(value, float) and value.is_integer():
        value, ok = int(value), True
    if not ok or int(value) < 0:  # type: ignore[call-overload]
        raise ValueError(f"{name} must be a non-negative int, got {value!r}.")
    return int(value)  # type: ignore[call-overload]


def check_number(
    value: object, name: str, *, low: float | None = None, high: float | None = None, low_open: bool = False
) -> float:
    """Return ``value`` as a float, or raise ``ValueError`` unless it is finite and in range.

    ``low`` is inclusive (exclusive with ``low_open=True``); ``high`` is inclusive.
    """
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}.") from None
    if isinstance(value, bool) or not math.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    if low is not None and (v <= low if low_open else v < low):
        raise ValueError(f"{name} must be {'>' if low_open else '≥'} {low}, got {value!r}.")
    if high is not None and v > high:
        raise ValueError(f"{name} must be ≤ {high}, got {value!r}.")
    return v


def l2_normalize(z: Tensor, dim: int = -1) -> Tensor:
    """Rows of ``z`` scaled to unit L2 norm, computed in float32 and returned in ``z``'s dtype.

    ``F.normalize`` in float16 fails twice: its ``eps = 1e-12`` underflows to 0, so a zero
    row becomes 0/0 = NaN, and a row with norm > 65504 has norm ``inf`` and becomes 0.
    Normalising in float32 (float64 stays float64) avoids both; a zero row stays zero.
    """
    if z.dtype in (torch.float16, torch.bfloat16):
        return torch.nn.functional.normalize(z.float(), dim=dim).to(z.dtype)
    return torch.nn.functional.normalize(z, dim=dim)

"""Input checks shared by the losses, methods and data code.

Every public function validates its inputs with these helpers so that a learner who passes
the wrong thing gets one clear sentence saying what was wrong and what to do, instead of a
shape error from deep inside ``torch``.
"""

from __future__ import annotations

import math

import numpy as np
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


def check_has_data(x: Tensor, name: str) -> None:
    """Raise ``ValueError`` if ``x`` lives on the ``meta`` device (a shape without values)."""
    if x.device.type == "meta":
        raise ValueError(
            f"{name} is on the 'meta' device, which holds a shape but no values; "
            "create it on 'cpu' or 'cuda' instead (e.g. torch.randn(..., device='cpu'))."
        )


def check_same_device(*named: tuple[str, Tensor | None]) -> None:
    """Raise ``ValueError`` unless every given tensor (``None`` is skipped) is on one device.

    ``named`` holds ``(argument name, tensor)`` pairs; the message names both arguments and
    both devices. Comparing ``device`` attributes costs nothing (no host sync).
    """
    first: tuple[str, Tensor] | None = None
    for name, x in named:
        if x is None:
            continue
        check_has_data(x, name)
        if first is None:
            first = (name, x)
        elif x.device != first[1].device:
            raise ValueError(
                f"{first[0]} is on {first[1].device} but {name} is on {x.device}; move them to one "
                f"device first, e.g. {name}.to({first[0]}.device)."
            )


def common_float_dtype(*tensors: Tensor | None) -> torch.dtype:
    """The floating dtype every given tensor promotes to (``None`` skipped), as ``torch.cat`` would.

    float16 with bfloat16 gives float32; anything with float64 gives float64.
    """
    dtype: torch.dtype | None = None
    for x in tensors:
        if x is not None:
            dtype = x.dtype if dtype is None else torch.promote_types(dtype, x.dtype)
    return dtype if dtype is not None else torch.get_default_dtype()


def check_matrix(z: Tensor, name: str, *, min_rows: int = 1) -> None:
    """Check that ``z`` is a 2-D floating tensor of shape (N, d) with N >= ``min_rows`` and d >= 1."""
    if not isinstance(z, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (N, d), got {type(z).__name__}.")
    check_has_data(z, name)
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
    check_has_data(z, name)
    if not bool(torch.isfinite(z).all()):
        raise ValueError(
            f"{name} contains NaN or inf values; check the encoder output (learning rate too high?) "
            "or the input data."
        )


def as_labels(labels: object, n: int | None, name: str, *, device: torch.device | None = None) -> Tensor:
    """``labels`` as an int64 tensor of shape ``(n,)`` (any length if ``n`` is None), or ``ValueError``.

    Accepts a tensor, a list/tuple of ints or a NumPy integer array (converted; a list is the
    obvious intent). Refuses float, complex and bool dtypes (``.long()`` them first if they are
    really class ids), a shape other than ``(n,)`` — ``(1,)`` or ``(n, 1)`` would broadcast into a
    meaningless result — and ids below −1 (−1 marks an unlabelled row). One reduction.
    """
    if isinstance(labels, (list, tuple, np.ndarray)):
        arr = np.asarray(labels)
        if arr.size == 0:
            arr = arr.astype(np.int64)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.integer)):
            raise ValueError(
                f"{name} must hold integer class ids (−1 = unlabelled), got a {type(labels).__name__} "
                f"of {arr.dtype}; pass e.g. torch.tensor([0, 1, 1])."
            )
        labels = torch.from_numpy(arr.astype(np.int64))
    if not isinstance(labels, Tensor):
        raise ValueError(
            f"{name} must be a torch.Tensor (or list) of shape ({n},) holding integer class ids, "
            f"got {type(labels).__name__}."
        )
    check_has_data(labels, name)
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer class ids, got dtype {labels.dtype}; use .long().")
    if labels.dim() != 1 or (n is not None and labels.shape[0] != n):
        raise ValueError(
            f"{name} must have shape ({'N' if n is None else n},) (one label per row), got {tuple(labels.shape)}; "
            "flatten it with .reshape(-1) if it holds one label per row."
        )
    if labels.numel() and int(labels.min()) < -1:
        raise ValueError(
            f"{name} must be class ids ≥ 0, or −1 for an unlabelled row; found {int(labels.min())}."
        )
    labels = labels.long()
    return labels if device is None else labels.to(device)


def as_indices(
    indices: object, n: int, size: int, name: str = "indices", *, device: torch.device | None = None
) -> Tensor:
    """``indices`` as an int64 tensor of shape ``(n,)`` with every entry in ``[0, size)``, or ``ValueError``.

    For dataset indices into a bank of ``size`` rows (a list of ints is accepted). One min/max.
    """
    idx = as_labels(indices, n, name)
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= size):
        raise ValueError(
            f"{name} must be dataset indices in [0, {size}) (one per image of the batch), "
            f"got values from {int(idx.min())} to {int(idx.max())}."
        )
    return idx if device is None else idx.to(device)


def as_bool_mask(
    mask: object, shape: tuple[int, ...], name: str, *, device: torch.device | None = None
) -> Tensor:
    """``mask`` as a bool tensor of ``shape``, or ``ValueError`` naming ``name``.

    A bool tensor is used as it is. An integer or float tensor is accepted only if every entry
    is 0 or 1 (a 0/1 mask; one reduction), anything else is refused rather than guessed at.
    """
    if not isinstance(mask, Tensor):
        raise ValueError(f"{name} must be a bool torch.Tensor of shape {shape}, got {type(mask).__name__}.")
    check_has_data(mask, name)
    if tuple(mask.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(mask.shape)}.")
    if mask.dtype != torch.bool:
        if mask.is_complex() or (mask.numel() and not bool(((mask == 0) | (mask == 1)).all())):
            raise ValueError(
                f"{name} must be a bool mask (True = leave out); a {mask.dtype} mask is accepted only "
                "if every entry is 0 or 1."
            )
        mask = mask.bool()
    return mask if device is None else mask.to(device)


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


def check_image_batch(x: Tensor, name: str = "x", *, finite: bool = False) -> None:
    """Raise ``ValueError`` unless ``x`` is a uint8 or floating (B, 3, H, W) tensor with B >= 1.

    With ``finite=True`` a float batch is also checked for NaN/inf (one reduction and a host
    sync, so the augmentation hot path leaves it off); uint8 cannot hold them.
    """
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (B, 3, H, W), got {type(x).__name__}.")
    check_has_data(x, name)
    if x.dim() != 4:
        hint = " Add a batch dimension with x.unsqueeze(0)." if x.dim() == 3 else ""
        raise ValueError(f"{name} must be 4-D (B, 3, H, W), got shape {tuple(x.shape)}.{hint}")
    if x.shape[1] != 3:
        raise ValueError(
            f"{name} must have 3 (RGB) channels in dim 1, got shape {tuple(x.shape)}; "
            "images are channels-first (B, 3, H, W)."
        )
    if x.shape[0] < 1 or x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"{name} is empty: shape {tuple(x.shape)}.")
    if not (x.dtype == torch.uint8 or x.is_floating_point()):
        raise ValueError(f"{name} must be uint8 (0-255) or floating point (0-1), got dtype {x.dtype}.")
    if finite and x.is_floating_point():
        check_finite(x, name)


def check_module(module: object, name: str) -> torch.nn.Module:
    """Return ``module`` if it is a ``torch.nn.Module``, else raise ``ValueError`` naming ``name``."""
    if not isinstance(module, torch.nn.Module):
        raise ValueError(f"{name} must be a torch.nn.Module (an encoder), got {type(module).__name__}.")
    return module


def check_token_ids(tokens: object, name: str, vocab_size: int, *, dim: int | None = 2) -> Tensor:
    """Return ``tokens`` if it is an integer tensor of ``dim`` dimensions (any if None) with ids in
    ``[0, vocab_size)``; else raise ``ValueError`` naming ``name``. One min/max reduction.

    An out-of-range id would otherwise fail inside ``nn.Embedding`` ("index out of range in self").
    """
    if not isinstance(tokens, Tensor):
        raise ValueError(f"{name} must be an int64 tensor of word ids, got {type(tokens).__name__}.")
    check_has_data(tokens, name)
    if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer word ids, got dtype {tokens.dtype}; use .long().")
    if dim is not None and tokens.dim() != dim:
        raise ValueError(f"{name} must be {dim}-D, got shape {tuple(tokens.shape)}.")
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab_size):
        raise ValueError(
            f"{name} must be word ids in [0, {vocab_size}) (the vocabulary size), got values from "
            f"{int(tokens.min())} to {int(tokens.max())}."
        )
    return tokens.long()


def as_float_tensor(x: object, name: str, *, finite: bool = True) -> Tensor:
    """``x`` as a floating tensor: a list/tuple of numbers or a NumPy array is converted (float32).

    Raises ``ValueError`` naming ``name`` for anything else, for a tensor on the ``meta``
    device, and (with ``finite=True``, one reduction) for NaN/inf entries. Shape is not checked.
    """
    if isinstance(x, (list, tuple, np.ndarray)):
        try:
            x = torch.as_tensor(np.asarray(x, dtype=np.float32))
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a float tensor (or a nested list of numbers).") from None
    if not isinstance(x, Tensor):
        raise ValueError(f"{name} must be a float torch.Tensor, got {type(x).__name__}.")
    check_has_data(x, name)
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}; use .float().")
    if finite:
        check_finite(x, name)
    return x


def check_rows(rows: object, name: str = "rows", *, keys: tuple[str, ...] = ()) -> list:
    """``rows`` as a list of dicts (result rows), or ``ValueError`` naming ``name``.

    Refuses a str, a non-sequence, an empty sequence and any row that is not a mapping or lacks
    one of ``keys``. Costs one pass over the rows (tables are small).
    """
    from collections.abc import Mapping, Sequence

    if isinstance(rows, (str, bytes)) or not isinstance(rows, Sequence):
        raise ValueError(f"{name} must be a list of dicts (one per result row), got {type(rows).__name__}.")
    if len(rows) == 0:
        raise ValueError(f"{name} is empty: nothing to show.")
    for r in rows:
        if not isinstance(r, Mapping):
            raise ValueError(
                f"{name} must be a list of dicts (one per result row); found a {type(r).__name__}."
            )
        missing = [k for k in keys if k not in r]
        if missing:
            raise ValueError(
                f"every row of {name} needs the keys {list(keys)}; row {dict(r)!r} lacks {missing}."
            )
    return list(rows)

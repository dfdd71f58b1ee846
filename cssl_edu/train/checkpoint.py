"""Checkpoints that are written atomically and loaded safely.

- **Atomic**: the state is written to a temporary file in the same folder, flushed to disk,
  then renamed over the target with ``os.replace`` — a crash mid-write leaves the previous
  checkpoint intact, never a truncated one. A temporary file left by a killed process is
  removed by :func:`remove_stale_temp_files` when the next run starts. The file gets the
  usual permissions (``0666`` less the umask, like every other output), not ``mkstemp``'s ``0600``.
- **Safe to load**: ``torch.load(weights_only=True)`` (no arbitrary pickled code runs).
- **All or nothing**: before any tensor is copied into a model, every key and shape is
  compared with the model's own; a mismatch raises :class:`CheckpointError` listing the
  differences, so a model is never left half-loaded.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

FORMAT = "cssl-edu-checkpoint"
VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, or does not match the model it is loaded into."""


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``state`` (tensors, dicts, lists, numbers, strings) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "version": VERSION, **state}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    """The process's file-creation mask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def remove_stale_temp_files(path: str | os.PathLike[str]) -> list[Path]:
    """Delete the ``.<name>.*.tmp`` files that an interrupted :func:`save_checkpoint` of ``path`` left.

    A write killed mid-way (SIGKILL, power loss) never reaches its clean-up, so its temporary
    file stays; call this when a run starts (only one process writes a run's checkpoint).
    Returns the files removed.
    """
    path = Path(path)
    removed = []
    if path.parent.is_dir():
        for tmp in path.parent.glob(f".{path.name}.*.tmp"):
            if tmp.is_file():
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    return removed


def require_keys(
    state: dict[str, Any], keys: tuple[str, ...], path: str | os.PathLike[str], purpose: str
) -> None:
    """Raise :class:`CheckpointError` naming the entries of ``keys`` that ``state`` lacks."""
    missing = [k for k in keys if k not in state]
    if missing:
        raise CheckpointError(
            f"checkpoint {path} cannot be used to {purpose}: it has no {', '.join(repr(k) for k in missing)} "
            "entry (it is damaged or was not written by `cssl-edu train`). Train it again "
            "(`cssl-edu train --overwrite ...`)."
        )


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`; raise a clear error if it is unusable."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found; train one with `cssl-edu train` first.")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, random bytes, a pickle with code in it, ...
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not a cssl-edu checkpoint ({type(e).__name__}: {e}). "
            "A run keeps only this one checkpoint, so there is no earlier one to go back to: train "
            "again (`cssl-edu train --overwrite ...` replaces it)."
        ) from e
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a cssl-edu checkpoint (no '{FORMAT}' marker).")
    if state.get("version", 0) > VERSION:
        raise CheckpointError(
            f"{path} was written by a newer cssl-edu (format version {state['version']} > {VERSION}); upgrade cssl-edu."
        )
    return state


def check_state_dict(model: nn.Module, state_dict: dict[str, torch.Tensor], what: str = "model") -> None:
    """Raise :class:`CheckpointError` unless ``state_dict`` has exactly the model's keys and shapes."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
        for k, v in own.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:5]}{' …' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:5]}{' …' if len(unexpected) > 5 else ''}")
        if shapes:
            parts.append("shape mismatches " + "; ".join(shapes[:5]))
        raise CheckpointError(
            f"the checkpoint does not match this {what} ({', '.join(parts)}). Was it trained with a "
            "different --arch, --method or head size? Nothing was loaded."
        )


def load_state_dict_strict(
    model: nn.Module, state_dict: dict[str, torch.Tensor], what: str = "model"
) -> None:
    """Check every key and shape first, then load: all or nothing."""
    check_state_dict(model, state_dict, what)
    model.load_state_dict(state_dict, strict=True)

"""The interface every method implements, and the registry the trainer and CLI use.

A method owns its encoder (``backbone``), its heads and its loss. The trainer hands it the
augmented views of a batch; the method returns a dict with a scalar ``"loss"`` (and any
metrics worth logging). Methods with state outside the gradient step (momentum encoders,
queues, memory banks) update it in :meth:`Method.on_train_step_end`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from cssl_edu._validation import check_has_data, check_same_device

METHODS: dict[str, Callable[..., Method]] = {}


class Method(nn.Module):
    """Base class: ``backbone`` + ``n_views`` + ``forward(views, labels, indices) -> {"loss": …}``."""

    n_views: int = 2
    #: whether ``forward`` needs the labels (supervised methods); the trainer then refuses unlabeled data
    needs_labels: bool = False

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        if not hasattr(backbone, "feature_dim"):
            raise ValueError("backbone must expose .feature_dim (use cssl_edu.models.build_backbone).")
        self.backbone = backbone
        #: the epoch in progress (0-based), set by the trainer; methods with warm-ups read it
        self.current_epoch = 0

    def forward(
        self, views: list[Tensor], labels: Tensor, indices: Tensor
    ) -> dict[str, Tensor]:  # pragma: no cover
        raise NotImplementedError

    #: every view has the same shape (SwAV's multi-crop sets this False)
    same_size_views: bool = True

    def on_train_step_end(self, step: int, progress: float) -> None:
        """Called after each optimiser step; ``progress`` ∈ [0, 1] is the fraction of training done."""

    def make_views(
        self, images: Tensor, augment: nn.Module, generator: torch.Generator | None = None
    ) -> list[Tensor]:
        """The views the trainer feeds to :meth:`forward`: ``n_views`` draws of ``augment`` (same size).

        Methods whose views differ (SwAV's multi-crop: large and small crops) override this.
        """
        return [augment(images, generator=generator) for _ in range(self.n_views)]

    def _check_views(self, views: list[Tensor]) -> None:
        """``views``: a list of ``n_views`` float (B, C, H, W) tensors on one device; no host sync.

        Same-size views must share one shape (methods with multi-crop views check their own).
        """
        if not isinstance(views, (list, tuple)) or not all(isinstance(v, Tensor) for v in views):
            raise ValueError(
                f"views must be a list of {self.n_views} image tensors (B, C, H, W), got {type(views).__name__}."
            )
        if len(views) != self.n_views:
            raise ValueError(f"{type(self).__name__} expects {self.n_views} views, got {len(views)}.")
        for i, v in enumerate(views):
            check_has_data(v, f"views[{i}]")
            if v.dim() != 4 or not v.is_floating_point() or v.shape[0] < 1:
                raise ValueError(
                    f"views[{i}] must be a float image batch (B, C, H, W) with B ≥ 1 (augmented, normalised), "
                    f"got dtype {v.dtype} and shape {tuple(v.shape)}."
                )
        check_same_device(*((f"views[{i}]", v) for i, v in enumerate(views)))
        if self.same_size_views and any(v.shape != views[0].shape for v in views):
            raise ValueError(
                f"views must all have one shape (B, C, H, W), got {[tuple(v.shape) for v in views]}."
            )


def register(name: str) -> Callable[[Callable[..., Method]], Callable[..., Method]]:
    """Class decorator: make a method available as ``build_method(name, …)`` and on the CLI."""

    def deco(cls: Callable[..., Method]) -> Callable[..., Method]:
        METHODS[name] = cls
        return cls

    return deco


def method_options(name: str) -> set[str]:
    """The keyword options the method registered as ``name`` accepts (besides ``backbone``).

    A subclass that forwards ``**kwargs`` to its parent (MoCHi → MoCo) accepts the parent's
    options too, so they are collected along the class hierarchy.
    """
    import inspect

    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; available: {', '.join(sorted(METHODS))}.")
    cls = METHODS[name]
    names: set[str] = set()
    for klass in inspect.getmro(cls) if isinstance(cls, type) else (cls,):
        init = klass.__dict__.get("__init__", None) if isinstance(cls, type) else cls
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        names |= {p.name for p in params if p.kind in kinds and p.name not in ("self", "backbone")}
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            break
    return names


def build_method(name: str, backbone: nn.Module, **kwargs: Any) -> Method:
    """Instantiate the method registered as ``name`` around ``backbone``.

    Keyword arguments the method does not take are ignored, so one config can drive any method
    (the trainer checks the user's own ``method_kwargs`` strictly before calling this).
    """
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; available: {', '.join(sorted(METHODS))}.")
    accepted = method_options(name)
    return METHODS[name](backbone, **{k: v for k, v in kwargs.items() if k in accepted and v is not None})

"""Dataset bias: a colour shortcut, and object-centric versus scene-centric training data.

**Spurious correlation.** Shapes' ``bias = p`` draws a training image's hue from its class's
band with probability ``p`` (:func:`~cssl_edu.data.make_shapes`), so colour predicts the class on
the training set; the test split draws hue uniformly, and :func:`~cssl_edu.data.bias_subsets`
splits it into *bias-aligned* images (hue in the class's band: the shortcut gives the right
answer) and *bias-conflicting* ones (the shortcut gives a wrong answer). An encoder is trained on
the biased images, a linear probe is fitted on its frozen features with the biased training
labels (a downstream classifier sees the same biased data), and the probe's accuracy is reported
on both test subsets; ``gap = aligned - conflicting`` measures how much the prediction leans on
colour. With ``C`` classes a pure colour classifier scores 1 on aligned and 0 on conflicting
images; a pure shape classifier scores the same on both.

**Object-centric vs scene-centric.** ``scene="object"`` draws a large centred object, ``"scene"``
a small object among distractors. Training on each and evaluating on both shows how much the
encoder relies on the object being large and central (Purushwalkam & Gupta 2020).

Every runner builds CPU-profile configs and trains through
:func:`~cssl_edu.analysis.training.train_encoder`; results are lists of dicts (table rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from cssl_edu._validation import check_positive_int
from cssl_edu.analysis.sweeps import encode
from cssl_edu.analysis.training import random_encoder, train_encoder
from cssl_edu.data import SCENES, ImageDataset, bias_subsets, make_shapes
from cssl_edu.eval import knn_accuracy, linear_probe

#: the colour-class correlations of the issue
BIASES: tuple[float, ...] = (0.0, 0.5, 0.9, 0.99)
#: compared encoders: name -> (method, augmentation set)
BIAS_METHODS: dict[str, tuple[str, str]] = {
    "simclr": ("simclr", "default"),
    "simclr_no_color": ("simclr", "no_color"),
    "supcon": ("supcon", "default"),
    "supervised": ("supervised", "default"),
}


def probe_accuracy(
    encoder: nn.Module,
    train_set: ImageDataset,
    test_set: ImageDataset,
    *,
    subsets: dict[str, torch.Tensor] | None = None,
    probe: str = "linear",
    probe_epochs: int = 50,
    seed: int = 0,
) -> dict[str, float]:
    """Accuracy of a probe on ``encoder``'s frozen features, fitted on ``train_set``, per test subset.

    Args:
        encoder: the backbone; inputs are normalised with ``train_set``'s pixel statistics.
        subsets: ``{name: test indices}``; the probe's accuracy on each is returned as
            ``"<name>_acc"`` beside the overall ``"acc"``.
        probe: ``"linear"`` (logistic regression, :func:`~cssl_edu.eval.linear_probe`) or ``"knn"``.

    Returns:
        ``{"acc": ..., "<subset>_acc": ...}`` in [0, 1].
    """
    if probe not in ("linear", "knn"):
        raise ValueError(f"probe must be 'linear' or 'knn', got {probe!r}.")
    for name, ds in (("train_set", train_set), ("test_set", test_set)):
        if not isinstance(ds, ImageDataset):
            raise ValueError(
                f"{name} must be an ImageDataset (e.g. make_shapes(...)), got {type(ds).__name__}."
            )
    kw = {"mean": train_set.mean, "std": train_set.std}
    f_train, f_test = encode(encoder, train_set.images, **kw), encode(encoder, test_set.images, **kw)
    y_train, y_test = train_set.labels.cpu(), test_set.labels.cpu()
    c = len(train_set.classes)
    out: dict[str, float] = {}
    for name, idx in {"": torch.arange(len(test_set)), **(subsets or {})}.items():
        key = f"{name}_acc" if name else "acc"
        idx = idx.cpu()
        if idx.numel() == 0:
            out[key] = float("nan")
        elif probe == "linear":
            # same seed, same training data: the same classifier, scored on each subset
            res = linear_probe(
                f_train, y_train, f_test[idx], y_test[idx], epochs=probe_epochs, num_classes=c, seed=seed
            )
            out[key] = res["test_acc"]
        else:
            out[key] = knn_accuracy(f_train, y_train, f_test[idx], y_test[idx], k=50, num_classes=c)
    return out


def _check_sizes(n_train: int, n_test: int, batch_size: int) -> None:
    if not isinstance(n_train, int) or n_train < batch_size:
        raise ValueError(f"n_train must be an int >= batch_size ({batch_size}), got {n_train!r}.")
    if not isinstance(n_test, int) or n_test < 12:
        raise ValueError(f"n_test must be an int >= 12 (a few test images per class), got {n_test!r}.")


def spurious_correlation_experiment(
    methods: Sequence[str] = tuple(BIAS_METHODS),
    biases: Sequence[float] = BIASES,
    *,
    n_train: int = 2048,
    n_test: int = 1000,
    epochs: int = 4,
    batch_size: int = 64,
    probe: str = "linear",
    include_random: bool = False,
    seed: int = 0,
    device: str = "cpu",
    encoders_out: dict[tuple[str, float], nn.Module] | None = None,
) -> list[dict[str, Any]]:
    """Train each method on Shapes with each colour-class correlation ``p``; probe aligned vs conflicting.

    Args:
        methods: names in :data:`BIAS_METHODS`.
        biases: values of ``p`` in [0, 1].
        n_train, n_test, epochs, batch_size: sizes (defaults: 20-30 s a run on a busy 2-core CPU,
            so the 16 runs of the default grid take 6-8 minutes).
        probe: ``"linear"`` or ``"knn"`` (see :func:`probe_accuracy`).
        include_random: also probe an untrained encoder (no training cost) for each ``p``.
        encoders_out: if given, filled with ``{(method, p): trained backbone}`` for reuse (e.g. the
            ``p = 0`` encoders in an invariance comparison).

    Returns:
        rows ``{"method", "bias", "acc", "aligned_acc", "conflicting_acc", "gap",
        "train_aligned_fraction", "seconds"}``.
    """
    epochs = check_positive_int(epochs, "epochs")
    unknown = [m for m in methods if m not in BIAS_METHODS]
    if unknown:
        raise ValueError(f"methods: unknown method(s) {unknown}; choose from {', '.join(BIAS_METHODS)}.")
    for p in biases:
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"biases must be probabilities in [0, 1], got {p!r}.")
    _check_sizes(n_train, n_test, batch_size)
    test = make_shapes(n_test, seed=seed, split="test")
    aligned, conflicting = bias_subsets(test)
    subsets = {"aligned": aligned, "conflicting": conflicting}
    rows: list[dict[str, Any]] = []
    for p in biases:
        train = make_shapes(n_train, seed=seed, split="train", bias=float(p))
        frac = float(train.factors["bias_aligned"].float().mean())  # type: ignore[index]
        runs: list[tuple[str, nn.Module, float]] = []
        if include_random:
            runs.append(("random", random_encoder(seed=seed), 0.0))
        for name in methods:
            method, augment = BIAS_METHODS[name]
            res = train_encoder(
                method, train, augment=augment, epochs=epochs, batch_size=batch_size, seed=seed, device=device
            )
            runs.append((name, res.backbone.cpu(), res.seconds))
            if encoders_out is not None:
                encoders_out[(name, float(p))] = res.backbone.cpu()
        for name, enc, seconds in runs:
            acc = probe_accuracy(enc, train, test, subsets=subsets, probe=probe, seed=seed)
            rows.append(
                {
                    "method": name,
                    "bias": float(p),
                    "acc": acc["acc"],
                    "aligned_acc": acc["aligned_acc"],
                    "conflicting_acc": acc["conflicting_acc"],
                    "gap": acc["aligned_acc"] - acc["conflicting_acc"],
                    "train_aligned_fraction": frac,
                    "seconds": round(seconds, 1),
                }
            )
    return rows


def object_scene_experiment(
    scenes: Sequence[str] = ("object", "scene"),
    *,
    method: str = "simclr",
    augment: str = "default",
    n_train: int = 2048,
    n_test: int = 1000,
    epochs: int = 4,
    batch_size: int = 64,
    probe: str = "linear",
    seed: int = 0,
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """Train on each scene type and evaluate on each: object-centric vs scene-centric data.

    For every pair (train scene, eval scene) a probe is fitted on ``n_train`` labelled images of the
    eval scene (frozen features) and scored on ``n_test`` test images of that scene.

    Returns:
        rows ``{"train_scene", "eval_scene", "acc", "seconds"}``, plus ``train_scene="random"``
        rows for an untrained encoder.
    """
    epochs = check_positive_int(epochs, "epochs")
    bad = [s for s in scenes if s not in SCENES]
    if bad or not scenes:
        raise ValueError(f"scenes must be names from {sorted(SCENES)}, got {list(scenes)!r}.")
    _check_sizes(n_train, n_test, batch_size)
    data = {
        s: (
            make_shapes(n_train, seed=seed, split="train", scene=s),
            make_shapes(n_test, seed=seed, split="test", scene=s),
        )
        for s in scenes
    }
    encoders: list[tuple[str, nn.Module, float]] = [("random", random_encoder(seed=seed), 0.0)]
    for s in scenes:
        res = train_encoder(
            method,
            data[s][0],
            augment=augment,
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            device=device,
        )
        encoders.append((s, res.backbone.cpu(), res.seconds))
    rows: list[dict[str, Any]] = []
    for train_scene, enc, seconds in encoders:
        for eval_scene in scenes:
            train, test = data[eval_scene]
            acc = probe_accuracy(enc, train, test, probe=probe, seed=seed)["acc"]
            rows.append(
                {
                    "train_scene": train_scene,
                    "eval_scene": eval_scene,
                    "acc": acc,
                    "seconds": round(seconds, 1),
                }
            )
    return rows

"""Lesson 11's questions asked of zoo encoders: a colour shortcut, and objects vs scenes.

Each evaluation is the card's linear probe (:func:`~cssl_edu.eval.linear_probe`, 100 epochs of
AdamW on standardised features h of the frozen backbone, images normalised by the probe's own
training set) fitted on one labelled set of generated Shapes images and scored on another:

==================  ===========================================================  ======================
name                probe fitted on → scored on                                  reports
==================  ===========================================================  ======================
``colour_shortcut`` 8,192 training images whose hue predicts the class with      ``aligned_acc``,
                    p = 0.99 (``make_shapes(bias=0.99)``) → 5,000 test images of ``conflicting_acc``,
                    uniform hue, split into bias-aligned (hue inside the class's ``gap``, ``acc``
                    band) and bias-conflicting images (:func:`~cssl_edu.data.bias_subsets`)
``objects``         8,192 object-centric training images → 5,000 test images     ``acc``
``scenes``          8,192 scene-centric images (a small object among distractors ``acc``
                    → 5,000 scene-centric test images
==================  ===========================================================  ======================

``gap`` = aligned − conflicting accuracy measures how much the probe leans on colour: a pure
colour classifier has gap ≈ 1, a pure shape classifier gap ≈ 0 (up to the test-set noise:
with 5,000 test images about 830 are aligned, so one probe's gap has a standard error near
0.015). All images come from generator seed 0, so the probes' training images are exactly the
training images of the zoo entry trained on that kind of data (``simclr-shapes`` on the ``objects``
ones, ``simclr-scenes-shapes`` on the ``scenes`` ones, the ``*-biased-shapes`` entries on the
``colour_shortcut`` ones — seen without labels unless the method is SupCon or supervised); no
entry trains on a test image.

    >>> from cssl_edu.zoo.shift import evaluate_shift
    >>> from cssl_edu import zoo
    >>> round(evaluate_shift(zoo.load_backbone("simclr-shapes"), ["scenes"])["scenes"]["acc"], 3)  # doctest: +SKIP
    0.288
"""

from __future__ import annotations

import statistics
from functools import lru_cache
from typing import Any

import torch
from torch import nn

#: the evaluations :func:`evaluate_shift` knows, and what each measures
SHIFT_EVALS: dict[str, str] = {
    "colour_shortcut": "probe fitted on colour-biased (p = 0.99) training labels, scored on bias-aligned "
    "and bias-conflicting test images of uniform hue",
    "objects": "probe fitted and scored on object-centric images (a large, roughly centred object)",
    "scenes": "probe fitted and scored on scene-centric images (a small object among distractors)",
}
#: the probe's training images and test images per evaluation
N_PROBE_TRAIN, N_PROBE_TEST = 8192, 5000
#: the colour-shortcut strength of the biased probe's training images
SHORTCUT_BIAS = 0.99
#: the probe's epochs: the cards' own (:data:`cssl_edu.zoo.build.PROBE_EPOCHS`)
PROBE_EPOCHS = 100


def _check_names(names: list[str] | tuple[str, ...]) -> list[str]:
    if isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"names must be a list of evaluation names, got {names!r}.")
    unknown = [n for n in names if n not in SHIFT_EVALS]
    if unknown:
        raise ValueError(f"unknown shift evaluation(s) {unknown}; choose from {sorted(SHIFT_EVALS)}.")
    return list(names)


@lru_cache(maxsize=4)
def shift_data(name: str):
    """``(train, test)`` Shapes datasets of evaluation ``name`` (generated once per process)."""
    from cssl_edu.data import make_shapes

    _check_names([name])
    if name == "colour_shortcut":
        train = make_shapes(N_PROBE_TRAIN, seed=0, split="train", bias=SHORTCUT_BIAS)
        test = make_shapes(N_PROBE_TEST, seed=0, split="test")  # hue uniform: the bias is only in training
    else:
        scene = "object" if name == "objects" else "scene"
        train = make_shapes(N_PROBE_TRAIN, seed=0, split="train", scene=scene)
        test = make_shapes(N_PROBE_TEST, seed=0, split="test", scene=scene)
    return train, test


def evaluate_shift(backbone: nn.Module, names: list[str] | tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Each named evaluation of a frozen ``backbone`` (images (B, 3, 32, 32) → h (B, D)).

    Returns ``{name: {metric: value}}``: ``colour_shortcut`` → ``acc``, ``aligned_acc``,
    ``conflicting_acc``, ``gap``; ``objects`` / ``scenes`` → ``acc``. Accuracies in [0, 1].
    """
    from cssl_edu.data import bias_subsets
    from cssl_edu.eval import extract_features, linear_probe

    out: dict[str, dict[str, float]] = {}
    for name in _check_names(names):
        train, test = shift_data(name)
        kw = {"mean": train.mean, "std": train.std, "device": "cpu"}
        f_tr = extract_features(backbone, train.images, **kw)
        f_te = extract_features(backbone, test.images, **kw)
        probe = linear_probe(f_tr, train.labels, f_te, test.labels, epochs=PROBE_EPOCHS, return_correct=True)
        correct = probe["test_correct"].float()
        row = {"acc": float(correct.mean())}
        if name == "colour_shortcut":
            aligned, conflicting = bias_subsets(test)
            row["aligned_acc"] = float(correct[aligned].mean())
            row["conflicting_acc"] = float(correct[conflicting].mean())
            row["gap"] = row["aligned_acc"] - row["conflicting_acc"]
        out[name] = row
    return out


def random_init_shift(
    arch: str, image_size: int, names: list[str] | tuple[str, ...], seeds: tuple[int, ...] = (0, 1, 2)
) -> dict[str, dict[str, dict[str, Any]]]:
    """:func:`evaluate_shift` of ``arch`` at random initialisation: ``{name: {metric: {"mean", "sd", "values"}}}``."""
    from cssl_edu.models import build_backbone

    runs = []
    for seed in seeds:
        torch.manual_seed(seed)
        runs.append(evaluate_shift(build_backbone(arch, image_size).eval(), names))
    return {
        name: {
            metric: {
                "mean": statistics.mean(r[name][metric] for r in runs),
                "sd": statistics.stdev(r[name][metric] for r in runs) if len(runs) > 1 else 0.0,
                "values": [r[name][metric] for r in runs],
            }
            for metric in runs[0][name]
        }
        for name in names
    }

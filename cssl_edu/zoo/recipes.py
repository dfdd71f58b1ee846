"""The zoo's recipes: what ``cssl-edu zoo build NAME`` trains, and the bar each entry must clear.

A recipe is a set of :class:`~cssl_edu.config.TrainConfig` overrides on top of the ``cpu``
profile (ConvNet, 32 px, AdamW). Every entry is evaluated the same way (see
:mod:`cssl_edu.zoo.build`): weighted kNN (k = 200, τ = 0.1) and a linear probe on the frozen
backbone's features h, training split as the labelled bank, scored on the test split — beside
the same architecture at random initialisation (3 seeds).

Why the recipes differ from the ``cpu`` profile's 12-epoch SimCLR run (measured on this
project's 2-core CPU; the notes are the course's material, lessons 06–09 repeat them):

- *Steps, not epochs, are what queue and EMA methods need.* MoCo's key encoder is an
  exponential moving average with time constant 1/(1 − m) steps (100 steps at m = 0.99); at
  batch 256 an epoch of 8,192 images is 32 steps, so a 12-epoch run ends before the key
  encoder has caught up with the query encoder more than a few times. Smaller batches give
  more steps for the same compute; the queue still supplies thousands of negatives.
- *A memory bank is refreshed once per epoch per image*, so its entries are as old as an
  epoch and start as random vectors: the first epoch's positives are noise. It needs many
  (cheap: one view per image) epochs.
- *BYOL and SimSiam have no negatives*: only the predictor and the slowly moving target keep
  them away from collapse, and they learn more slowly per step than contrastive methods.
  SimSiam's projector ends in a BatchNorm; BYOL's (as in its paper) does not, and on this
  ConvNet that decides it: without it every BYOL run (target momentum 0.9, 0.97 or 0.99, a
  bottleneck predictor, weight decay 0.05) stayed at or below the random-init encoder after
  20 epochs, while with a non-affine BatchNorm on z the same runs learned. The BN subtracts
  the component that all z share; without it the target's projections keep a large common
  mean (cosine ≈ 0.8 between any two), which the predictor matches without telling images
  apart. With the BN, a faster target (m = 0.9, a 10-step time constant) beat the package
  default m = 0.99 on both datasets: Shapes 52.2 vs 49.1 % after 40 epochs, the CIFAR subset
  46.2 vs 44.2 % after 80.

- *SwAV's ε must match the spread of the scores.* At initialisation a projection's cosines to
  the K prototypes spread by only ≈ 0.1, so at the paper's ε = 0.05 the Sinkhorn codes are
  nearly uniform and there is little to predict: screening runs (4,096 images, 10 epochs)
  stayed at or below random init (31 %) and rose steadily as ε fell (0.03: 36 %, 0.02: 40 %,
  0.01: 47 %). Multi-crop hurt at this size: 16-pixel crops of a 32-pixel shape (even of 30–70 %
  of its area) cannot tell which cluster the full image belongs to (24 % vs 48 %). More
  prototypes than a batch holds (K = 300 > B = 256) did as well as K = 100.
- *PIRL with the paper's NCE needs a normaliser Z*, estimated once while the bank is random.
  On 8,192 images the bank's entries soon move far closer together than at that moment, every
  random negative then counts as "data", and the loss diverged (10.7 → 139 in 10 epochs without
  the jigsaw term; 39.8 % kNN after 30 epochs with it). The InfoNCE form of the same pair of
  terms (``loss="infonce"``, which the authors' implementation also offers) needs no Z and
  learned; its bank uses 64-dimensional rows to keep the shipped entry small.

The tuning runs behind these recipes (``bench/tune_zoo.py``) are in
``cssl_edu/zoo/tuning-cpu.jsonl`` (:func:`cssl_edu.zoo.tuning_runs`). They were first scored on
the test split; SwAV's and PIRL's screening grids and BYOL's four decisive candidates were run
again scored on a validation split held out from the training images, and each picked the same
candidate (:func:`cssl_edu.zoo.tuning_pairs`,
``bench/tuning_report.py``); the lessons' short runs (2,048 images, 4 epochs,
128 steps) are far below every recipe here (≥ 480 steps).

``floor`` is the kNN accuracy an entry must reach (``tests/test_zoo.py`` checks it):
``("above_random", Δ)`` means random-init mean + Δ, ``("absolute", a)`` means ≥ a.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class Recipe:
    """One zoo entry: its method, data and config overrides, what it is for, and its floor."""

    name: str
    method: str
    dataset: str  # "shapes" or "cifar10-subset" (the project's offline npz of real CIFAR-10 images)
    overrides: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    floor: tuple[str, float] | None = None
    #: training seeds the card reports (seed 0 ships; ``cssl-edu zoo build`` trains the others)
    seeds: int = 1
    #: lesson 11's evaluations (:data:`cssl_edu.zoo.shift.SHIFT_EVALS`) run on every seed's encoder
    evals: tuple[str, ...] = ()
    #: what the weights file keeps: ``"method"`` (backbone and heads) or ``"backbone"`` (the
    #: encoder only: for entries used as frozen encoders, to keep the zoo within its size budget)
    ship: str = "method"


CONTRASTIVE_FLOOR = ("above_random", 0.20)
NON_CONTRASTIVE_FLOOR = ("above_random", 0.15)
SUPERVISED_FLOOR = ("absolute", 0.90)
CIFAR_FLOOR = ("above_random", 0.15)

_MOCO: dict[str, Any] = {"queue_size": 4096, "momentum": 0.99, "symmetric": True}

_RECIPES: list[Recipe] = [
    Recipe(
        "simclr-shapes",
        "simclr",
        "shapes",
        {"epochs": 30},
        "SimCLR, NT-Xent over 2·256 − 2 in-batch negatives (lessons 02–06b, 08–11, 13, 14).",
        CONTRASTIVE_FLOOR,
    ),
    Recipe(
        "moco-shapes",
        "moco",
        "shapes",
        {"epochs": 30, "batch_size": 128, "method_kwargs": dict(_MOCO)},
        "MoCo v2: momentum key encoder (m = 0.99) and a queue of 4,096 keys, symmetrised (lessons 06, 06b, 07).",
        CONTRASTIVE_FLOOR,
    ),
    Recipe(
        "membank-shapes",
        "membank",
        "shapes",
        {"epochs": 30, "batch_size": 128, "temperature": 0.1, "method_kwargs": {"bank_momentum": 0.5}},
        "InstDisc-style memory bank: one view per image, its bank row as the positive (lessons 06b, 13).",
        CONTRASTIVE_FLOOR,
    ),
    Recipe(
        "mochi-shapes",
        "mochi",
        "shapes",
        {
            "epochs": 30,
            "batch_size": 128,
            "method_kwargs": {**_MOCO, "n_hard": 512, "s": 256, "s_prime": 128, "mochi_warmup_epochs": 2},
        },
        "MoCHi: MoCo plus synthetic hard negatives mixed from each query's 512 hardest keys (lesson 07).",
        CONTRASTIVE_FLOOR,
    ),
    Recipe(
        "supcon-shapes",
        "supcon",
        "shapes",
        {"epochs": 15, "temperature": 0.1},
        "SupCon: every image of the same class is a positive (lessons 08, 10, 11).",
        SUPERVISED_FLOOR,
    ),
    Recipe(
        "supervised-shapes",
        "supervised",
        "shapes",
        {"epochs": 15},
        "Cross-entropy baseline: the same backbone and augmentations, trained with labels (lessons 08, 10, 11).",
        SUPERVISED_FLOOR,
    ),
    Recipe(
        "byol-shapes",
        "byol",
        "shapes",
        {"epochs": 40, "batch_size": 128, "method_kwargs": {"momentum": 0.9, "proj_last_bn": True}},
        "BYOL: predictor + EMA target, no negatives; BatchNorm on the projector's output (lessons 09, 13).",
        NON_CONTRASTIVE_FLOOR,
    ),
    Recipe(
        "simsiam-shapes",
        "simsiam",
        "shapes",
        {"epochs": 20, "batch_size": 128},
        "SimSiam: predictor + stop-gradient, no target network, no negatives (lessons 09, 13).",
        NON_CONTRASTIVE_FLOOR,
    ),
    Recipe(
        "simclr-nocolor-shapes",
        "simclr",
        "shapes",
        {"epochs": 30, "augment_kwargs": {"crop_scale": (0.5, 1.0), "jitter_p": 0.0, "grayscale_p": 0.0}},
        "SimCLR without colour jitter or greyscale (lessons 03, 10, 11: what colour augmentation buys).",
        None,
    ),
    Recipe(
        "simclr-nocrop-shapes",
        "simclr",
        "shapes",
        {"epochs": 30, "augment_kwargs": {"crop": False}},
        "SimCLR without random crops (lessons 03, 10: what crops buy).",
        None,
    ),
    Recipe(
        "simclr-cifar10-subset",
        "simclr",
        "cifar10-subset",
        {"epochs": 40},
        "SimCLR on 5,170 real CIFAR-10 images (lessons 05, 14).",
        CIFAR_FLOOR,
    ),
    Recipe(
        "moco-cifar10-subset",
        "moco",
        "cifar10-subset",
        {"epochs": 40, "batch_size": 128, "method_kwargs": dict(_MOCO)},
        "MoCo v2 on 5,170 real CIFAR-10 images (lesson 05).",
        CIFAR_FLOOR,
    ),
    Recipe(
        "byol-cifar10-subset",
        "byol",
        "cifar10-subset",
        {"epochs": 80, "batch_size": 128, "method_kwargs": {"momentum": 0.9, "proj_last_bn": True}},
        "BYOL on 5,170 real CIFAR-10 images, BatchNorm on the projector's output (lesson 05).",
        CIFAR_FLOOR,
    ),
]

_RECIPES += [
    Recipe(
        "swav-shapes",
        "swav",
        "shapes",
        {
            "epochs": 30,
            "temperature": 0.1,
            "method_kwargs": {
                "num_prototypes": 300,
                "epsilon": 0.01,
                "n_small_crops": 0,
                "freeze_prototypes_steps": 32,
            },
        },
        "SwAV: swapped prediction of Sinkhorn codes over 300 prototypes, ε = 0.01, no multi-crop (lesson 13).",
        CONTRASTIVE_FLOOR,
    ),
    Recipe(
        "pirl-shapes",
        "pirl",
        "shapes",
        {
            "epochs": 30,
            "batch_size": 128,
            "temperature": 0.1,
            "proj_out_dim": 64,
            "method_kwargs": {"jigsaw_grid": 2, "loss": "infonce"},
        },
        "PIRL: the memory bank plus a 2 × 2 jigsaw's representation pulled to the image's memory, InfoNCE (lesson 13).",
        CONTRASTIVE_FLOOR,
    ),
]

_BIASED = {"dataset_kwargs": {"bias": 0.99}}
#: lesson 11: the same recipes as simclr-/supcon-/supervised-shapes, on Shapes whose training hue
#: predicts the class with p = 0.99 (a colour shortcut), and SimCLR's on scene-centric Shapes
_RECIPES += [
    Recipe(
        "simclr-biased-shapes",
        "simclr",
        "shapes",
        {"epochs": 30, **_BIASED},
        "SimCLR's recipe on colour-biased Shapes (p = 0.99: the hue predicts the class) (lesson 11).",
        None,  # its kNN bank is biased too: kNN measures the shortcut, not whether SimCLR works
        evals=("colour_shortcut",),
        ship="backbone",
    ),
    Recipe(
        "supcon-biased-shapes",
        "supcon",
        "shapes",
        {"epochs": 15, "temperature": 0.1, **_BIASED},
        "SupCon's recipe on colour-biased Shapes (p = 0.99): labels that colour predicts (lesson 11).",
        None,
        evals=("colour_shortcut",),
        ship="backbone",
    ),
    Recipe(
        "supervised-biased-shapes",
        "supervised",
        "shapes",
        {"epochs": 15, **_BIASED},
        "Cross-entropy's recipe on colour-biased Shapes (p = 0.99) (lesson 11).",
        None,
        evals=("colour_shortcut",),
        ship="backbone",
    ),
    Recipe(
        "simclr-scenes-shapes",
        "simclr",
        "shapes",
        {"epochs": 30, "dataset_kwargs": {"scene": "scene"}},
        "SimCLR's recipe on scene-centric Shapes: a small object among distractors (lesson 11).",
        None,
        evals=("objects", "scenes"),
        ship="backbone",
    ),
]

#: entries the lessons compare with one another (lessons 05–09, 11, 13): a difference between two
#: of them means something only beside the spread over training seeds, so their cards hold three
SEEDED = (
    "simclr-shapes",
    "moco-shapes",
    "mochi-shapes",
    "membank-shapes",
    "pirl-shapes",
    "swav-shapes",
    "byol-shapes",
    "simsiam-shapes",
    "simclr-cifar10-subset",
    "moco-cifar10-subset",
    "byol-cifar10-subset",
    "supcon-shapes",
    "supervised-shapes",
    "simclr-nocolor-shapes",
    "simclr-nocrop-shapes",
    "simclr-biased-shapes",
    "supcon-biased-shapes",
    "supervised-biased-shapes",
    "simclr-scenes-shapes",
)
#: lesson 11's evaluations of the entries trained on ordinary Shapes (their seeds too)
_EVALS = {
    "simclr-shapes": ("colour_shortcut", "objects", "scenes"),
    "supcon-shapes": ("colour_shortcut",),
    "supervised-shapes": ("colour_shortcut",),
    "simclr-nocolor-shapes": ("colour_shortcut",),
}
#: entries used only as frozen encoders: their weights file keeps the backbone alone
_BACKBONE_ONLY = ("moco-cifar10-subset",)
_RECIPES = [replace(r, seeds=3) if r.name in SEEDED else r for r in _RECIPES]
_RECIPES = [replace(r, evals=_EVALS[r.name]) if r.name in _EVALS else r for r in _RECIPES]
_RECIPES = [replace(r, ship="backbone") if r.name in _BACKBONE_ONLY else r for r in _RECIPES]

RECIPES: dict[str, Recipe] = {r.name: r for r in _RECIPES}

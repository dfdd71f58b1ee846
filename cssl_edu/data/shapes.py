"""Shapes: the course's built-in dataset, generated in milliseconds, with known nuisance factors.

Each image shows one object of a class (circle, square, triangle, star, cross, ring, ...) whose
*nuisance factors* are drawn at random and returned beside the label:

============== =============================================================================
factor         meaning
============== =============================================================================
hue            object colour hue in [0, 1) (0 red, 1/6 yellow, 1/3 green, 1/2 cyan, ...)
saturation     object colour saturation, value: its brightness
scale          object size as a fraction of the image side
rotation       object angle, radians in [0, 2 pi)
x, y           object centre as fractions of the image width / height
background     0 plain, 1 textured, 2 cluttered (see :data:`BACKGROUNDS`)
bias_aligned   bool: the hue lies in the class's own hue band (see ``bias`` below)
bg_*, texture_*, clutter_*   the background's colour, texture and distractors
============== =============================================================================

Because every random choice is a factor, :func:`~cssl_edu.data.render.render_shapes` redraws
any image exactly, and :func:`rerender` redraws a dataset with some factors changed: the tool
for measuring what a representation is invariant to.

Two knobs make the classic failure modes visible:

- ``bias = p``: in the *train* split an image's hue comes, with probability ``p``, from its
  class's band ``[c/C - 1/(2C), c/C + 1/(2C))`` (mod 1) and otherwise uniformly, so a fraction
  ``p + (1 - p)/C`` of training images is bias-aligned and colour becomes a shortcut. The *test*
  split always draws hue uniformly; :func:`bias_subsets` splits it into aligned and conflicting
  images.
- ``scene``: ``"object"`` gives a large, roughly centred object on a plain or textured
  background (like CIFAR/ImageNet); ``"scene"`` a small object anywhere among distractors
  (like a street scene), where random crops often miss the object.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from cssl_edu.data.dataset import ImageDataset
from cssl_edu.data.render import BACKGROUNDS, SHAPE_CLASSES, hsv_to_rgb, render_shapes
from cssl_edu.data.sdf import SHAPE_SDFS

#: factor ranges of the two scene types: object scale, centre position, default backgrounds
SCENES: dict[str, dict[str, tuple]] = {
    "object": {
        "scale_range": (0.24, 0.36),
        "position_range": (0.42, 0.58),
        "backgrounds": ("plain", "textured"),
    },
    "scene": {"scale_range": (0.11, 0.16), "position_range": (0.2, 0.8), "backgrounds": ("cluttered",)},
}
#: the splits Shapes can generate; each has its own random stream
SPLITS: tuple[str, ...] = ("train", "test", "val")
#: distractor slots per image (a cluttered image shows 3 to MAX_CLUTTER of them)
MAX_CLUTTER = 6


def split_generator(seed: int, split: str) -> torch.Generator:
    """A CPU generator for ``(seed, split)``: a pure function of both, different for each split.

    The two integers are mixed by :class:`numpy.random.SeedSequence`, so nearby seeds and the
    splits of one seed give unrelated streams.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} for Shapes, got {split!r}.")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}.")
    state = np.random.SeedSequence([int(seed), SPLITS.index(split)]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)


def hue_band_aligned(hue: Tensor, labels: Tensor, n_classes: int) -> Tensor:
    """bool: ``hue`` lies in the band of width ``1/C`` centred on ``label / C`` (on the hue circle)."""
    offset = (hue - labels.to(hue.dtype) / n_classes + 0.5 / n_classes).remainder(1.0)
    return offset < 1.0 / n_classes


def _check_range(
    value: Sequence[float] | None, name: str, lo: float, hi: float
) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high), got {value!r}.") from None
    if not (lo <= a <= b <= hi):
        raise ValueError(f"{name} must satisfy {lo} <= low <= high <= {hi}, got {value!r}.")
    return a, b


def sample_shape_factors(
    n: int,
    *,
    n_classes: int = len(SHAPE_CLASSES),
    split: str = "train",
    bias: float = 0.0,
    scene: str = "object",
    backgrounds: Sequence[str] | None = None,
    scale_range: tuple[float, float] | None = None,
    position_range: tuple[float, float] | None = None,
    rotation_range: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Draw balanced labels and every factor for ``n`` Shapes images (on the CPU).

    Every random stream is drawn whatever the settings, in a fixed order, so two calls with the
    same generator state that differ only in ``bias`` give the same labels, shapes and
    backgrounds and differ only in hue (likewise for the ranges).

    Args:
        n: number of images.
        n_classes: ``C``; labels are balanced (each class ``n // C`` or ``n // C + 1`` times).
        split: ``"train"`` applies ``bias``; other splits draw hue uniformly.
        bias: ``p`` in [0, 1], the probability that a train image's hue is drawn from its
            class's band.
        scene: ``"object"`` or ``"scene"``: picks the default ranges in :data:`SCENES`.
        backgrounds: background kinds to draw uniformly from (names in :data:`BACKGROUNDS`);
            default: the scene's.
        scale_range, position_range, rotation_range: override the scene's ranges (scale and
            position as fractions of the image side, rotation in radians; default (0, 2 pi)).
        generator: the random stream (e.g. :func:`split_generator`).

    Returns:
        ``(labels int64 (N,), factors)``, ``factors`` as documented in this module.
    """
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative int (number of images), got {n!r}.")
    if not isinstance(n_classes, int) or n_classes < 2:
        raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}.")
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    if not isinstance(bias, (int, float)) or not 0.0 <= bias <= 1.0:
        raise ValueError(f"bias must be a probability in [0, 1] (0 = no colour shortcut), got {bias!r}.")
    if scene not in SCENES:
        raise ValueError(f"scene must be one of {sorted(SCENES)}, got {scene!r}.")
    preset = SCENES[scene]
    kinds = tuple(preset["backgrounds"] if backgrounds is None else backgrounds)
    if isinstance(backgrounds, str) or not kinds or any(k not in BACKGROUNDS for k in kinds):
        raise ValueError(
            f"backgrounds must be a non-empty sequence of names from {BACKGROUNDS}, got {backgrounds!r}."
        )
    lo_s, hi_s = _check_range(scale_range, "scale_range", 0.01, 1.0) or preset["scale_range"]
    lo_p, hi_p = _check_range(position_range, "position_range", 0.0, 1.0) or preset["position_range"]
    lo_r, hi_r = _check_range(rotation_range, "rotation_range", -100.0, 100.0) or (0.0, 2 * math.pi)
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    n = int(n)

    def uniform(lo: float, hi: float, *shape: int) -> Tensor:
        return torch.rand(n, *shape, generator=g).mul_(hi - lo).add_(lo)

    labels = (torch.arange(n) % n_classes)[torch.randperm(n, generator=g)]
    hue_free = torch.rand(n, generator=g)
    hue_band = (labels + torch.rand(n, generator=g) - 0.5).div_(n_classes).remainder_(1.0)
    biased = torch.rand(n, generator=g) < (bias if split == "train" else 0.0)
    hue = torch.where(biased, hue_band, hue_free)
    factors = {
        "hue": hue,
        "saturation": uniform(0.65, 1.0),
        "value": uniform(0.75, 1.0),
        "scale": uniform(lo_s, hi_s),
        "rotation": uniform(lo_r, hi_r),
        "x": uniform(lo_p, hi_p),
        "y": uniform(lo_p, hi_p),
    }
    codes = torch.tensor([BACKGROUNDS.index(k) for k in kinds])
    factors["background"] = codes[torch.randint(len(kinds), (n,), generator=g)]
    factors["bias_aligned"] = hue_band_aligned(hue, labels, n_classes)
    factors |= {
        "bg_hue": uniform(0.0, 1.0),
        "bg_saturation": uniform(0.0, 0.35),
        "bg_value": uniform(0.08, 0.32),
        "texture_freq": uniform(2.0, 5.0),
        "texture_angle": uniform(0.0, math.pi),
        "texture_phase": uniform(0.0, 2 * math.pi),
    }
    # clutter: 3..K distractors of half-size 3-10 % of the side, anywhere, in random colours
    count = torch.randint(3, MAX_CLUTTER + 1, (n, 1), generator=g)
    centre = torch.rand(n, MAX_CLUTTER, 2, generator=g)
    half = torch.rand(n, MAX_CLUTTER, 2, generator=g).mul_(0.07).add_(0.03)
    factors["clutter_box"] = torch.cat([centre, half], dim=-1)
    factors["clutter_round"] = torch.rand(n, MAX_CLUTTER, generator=g)
    factors["clutter_color"] = hsv_to_rgb(
        torch.rand(n, MAX_CLUTTER, generator=g),
        torch.rand(n, MAX_CLUTTER, generator=g).mul_(0.6).add_(0.3),
        torch.rand(n, MAX_CLUTTER, generator=g).mul_(0.5).add_(0.35),
    )
    cluttered = factors["background"] == BACKGROUNDS.index("cluttered")
    factors["clutter_visible"] = (torch.arange(MAX_CLUTTER) < count) & cluttered.unsqueeze(1)
    return labels, factors


def make_shapes(
    n: int,
    *,
    image_size: int = 32,
    seed: int = 0,
    bias: float = 0.0,
    split: str = "train",
    scene: str = "object",
    backgrounds: Sequence[str] | None = None,
    classes: Sequence[str] | None = None,
    scale_range: tuple[float, float] | None = None,
    position_range: tuple[float, float] | None = None,
    rotation_range: tuple[float, float] | None = None,
    device: torch.device | str = "cpu",
) -> ImageDataset:
    """Generate ``n`` Shapes images with their labels and factors.

    Deterministic: the result is a pure function of the arguments (``device`` aside, where
    float rounding may move a pixel by 1/255). ``split`` selects an independent random stream
    (:func:`split_generator`), so train and test images differ for the same ``seed``.

    Args:
        n: number of images (classes balanced).
        image_size: side of the square RGB images (>= 16; 32 by default, 64 works).
        seed: random seed (non-negative int).
        bias: colour-shortcut strength ``p`` for the train split (see the module docstring).
        split: ``"train"``, ``"test"`` or ``"val"``.
        scene: ``"object"`` (large centred object) or ``"scene"`` (small object in clutter).
        backgrounds: kinds to draw from, e.g. ``("plain",)``; default ``("plain", "textured")``
            for objects and ``("cluttered",)`` for scenes.
        classes: shape classes in label order (default :data:`SHAPE_CLASSES`, 6 classes; also
            available: ``"hexagon"``, ``"crescent"``).
        scale_range, position_range, rotation_range: override the scene's factor ranges.
        device: where the images are rendered and stored.

    Returns:
        :class:`ImageDataset` named ``"shapes"`` with ``factors`` filled in.

    Example:
        >>> ds = make_shapes(12, seed=1)
        >>> ds.images.shape, ds.images.dtype, ds.factors["hue"].shape
        (torch.Size([12, 3, 32, 32]), torch.uint8, torch.Size([12]))
    """
    if not isinstance(image_size, int) or image_size < 16:
        raise ValueError(f"image_size must be an int >= 16 for Shapes (32 by default), got {image_size!r}.")
    names = tuple(SHAPE_CLASSES if classes is None else classes)
    if isinstance(classes, str) or len(names) < 2 or len(set(names)) != len(names):
        raise ValueError(
            f"classes must be at least 2 distinct shape names from {sorted(SHAPE_SDFS)}, got {classes!r}."
        )
    labels, factors = sample_shape_factors(
        n,
        n_classes=len(names),
        split=split,
        bias=bias,
        scene=scene,
        backgrounds=backgrounds,
        scale_range=scale_range,
        position_range=position_range,
        rotation_range=rotation_range,
        generator=split_generator(seed, split),
    )
    device = torch.device(device)
    labels, factors = labels.to(device), {k: v.to(device) for k, v in factors.items()}
    images = render_shapes(labels, image_size=image_size, classes=names, device=device, **factors)
    return ImageDataset(images, labels, list(names), factors, name="shapes")


def rerender(ds: ImageDataset, **overrides: Tensor | float) -> Tensor:
    """Redraw a Shapes dataset's images with some factors replaced (the others held fixed).

    ``overrides`` are factor values (a number for all images, or one per image), e.g.
    ``rerender(ds, rotation=0.0)`` or ``rerender(ds, hue=ds.factors["hue"] + 0.1)``; pass
    ``labels=...`` to change the class while keeping every nuisance factor, and
    ``image_size=...`` to draw at another resolution.

    Returns:
        uint8 ``(N, 3, S, S)`` images on the dataset's device.
    """
    if not ds.factors or "hue" not in ds.factors:
        raise ValueError("rerender needs a Shapes dataset (one made by make_shapes, with its factors).")
    image_size = int(overrides.pop("image_size", ds.images.shape[-1]))  # type: ignore[arg-type]
    labels = overrides.pop("labels", ds.labels)
    factors = dict(ds.factors) | overrides
    return render_shapes(
        labels, image_size=image_size, classes=ds.classes, device=ds.images.device, **factors
    )


def bias_subsets(ds: ImageDataset) -> tuple[Tensor, Tensor]:
    """Indices of the bias-aligned and bias-conflicting images of a Shapes dataset.

    Aligned: the object's hue lies in its class's band (``factors["bias_aligned"]``), so a
    colour-shortcut classifier gets it right; conflicting: every other image.

    Returns:
        ``(aligned_idx, conflicting_idx)``, int64 tensors on the dataset's device.
    """
    if not ds.factors or "bias_aligned" not in ds.factors:
        raise ValueError(
            "bias_subsets needs a Shapes dataset whose factors include 'bias_aligned' (from make_shapes)."
        )
    aligned = ds.factors["bias_aligned"].bool()
    return aligned.nonzero().squeeze(1), (~aligned).nonzero().squeeze(1)

"""Invariance of an encoder, measured: per Shapes factor, per image transformation, instance vs category.

- :func:`factor_invariance`: on Shapes, where every nuisance factor is known, set one factor to
  ``V`` values in turn while every other factor stays as it was (:func:`~cssl_edu.data.rerender`),
  encode the ``V`` versions of the N images and average the scores of
  :mod:`~cssl_edu.analysis.invariance` over the ``V (V - 1) / 2`` pairs of values.
- :func:`transform_invariance`: the same scores for ``h(x)`` against ``h(t_s(x))`` with the
  transformation family of :mod:`~cssl_edu.analysis.transforms` (any dataset).
- :func:`instance_category_invariance`: instance invariance (an image against its augmented
  view) beside category invariance (an image against other images of its class).
- :func:`compare_invariance`: one table row per encoder, one column per factor.

Rendering is the slow part on a CPU, so :func:`render_factor_sweep` draws the images once and
every encoder reuses them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import combinations

import torch
from torch import Tensor, nn

from cssl_edu._validation import as_float_tensor, check_module, check_number, check_positive_int
from cssl_edu.analysis.invariance import category_invariance, firing_invariance, invariance_score
from cssl_edu.analysis.transforms import TRANSFORMS, apply_transform
from cssl_edu.augment import SimCLRAugment
from cssl_edu.data import ImageDataset, rerender
from cssl_edu.eval import extract_features
from cssl_edu.eval.features import module_device

#: the Shapes factors swept by default (``x``, ``y``: translation; ``rotation``: viewpoint stand-in)
SWEEP_FACTORS: tuple[str, ...] = ("hue", "value", "scale", "rotation", "x", "y", "background")
#: factors on a circle: their sweep spans the whole circle without repeating the start
CIRCULAR_FACTORS: dict[str, float] = {"hue": 1.0, "rotation": 2 * math.pi}

Stats = tuple[float, float, float]


#: the scalar factors of a Shapes dataset (``make_shapes``) that a sweep can set
SCALAR_FACTORS: tuple[str, ...] = (
    "hue", "saturation", "value", "scale", "rotation", "x", "y", "background",
    "bg_hue", "bg_saturation", "bg_value", "texture_freq", "texture_angle", "texture_phase",
)  # fmt: skip


def _check_ds(ds: object, name: str = "ds") -> None:
    """Raise ``ValueError`` unless ``ds`` is an :class:`ImageDataset` (a Shapes one for sweeps)."""
    if not isinstance(ds, ImageDataset):
        raise ValueError(
            f"{name} must be an ImageDataset (a Shapes dataset from make_shapes), got {type(ds).__name__}."
        )


def _check_n_values(n_values: object) -> int:
    if isinstance(n_values, bool) or not isinstance(n_values, int) or n_values < 2:
        raise ValueError(f"n_values must be an int >= 2 (values to compare), got {n_values!r}.")
    return n_values


def _check_factors(factors: object) -> tuple[str, ...]:
    """``factors`` as a tuple of Shapes factor names, or ``ValueError`` naming ``factors``."""
    if isinstance(factors, str):
        raise ValueError(f"factors must be a sequence of names, e.g. ({factors!r},), not a string.")
    if not isinstance(factors, Sequence):
        raise ValueError(f"factors must be a sequence of factor names, got {type(factors).__name__}.")
    unknown = [f for f in factors if f not in SCALAR_FACTORS]
    if unknown:
        raise ValueError(
            f"factors {unknown} are not Shapes factors; choose from {', '.join(SCALAR_FACTORS)}."
        )
    return tuple(factors)


def _check_names(
    names: object, known: Sequence[str], arg: str, what: str, *, allow_empty: bool = False
) -> None:
    """Raise ``ValueError`` naming ``arg`` unless ``names`` is a sequence of names from ``known``."""
    if isinstance(names, str) or not isinstance(names, Sequence) or (not names and not allow_empty):
        raise ValueError(f"{arg} must be a sequence of {what} names, e.g. ({known[0]!r},), got {names!r}.")
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"{arg}: unknown {what} {unknown}; choose from {', '.join(known)}.")


def _stats(ds: ImageDataset, mean: Stats | None, std: Stats | None) -> tuple[Stats, Stats]:
    return (ds.mean if mean is None else mean), (ds.std if std is None else std)


def encode(encoder: nn.Module, images: Tensor, *, mean: Stats, std: Stats, batch_size: int = 512) -> Tensor:
    """Features (N, D) of uint8 or [0, 1] float images (N, 3, H, W), normalised with ``mean``/``std``, eval mode.

    Checks as :func:`~cssl_edu.eval.extract_features` (N ≥ 1, finite, an ``nn.Module`` encoder).
    """
    return extract_features(encoder, images, mean=mean, std=std, batch_size=batch_size).cpu()


@torch.no_grad()
def _forward(encoder: nn.Module, views: Tensor, batch_size: int) -> Tensor:
    """Features (N, D) of already-normalised float views (N, 3, S, S), eval mode, on the CPU."""
    batch_size = check_positive_int(batch_size, "batch_size")
    device = module_device(encoder)
    was_training = encoder.training
    encoder.eval()
    try:
        return torch.cat([encoder(v.to(device)).float().cpu() for v in views.split(batch_size)])
    finally:
        encoder.train(was_training)


def factor_values(ds: ImageDataset, factor: str, n_values: int = 5) -> Tensor:
    """The ``V`` values a sweep sets ``factor`` to: evenly spaced over the dataset's range.

    Circular factors (:data:`CIRCULAR_FACTORS`) take ``V`` points around the whole circle; integer
    and bool factors (``background``) take the distinct values present in ``ds``.

    Returns:
        float or int (V,) on the CPU.
    """
    _check_n_values(n_values)
    _check_ds(ds)
    if not ds.factors or factor not in ds.factors:
        have = sorted(ds.factors) if ds.factors else []
        raise ValueError(
            f"factor {factor!r} is not among the dataset's factors {have}; sweeps need a Shapes "
            "dataset from make_shapes."
        )
    values = ds.factors[factor].cpu()
    if values.dim() != 1:
        raise ValueError(
            f"factor {factor!r} has one vector per image (shape {tuple(values.shape)}); sweep a scalar factor."
        )
    if not isinstance(n_values, int) or n_values < 2:
        raise ValueError(f"n_values must be an int >= 2 (values to compare), got {n_values!r}.")
    if not values.is_floating_point():
        return torch.unique(values)
    if factor in CIRCULAR_FACTORS:
        return torch.arange(n_values, dtype=torch.float32) * (CIRCULAR_FACTORS[factor] / n_values)
    return torch.linspace(float(values.min()), float(values.max()), n_values)


def render_factor_sweep(
    ds: ImageDataset, factors: Sequence[str] = SWEEP_FACTORS, n_values: int = 5
) -> dict[str, Tensor]:
    """Render every image of ``ds`` once per value of each factor, the other factors held fixed.

    Returns:
        ``{factor: uint8 (V, N, 3, S, S)}``, ``V`` from :func:`factor_values` (fewer for a
        categorical factor with fewer distinct values). A factor with a single value is skipped.
    """
    _check_n_values(n_values)
    factors = _check_factors(factors)
    _check_ds(ds)
    out: dict[str, Tensor] = {}
    for factor in factors:
        vals = factor_values(ds, factor, n_values)
        if vals.numel() < 2:
            continue
        out[factor] = torch.stack([rerender(ds, **{factor: v.to(ds.images.device)}) for v in vals])
    return out


def sweep_scores(features: Tensor, *, k: int = 16) -> dict[str, float]:
    """Mean cosine and firing scores over every pair of values of one sweep.

    ``features`` is a finite float (V, N, D) tensor (a nested list is converted): V values of
    one factor, N images, D feature dimensions.
    """
    features = as_float_tensor(features, "features")
    if features.dim() != 3 or features.shape[0] < 2:
        raise ValueError(f"features must be (V, N, D) with V >= 2 values, got shape {tuple(features.shape)}.")
    k = min(k, features.shape[-1] - 1)
    cos, fire = [], []
    for a, b in combinations(range(features.shape[0]), 2):
        cos.append(invariance_score(features[a], features[b])["score"])
        fire.append(firing_invariance(features[a], features[b], k=k)["score"])
    return {"score": sum(cos) / len(cos), "firing": sum(fire) / len(fire)}


def factor_invariance(
    encoder: nn.Module,
    ds: ImageDataset,
    *,
    sweep: Mapping[str, Tensor] | None = None,
    factors: Sequence[str] = SWEEP_FACTORS,
    n_values: int = 5,
    mean: Stats | None = None,
    std: Stats | None = None,
    k: int = 16,
    batch_size: int = 512,
) -> list[dict[str, float | str]]:
    """Invariance of ``encoder`` to each Shapes factor, the others held fixed.

    Args:
        encoder: image (B, 3, S, S) -> features (B, D).
        ds: a Shapes dataset (``make_shapes``); its N images are re-drawn.
        sweep: pre-rendered images from :func:`render_factor_sweep` (reuse them across
            encoders); rendered here from ``factors`` and ``n_values`` when None.
        mean, std: input normalisation (default: ``ds``'s pixel statistics).
        k: units counted as firing per image in the firing score.

    Returns:
        one row per factor: ``{"factor", "score", "firing", "n_values"}``; ``score`` is the cosine
        invariance (1 = invariant, 0 = the factor changes h as much as changing the image).
    """
    k = check_positive_int(k, "k")
    batch_size = check_positive_int(batch_size, "batch_size")
    _check_ds(ds)
    mean, std = _stats(ds, mean, std)
    sweep = render_factor_sweep(ds, factors, n_values) if sweep is None else sweep
    rows: list[dict[str, float | str]] = []
    for factor, images in sweep.items():
        v, n = images.shape[:2]
        feats = encode(encoder, images.flatten(0, 1), mean=mean, std=std, batch_size=batch_size)
        rows.append({"factor": factor, **sweep_scores(feats.view(v, n, -1), k=k), "n_values": v})
    return rows


def transform_invariance(
    encoder: nn.Module,
    images: Tensor,
    *,
    mean: Stats,
    std: Stats,
    transforms: Sequence[str] = TRANSFORMS,
    strengths: Sequence[float] = (0.25, 0.5, 1.0),
    seed: int = 0,
    k: int = 16,
    batch_size: int = 512,
) -> list[dict[str, float | str]]:
    """Cosine and firing invariance of ``encoder`` to each transformation at each strength.

    Args:
        images: uint8 (N, 3, H, W), N >= 2.
        mean, std: input normalisation the encoder expects.
        transforms: names from :data:`~cssl_edu.analysis.transforms.TRANSFORMS`.
        strengths: values in [0, 1].

    Returns:
        rows ``{"transform", "strength", "score", "firing"}``.
    """
    _check_names(transforms, TRANSFORMS, "transforms", "transformation", allow_empty=True)
    if isinstance(strengths, (str, bytes)) or not isinstance(strengths, Sequence) or not strengths:
        raise ValueError(f"strengths must be a non-empty sequence of numbers in [0, 1], got {strengths!r}.")
    for st in strengths:
        check_number(st, "strengths", low=0.0, high=1.0)
    base = encode(encoder, images, mean=mean, std=std, batch_size=batch_size)
    k = min(k, base.shape[1] - 1)
    rows: list[dict[str, float | str]] = []
    for name in transforms:
        for s in strengths:
            h_t = encode(
                encoder,
                apply_transform(images, name, s, seed=seed),
                mean=mean,
                std=std,
                batch_size=batch_size,
            )
            rows.append(
                {
                    "transform": name,
                    "strength": float(s),
                    "score": invariance_score(base, h_t)["score"],
                    "firing": firing_invariance(base, h_t, k=k)["score"],
                }
            )
    return rows


def instance_category_invariance(
    encoder: nn.Module,
    ds: ImageDataset,
    *,
    augment: nn.Module | None = None,
    mean: Stats | None = None,
    std: Stats | None = None,
    seed: int = 0,
    batch_size: int = 512,
) -> dict[str, float]:
    """Instance invariance (image vs its augmented view) beside category invariance (vs same-class images).

    Args:
        ds: labelled images.
        augment: a batched augmentation taking uint8 images and a ``generator`` and returning views
            normalised as the encoder expects, e.g. :class:`~cssl_edu.augment.SimCLRAugment`
            (default: the SimCLR recipe with Shapes' crop scale (0.5, 1), normalised with
            ``mean``/``std``).
        seed: seeds the augmentation.

    Returns:
        ``{"instance", "category", "instance_firing"}``, scores as in :mod:`~cssl_edu.analysis.invariance`.
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    _check_ds(ds)
    mean, std = _stats(ds, mean, std)
    if augment is None:
        augment = SimCLRAugment(ds.image_size, crop_scale=(0.5, 1.0), mean=mean, std=std)
    base = encode(encoder, ds.images, mean=mean, std=std, batch_size=batch_size)
    views = augment(ds.images, generator=torch.Generator().manual_seed(int(seed)))
    aug = _forward(encoder, views, batch_size)
    return {
        "instance": invariance_score(base, aug)["score"],
        "instance_firing": firing_invariance(base, aug, k=min(16, base.shape[1] - 1))["score"],
        "category": category_invariance(base, ds.labels.cpu())["score"],
    }


def compare_invariance(
    encoders: Mapping[str, nn.Module],
    ds: ImageDataset,
    *,
    factors: Sequence[str] = SWEEP_FACTORS,
    n_values: int = 5,
    transforms: Sequence[str] = (),
    strength: float = 0.5,
    mean: Stats | None = None,
    std: Stats | None = None,
    seed: int = 0,
) -> list[dict[str, float | str]]:
    """One row per encoder: its invariance per factor (and per transformation), instance and category.

    The factor sweep is rendered once and shared by every encoder.

    Returns:
        rows ``{"encoder", <factor>: score, ..., "t:<transform>": score, ..., "instance", "category"}``.
    """
    if not isinstance(encoders, Mapping):
        raise ValueError(
            f"encoders must be a mapping name -> encoder, e.g. {{'random': net}}, got {type(encoders).__name__}."
        )
    if not encoders:
        raise ValueError("encoders is empty: pass a mapping name -> encoder, e.g. {'random': net}.")
    for enc in encoders.values():
        check_module(enc, "encoders' values")
    check_number(strength, "strength", low=0.0, high=1.0)
    _check_names(transforms, TRANSFORMS, "transforms", "transformation", allow_empty=True)
    _check_n_values(n_values)
    _check_factors(factors)
    _check_ds(ds)
    mean, std = _stats(ds, mean, std)
    sweep = render_factor_sweep(ds, factors, n_values)
    rows: list[dict[str, float | str]] = []
    for name, enc in encoders.items():
        row: dict[str, float | str] = {"encoder": name}
        for r in factor_invariance(enc, ds, sweep=sweep, mean=mean, std=std):
            row[str(r["factor"])] = r["score"]
        if transforms:
            for r in transform_invariance(
                enc, ds.images, mean=mean, std=std, transforms=transforms, strengths=(strength,), seed=seed
            ):
                row[f"t:{r['transform']}"] = r["score"]
        ic = instance_category_invariance(enc, ds, mean=mean, std=std, seed=seed)
        row["instance"], row["category"] = ic["instance"], ic["category"]
        rows.append(row)
    return rows

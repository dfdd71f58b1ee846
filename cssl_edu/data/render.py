"""Render Shapes images from explicit factor values, a whole batch at a time.

:func:`render_shapes` is a pure function of its inputs: the same factors give the same
pixels, so analysis code can change one factor (say ``rotation``) while holding every other
one fixed and see exactly what a network does with it. :func:`~cssl_edu.data.shapes.make_shapes`
samples the factors and calls this function.

An image is painted in three layers, each vectorised over a chunk of images and all pixels:

1. **background** (``background`` code 0 = plain, 1 = textured, 2 = cluttered): a flat
   colour ``hsv(bg_hue, bg_saturation, bg_value)``; textured images multiply it by a plaid of
   two perpendicular sine gratings, ``1 + 0.3 (sin g_1 + sin g_2)`` with
   ``g_1 = 2 pi f (x cos a + y sin a) / S + phi``;
2. **clutter** (cluttered images only): up to ``K`` small distractors, each a rounded box
   ``(x, y, half-width, half-height, roundness)`` in a flat colour; ``roundness`` 0 is a
   rectangle or bar, 1 a stadium or ellipse-like blob;
3. **object**: the class's signed-distance shape (:mod:`cssl_edu.data.sdf`) at centre
   ``(x, y)``, size ``scale`` and angle ``rotation``, in colour ``hsv(hue, saturation, value)``.

Each layer is alpha-composited, ``rgb <- rgb + alpha (colour - rgb)``, with the coverage
``alpha = clamp(0.5 - d, 0, 1)`` of a signed distance ``d`` in pixels (one-pixel
anti-aliasing). Positions and sizes are fractions of the image side, so the same factors
render the same picture at any ``image_size``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from cssl_edu.data.sdf import SHAPE_SDFS

#: background kinds, by integer code (``factors["background"]``)
BACKGROUNDS: tuple[str, ...] = ("plain", "textured", "cluttered")
#: the default Shapes classes, in label order
SHAPE_CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "ring")

#: per-image detail factors and the value used when one is not given
DETAIL_DEFAULTS: dict[str, float] = {
    "saturation": 0.85,
    "value": 0.9,
    "bg_hue": 0.0,
    "bg_saturation": 0.0,
    "bg_value": 0.2,
    "texture_freq": 3.0,
    "texture_angle": 0.0,
    "texture_phase": 0.0,
}
#: clutter factors, shapes (N, K, 4), (N, K), (N, K, 3), (N, K)
CLUTTER_KEYS: tuple[str, ...] = ("clutter_box", "clutter_round", "clutter_color", "clutter_visible")
#: factors that are computed from the others and ignored when rendering
DERIVED_KEYS: tuple[str, ...] = ("bias_aligned",)

#: pixels rendered at once: on a CPU 1 MiB of float32 per (chunk, H, W) plane fits a typical L2
#: cache; a GPU wants large launches (fewer, bigger kernels)
_PIXELS_PER_CHUNK = {"cpu": 2**18, "cuda": 2**23}


def hsv_to_rgb(h: Tensor, s: Tensor, v: Tensor) -> Tensor:
    """HSV → RGB, elementwise, all in [0, 1]; returns shape ``h.shape + (3,)``.

    Channel ``c`` is ``v - v s clamp(min(k, 4 - k), 0, 1)`` with ``k = (n_c + 6 h) mod 6`` and
    ``n = (5, 3, 1)`` for (R, G, B): a piecewise-linear hue ramp scaled by value and saturation.
    """
    n = torch.tensor([5.0, 3.0, 1.0], device=h.device)
    k = (h.unsqueeze(-1) * 6 + n).remainder(6)
    ramp = torch.minimum(k, 4 - k).clamp(0, 1)
    v = v.unsqueeze(-1)
    return v - v * s.unsqueeze(-1) * ramp


def _per_image(value: object, n: int, name: str, device: torch.device, dtype: torch.dtype) -> Tensor:
    """``value`` (number, 0-d or (n,) tensor/array) as a ``(n,)`` tensor."""
    t = torch.as_tensor(value, dtype=dtype, device=device)
    if t.dim() == 0:
        return t.expand(n)
    if t.shape != (n,):
        raise ValueError(
            f"factor {name!r} must be a number or have one value per image (shape ({n},)), got shape {tuple(t.shape)}."
        )
    return t


def _check_range(t: Tensor, name: str, lo: float, hi: float) -> None:
    if t.numel() and not bool(((t >= lo) & (t <= hi)).all()):
        raise ValueError(
            f"factor {name!r} must lie in [{lo}, {hi}], got values in [{float(t.min()):.3g}, {float(t.max()):.3g}]."
        )


def render_shapes(
    labels: Tensor | Sequence[int],
    hue: Tensor | float,
    scale: Tensor | float,
    rotation: Tensor | float,
    x: Tensor | float,
    y: Tensor | float,
    background: Tensor | int = 0,
    *,
    image_size: int = 32,
    classes: Sequence[str] | None = None,
    device: torch.device | str | None = None,
    chunk_size: int | None = None,
    **details: Tensor | float,
) -> Tensor:
    """Draw one Shapes image per label from the given factor values.

    Args:
        labels: int ``(N,)`` class indices into ``classes``.
        hue: object hue in [0, 1] (0 red, 1/3 green, 2/3 blue).
        scale: object size as a fraction of the image side (the shape's circumradius is
            about ``scale * image_size`` pixels); in (0, 1].
        rotation: object angle in radians.
        x, y: object centre as fractions of the image width/height (0 = left/top edge).
        background: background code per image, 0 plain, 1 textured, 2 cluttered (see
            :data:`BACKGROUNDS`); a cluttered image without ``clutter_*`` factors is plain.
        image_size: side ``S`` of the square output images (>= 8; 16+ recommended).
        classes: class names (keys of :data:`~cssl_edu.data.sdf.SHAPE_SDFS`) in label order;
            default :data:`SHAPE_CLASSES`.
        device: where to render (default: the device of ``labels`` if a tensor, else CPU).
        chunk_size: images rendered at once (default: 2**18 pixels' worth on a CPU, 2**23 on a GPU).
        **details: the remaining factors, each a number or one value per image:
            ``saturation``, ``value`` (object colour), ``bg_hue``, ``bg_saturation``,
            ``bg_value`` (background colour), ``texture_freq`` (cycles per image side),
            ``texture_angle``, ``texture_phase`` (radians), and the clutter tensors
            ``clutter_box`` ``(N, K, 4)`` = (x, y, half-width, half-height) as fractions,
            ``clutter_round`` ``(N, K)`` in [0, 1], ``clutter_color`` ``(N, K, 3)`` RGB in [0, 1],
            ``clutter_visible`` ``(N, K)`` bool. Missing ones take :data:`DETAIL_DEFAULTS`
            (no clutter). ``bias_aligned`` is accepted and ignored, so
            ``render_shapes(ds.labels, **ds.factors)`` redraws a Shapes dataset exactly.

    Every scalar factor may be a number (the same for all images) or an ``(N,)`` tensor.

    Returns:
        uint8 ``(N, 3, S, S)`` images on ``device``.
    """
    unknown = set(details) - set(DETAIL_DEFAULTS) - set(CLUTTER_KEYS) - set(DERIVED_KEYS)
    if unknown:
        raise ValueError(
            f"unknown Shapes factor(s) {sorted(unknown)}; the renderer knows "
            f"{sorted([*DETAIL_DEFAULTS, *CLUTTER_KEYS])} (plus hue, scale, rotation, x, y, background)."
        )
    if not isinstance(image_size, int) or image_size < 8:
        raise ValueError(
            f"image_size must be an int >= 8 (16 or more to see the shapes), got {image_size!r}."
        )
    names = tuple(SHAPE_CLASSES if classes is None else classes)
    missing = [c for c in names if c not in SHAPE_SDFS]
    if missing or not names:
        raise ValueError(f"unknown shape class(es) {missing or names}; choose from {sorted(SHAPE_SDFS)}.")
    if device is None:
        device = labels.device if isinstance(labels, Tensor) else torch.device("cpu")
    device = torch.device(device)

    lab = torch.as_tensor(labels, device=device)
    if lab.dim() != 1 or lab.is_floating_point():
        raise ValueError(
            f"labels must be a 1-D integer tensor (N,), got dtype {lab.dtype} and shape {tuple(lab.shape)}."
        )
    lab = lab.long()
    n = lab.numel()
    if n and (int(lab.min()) < 0 or int(lab.max()) >= len(names)):
        raise ValueError(f"labels must be class indices in [0, {len(names)}) for classes {list(names)}.")

    f32 = torch.float32
    f = {
        "hue": _per_image(hue, n, "hue", device, f32),
        "scale": _per_image(scale, n, "scale", device, f32),
        "rotation": _per_image(rotation, n, "rotation", device, f32),
        "x": _per_image(x, n, "x", device, f32),
        "y": _per_image(y, n, "y", device, f32),
    }
    for key, default in DETAIL_DEFAULTS.items():
        f[key] = _per_image(details.get(key, default), n, key, device, f32)
    bg = _per_image(background, n, "background", device, torch.int64)
    _check_range(bg, "background", 0, len(BACKGROUNDS) - 1)
    _check_range(f["scale"], "scale", 1e-3, 1.0)
    for key in ("hue", "saturation", "value", "bg_hue", "bg_saturation", "bg_value"):
        _check_range(f[key], key, 0.0, 1.0)
    for key, t in f.items():
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"factor {key!r} contains NaN or inf.")
    clutter = _clutter_factors(details, n, device)

    out = torch.empty((n, 3, image_size, image_size), dtype=torch.uint8, device=device)
    if n == 0:
        return out
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive int (images per chunk) or None, got {chunk_size!r}.")
    if chunk_size is None:
        pixels = _PIXELS_PER_CHUNK.get(device.type, _PIXELS_PER_CHUNK["cpu"])
        chunk_size = max(1, pixels // (image_size * image_size))
    # Sort by (background, class) so that each chunk holds long runs of one class and one kind
    # of background: the per-class SDF is then called on a few large slices, not many small
    # ones. Rendering is per image, so the order changes nothing but speed.
    order = torch.argsort(bg * len(names) + lab, stable=True)
    sdfs = [SHAPE_SDFS[c] for c in names]
    for start in range(0, n, chunk_size):
        idx = order[start : start + chunk_size]
        chunk = {k: v[idx] for k, v in f.items()}
        chunk_clutter = {k: v[idx] for k, v in clutter.items()}
        out[idx] = _render_chunk(lab[idx], bg[idx], chunk, chunk_clutter, image_size, sdfs)
    return out


def _clutter_factors(details: dict, n: int, device: torch.device) -> dict[str, Tensor]:
    """The clutter tensors, checked and completed; empty (K = 0) when ``clutter_box`` is absent."""
    given = [k for k in CLUTTER_KEYS if k in details]
    if "clutter_box" not in details:
        if given:
            raise ValueError(f"clutter factors {given} need 'clutter_box' (N, K, 4) as well.")
        return {}
    box = torch.as_tensor(details["clutter_box"], dtype=torch.float32, device=device)
    if box.dim() != 3 or box.shape[0] != n or box.shape[2] != 4:
        raise ValueError(
            f"clutter_box must have shape ({n}, K, 4) (x, y, half-w, half-h), got {tuple(box.shape)}."
        )
    if not bool(torch.isfinite(box).all()) or bool((box[..., 2:] < 0).any()):
        raise ValueError("clutter_box must be finite with non-negative half-sizes (x, y, half-w, half-h).")
    k = box.shape[1]
    shapes = {"clutter_round": (n, k), "clutter_color": (n, k, 3), "clutter_visible": (n, k)}
    defaults = {"clutter_round": 0.5, "clutter_color": 0.5, "clutter_visible": True}
    out = {"clutter_box": box}
    for key, shape in shapes.items():
        dtype = torch.bool if key == "clutter_visible" else torch.float32
        t = torch.as_tensor(details.get(key, defaults[key]), dtype=dtype, device=device)
        if t.dim() == 0:
            t = t.expand(shape)
        if tuple(t.shape) != shape:
            raise ValueError(f"{key} must have shape {shape} to match clutter_box, got {tuple(t.shape)}.")
        out[key] = t
    return out


def _draw_clutter(canvas: Tensor, box: Tensor, rounding: Tensor, colour: Tensor, visible: Tensor) -> None:
    """Composite K rounded boxes per image onto ``canvas`` (n, 3, S, S), in place, slot by slot.

    ``box`` (n, K, 4) holds centre and half-sizes in pixels. The caller orders the images by
    their last visible slot, descending, so that slot ``k`` only needs the first ``m_k`` images
    (a view, no copy); invisible slots inside that prefix get coverage 0.
    """
    size = canvas.shape[-1]
    pix = torch.arange(size, device=canvas.device, dtype=torch.float32).add_(0.5)
    px, py = pix.view(1, 1, size), pix.view(1, size, 1)
    rho_all = torch.minimum(box[..., 2], box[..., 3]) * rounding  # corner radius, pixels
    # coverage = clamp(0.5 + rho - d); invisible slots get a huge negative offset: coverage 0
    offset = torch.where(visible, 0.5, -1e4) + rho_all
    needed = visible.flip(1).cumsum(1).flip(1).gt(0).sum(0).tolist()  # images with a slot >= k
    for k, m in enumerate(needed):
        if m == 0:
            break
        bx, by, hw, hh = (v[:m].view(m, 1, 1) for v in box[:m, k].unbind(-1))
        rho = rho_all[:m, k].view(m, 1, 1)
        # rounded box: d = |max(e, 0)| + min(max(e_x, e_y), 0) - rho, e = |p - c| - (half - rho)
        ex = (px - bx).abs_().sub_(hw - rho)  # (m, 1, S)
        ey = (py - by).abs_().sub_(hh - rho)  # (m, S, 1)
        d = torch.hypot(ex.clamp(min=0), ey.clamp(min=0))
        d += torch.maximum(ex, ey).clamp_(max=0)
        alpha = torch.sub(offset[:m, k].view(m, 1, 1), d).clamp_(0, 1)
        canvas[:m].lerp_(colour[:m, k].view(m, 3, 1, 1), alpha.unsqueeze(1))


def _render_chunk(
    labels: Tensor,
    bg: Tensor,
    f: dict[str, Tensor],
    clutter: dict[str, Tensor],
    size: int,
    sdfs: list,
) -> Tensor:
    """Render ``m`` images: (m,) factors → uint8 (m, 3, S, S). Pixel centres are at ``i + 0.5``."""
    m, device = labels.numel(), labels.device
    pix = torch.arange(size, device=device, dtype=torch.float32).add_(0.5)
    px, py = pix.view(1, 1, size), pix.view(1, size, 1)

    def col(t: Tensor) -> Tensor:  # (m,) -> (m, 1, 1) for broadcasting against (m, S, S)
        return t.view(-1, 1, 1)

    # 1. background colour, and the texture for textured images
    base = hsv_to_rgb(f["bg_hue"], f["bg_saturation"], f["bg_value"])
    rgb = base.view(m, 3, 1, 1).expand(m, 3, size, size).contiguous()
    tex = (bg == 1).nonzero().squeeze(1)
    if tex.numel():
        w = f["texture_freq"][tex] * (2 * math.pi / size)
        a, phase = f["texture_angle"][tex], f["texture_phase"][tex]
        wc, ws = col(w * a.cos()), col(w * a.sin())
        g1 = (wc * px + col(phase)) + ws * py
        g2 = (ws * px).neg_().add_(col(1.7 * phase + 1.0)) + wc * py
        plaid = g1.sin_().add_(g2.sin_()).mul_(0.3).add_(1.0)
        rgb[tex] = rgb[tex] * plaid.unsqueeze(1)

    # 2. clutter: K rounded boxes per cluttered image
    cl = (bg == 2).nonzero().squeeze(1)
    if clutter and cl.numel() and clutter["clutter_box"].shape[1]:
        slots = torch.arange(1, clutter["clutter_visible"].shape[1] + 1, device=device)
        last = (clutter["clutter_visible"][cl] * slots).amax(1)  # 1 + last visible slot, 0 if none
        cl = cl[torch.argsort(last, descending=True, stable=True)]
        sub = rgb[cl]
        _draw_clutter(
            sub,
            clutter["clutter_box"][cl] * size,
            clutter["clutter_round"][cl],
            clutter["clutter_color"][cl],
            clutter["clutter_visible"][cl],
        )
        rgb[cl] = sub

    # 3. the object: q = R(-theta) (p - c) / r in the shape's frame, r = scale * S pixels
    r = f["scale"] * size
    cos, sin = f["rotation"].cos(), f["rotation"].sin()
    cx, cy = f["x"] * size, f["y"] * size
    ax, bx = cos / r, sin / r
    qx = (col(ax) * px + col(-(ax * cx + bx * cy))) + col(bx) * py
    qy = (col(-bx) * px + col(bx * cx - ax * cy)) + col(ax) * py
    values, counts = torch.unique_consecutive(labels, return_counts=True)
    if values.numel() == 1:
        dist = sdfs[int(values)](qx, qy)
    else:
        dist = torch.empty_like(qx)
        start = 0
        for c, cnt in zip(values.tolist(), counts.tolist()):
            dist[start : start + cnt] = sdfs[c](qx[start : start + cnt], qy[start : start + cnt])
            start += cnt
    alpha = dist.mul_(col(r)).neg_().add_(0.5).clamp_(0, 1)
    colour = hsv_to_rgb(f["hue"], f["saturation"], f["value"])
    rgb.lerp_(colour.view(m, 3, 1, 1), alpha.unsqueeze(1))
    return rgb.mul_(255).add_(0.5).clamp_(0, 255).to(torch.uint8)

"""Signed distance functions (SDFs) of the Shapes classes.

A signed distance function ``d(q)`` of a 2-D shape is negative inside the shape, zero on its
edge and positive outside; ``|d|`` is (close to) the Euclidean distance to the edge. Drawing a
shape is then one comparison per pixel, for a whole batch of images at once:

.. math:: \\alpha = \\operatorname{clamp}(0.5 - r\\, d(q), 0, 1)

where ``q`` are the pixel coordinates in the shape's own frame (translated, rotated and
divided by its size ``r`` in pixels) and ``alpha`` is the pixel's coverage, a linear ramp
one pixel wide that anti-aliases the edge.

Every function here takes ``qx, qy`` of any (broadcastable) shape in units of the shape's
size and returns ``d`` in the same units. Each shape fits in (about) the unit disc, with
similar areas, so ``scale`` means the same thing for every class. Sharp-cornered shapes use
the cheap "max of half-planes" form, exact inside and along the edges and slightly
underestimating the distance just outside a corner, which only matters for the one-pixel
anti-aliasing ramp.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

SDF = Callable[[Tensor, Tensor], Tensor]


def circle(qx: Tensor, qy: Tensor) -> Tensor:
    """Disc of radius 0.85: ``|q| - 0.85``."""
    return torch.hypot(qx, qy).sub_(0.85)


def square(qx: Tensor, qy: Tensor) -> Tensor:
    """Axis-aligned square of half-side 0.75 (before rotation): ``max(|qx|, |qy|) - 0.75``."""
    return torch.maximum(qx.abs(), qy.abs()).sub_(0.75)


def triangle(qx: Tensor, qy: Tensor) -> Tensor:
    """Equilateral triangle with circumradius 1.15, apex towards -y (up in an image).

    Intersection of three half-planes ``n_k . q <= r_in`` with normals at 90°, 210°, 330°
    and inradius ``r_in = 1.15 / 2``; the two slanted ones combine as
    ``max(a - b, a + b) = a + |b|`` with ``a = -qy/2`` and ``b = qx sqrt(3)/2``.
    """
    slanted = qx.abs().mul_(math.sqrt(3) / 2).sub_(qy * 0.5)
    return torch.maximum(qy, slanted).sub_(1.15 / 2)


def cross(qx: Tensor, qy: Tensor) -> Tensor:
    """Plus sign: two bars of half-length 1.0 and half-width 0.3.

    A point is inside iff its larger coordinate magnitude is <= 1.0 and its smaller one <= 0.3,
    hence ``max(max(|qx|,|qy|) - 1.0, min(|qx|,|qy|) - 0.3)``.
    """
    ax, ay = qx.abs(), qy.abs()
    return torch.maximum(torch.maximum(ax, ay).sub_(1.0), torch.minimum(ax, ay).sub_(0.3))


def ring(qx: Tensor, qy: Tensor) -> Tensor:
    """Annulus with mid-radius 0.75 and half-thickness 0.2: ``||q| - 0.75| - 0.2``."""
    return torch.hypot(qx, qy).sub_(0.75).abs_().sub_(0.2)


def _polar_fold(qx: Tensor, qy: Tensor, n: int, angle0: float = 0.0) -> tuple[Tensor, Tensor]:
    """Polar radius ``r`` and angle ``psi`` folded into ``[-pi/n, pi/n)`` (n-fold symmetry).

    ``psi`` is measured from the direction ``angle0`` (radians, from +x towards +y) and its
    copies every ``2 pi / n``.
    """
    sector = 2 * math.pi / n
    psi = torch.atan2(qy, qx).add_(math.pi / n - angle0).remainder_(sector).sub_(math.pi / n)
    return torch.hypot(qx, qy), psi


def regular_polygon(n: int, circumradius: float) -> SDF:
    """SDF of a regular ``n``-gon: in the folded frame the nearest edge is the one facing
    ``psi = 0`` at distance ``a = R cos(pi/n)`` (the apothem), so ``d = r cos(psi) - a``."""
    apothem = circumradius * math.cos(math.pi / n)

    def sdf(qx: Tensor, qy: Tensor) -> Tensor:
        r, psi = _polar_fold(qx, qy, n)
        return psi.cos_().mul_(r).sub_(apothem)

    return sdf


def star_polygon(n: int, outer: float, inner: float, angle0: float = -math.pi / 2) -> SDF:
    """SDF of an ``n``-pointed star (tips at radius ``outer``, notches at radius ``inner``).

    Folding by symmetry (``|psi|``) leaves the wedge between a tip ``T = (outer, 0)`` and a
    notch ``V = inner (cos(pi/n), sin(pi/n))``; the star's part of that wedge is the triangle
    ``O T V``, so the distance is the one to the line ``T V``: with unit outward normal
    ``m = (cos beta, sin beta)``, ``d = m . (p - T) = r cos(|psi| - beta) - m . T``.
    ``angle0`` is the direction of one tip (default -y: pointing up in an image).
    """
    tx, ty = outer, 0.0
    vx, vy = inner * math.cos(math.pi / n), inner * math.sin(math.pi / n)
    ex, ey = vx - tx, vy - ty
    length = math.hypot(ex, ey)
    mx, my = ey / length, -ex / length  # perpendicular to the edge
    if mx * tx + my * ty < 0:  # make it point away from the centre
        mx, my = -mx, -my
    beta = math.atan2(my, mx)
    offset = mx * tx + my * ty

    def sdf(qx: Tensor, qy: Tensor) -> Tensor:
        r, psi = _polar_fold(qx, qy, n, angle0)
        return psi.abs_().sub_(beta).cos_().mul_(r).sub_(offset)

    return sdf


_star5 = star_polygon(5, outer=1.15, inner=0.5)
_hexagon = regular_polygon(6, circumradius=0.95)


def star(qx: Tensor, qy: Tensor) -> Tensor:
    """Five-pointed star, tips at radius 1.15 and notches at radius 0.5."""
    return _star5(qx, qy)


def hexagon(qx: Tensor, qy: Tensor) -> Tensor:
    """Regular hexagon of circumradius 0.95."""
    return _hexagon(qx, qy)


def crescent(qx: Tensor, qy: Tensor) -> Tensor:
    """Disc of radius 0.95 minus a disc of radius 0.8 shifted by +0.5 in x: ``max(d_A, -d_B)``."""
    return torch.maximum(torch.hypot(qx, qy).sub_(0.95), torch.hypot(qx - 0.5, qy).neg_().add_(0.8))


#: every shape the renderer can draw, by class name
SHAPE_SDFS: dict[str, SDF] = {
    "circle": circle,
    "square": square,
    "triangle": triangle,
    "star": star,
    "cross": cross,
    "ring": ring,
    "hexagon": hexagon,
    "crescent": crescent,
}

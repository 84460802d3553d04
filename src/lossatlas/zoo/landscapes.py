"""Synthetic 2-D landscapes with known minima and saddles, usable as a loss.

Each landscape is an `nn.Module` whose only trainable parameter is the point
``xy`` (shape (2,)). ``forward(x)`` ignores the values of the batch ``x`` and
returns the energy E(xy) once per sample (shape [B]), so any code that trains or
probes a model with a mean-reduced loss over a data set sees exactly
L(θ) = E(θ); a one-sample dummy set ``x = torch.zeros(1, 1)`` is enough.

``energy(xy)`` is vectorised over leading dimensions (for contour grids), and
the class attributes ``minima``, ``saddles`` and ``maxima`` (float64 tensors
[k, 2]) hold the known critical points; ``bounds`` is a plotting window
``((xmin, xmax), (ymin, ymax))``.

References:
    Müller, Brown (1979). Location of saddle points and minimum energy paths by
    a constrained simplex optimization procedure. Theoretica Chimica Acta 53, 75-93.
    Rosenbrock (1960). An automatic method for finding the greatest or least
    value of a function. The Computer Journal 3(3), 175-184.
    Himmelblau (1972). Applied Nonlinear Programming. McGraw-Hill.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from lossatlas.zoo.registry import lookup

__all__ = [
    "LANDSCAPES",
    "Himmelblau",
    "Landscape",
    "MullerBrown",
    "Rosenbrock",
    "TwoWells",
    "landscape",
]

Bounds = tuple[tuple[float, float], tuple[float, float]]


def _points(*rows: tuple[float, float]) -> Tensor:
    return torch.tensor(rows, dtype=torch.float64).reshape(-1, 2)


def _split_xy(xy: Tensor) -> tuple[Tensor, Tensor]:
    if not isinstance(xy, Tensor) or xy.ndim == 0 or xy.shape[-1] != 2:
        shape = tuple(xy.shape) if isinstance(xy, Tensor) else type(xy).__name__
        raise ValueError(
            f"`xy` must be a tensor whose last dimension has size 2 (x, y); got {shape}."
        )
    return xy[..., 0], xy[..., 1]


class Landscape(nn.Module):
    """Base class: a point ``xy`` in the plane whose loss is the energy E(xy).

    Subclasses define `energy` and the class attributes below.

    Attributes:
        xy: the trainable point, shape (2,).
        minima: known minima, float64 [k, 2].
        saddles: known first-order saddle points, float64 [k, 2].
        maxima: known maxima, float64 [k, 2].
        bounds: plotting window ``((xmin, xmax), (ymin, ymax))``.
        default_start: the start point used when ``start`` is None.
    """

    # Class-level defaults; an instance may shadow them (TwoWells moves its saddle with c).
    minima: Tensor = _points()
    saddles: Tensor = _points()
    maxima: Tensor = _points()
    bounds: Bounds = ((-1.0, 1.0), (-1.0, 1.0))
    default_start: ClassVar[tuple[float, float]] = (0.0, 0.0)

    def __init__(self, start: Sequence[float] | Tensor | None = None) -> None:
        super().__init__()
        self.xy = nn.Parameter(self._start_tensor(self.default_start if start is None else start))

    @staticmethod
    def _start_tensor(start: Sequence[float] | Tensor) -> Tensor:
        if isinstance(start, Tensor) and start.is_floating_point():
            point = start.detach().clone()  # keep the caller's dtype (e.g. float64)
        else:
            point = torch.as_tensor(start, dtype=torch.get_default_dtype()).clone()
        if point.shape != (2,) or not torch.isfinite(point).all():
            raise ValueError(
                f"`start` must be two finite numbers (x, y); got {start!r}. "
                "Pass e.g. start=(0.0, 1.0)."
            )
        return point

    def energy(self, xy: Tensor) -> Tensor:
        """E(xy) for ``xy`` of shape [..., 2]; returns shape [...]."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """E(self.xy) repeated once per sample of the batch ``x`` (shape [B])."""
        if x.ndim == 0:
            raise ValueError(
                "`x` must have a batch dimension; got a 0-d tensor. Pass e.g. torch.zeros(1, 1)."
            )
        return self.energy(self.xy).repeat(x.shape[0])

    def extra_repr(self) -> str:
        """The current point, for `repr`."""
        x, y = self.xy.detach().tolist()
        return f"xy=({x:.6g}, {y:.6g})"


class MullerBrown(Landscape):
    r"""The Müller–Brown potential (Müller & Brown 1979), a standard test for path finding.

    .. math::

        E(x, y) = \sum_{k=1}^{4} A_k \exp\big(a_k (x - x_k)^2
                  + b_k (x - x_k)(y - y_k) + c_k (y - y_k)^2\big)

    with A = (−200, −100, −170, 15), a = (−1, −1, −6.5, 0.7), b = (0, 0, 11, 0.6),
    c = (−10, −10, −6.5, 0.7), x_k = (1, 0, −0.5, −1), y_k = (0, 0.5, 1.5, 1).

    Three minima and two saddles, refined here by Newton's method in float64 from
    the literature's three-digit values (gradient < 1e-12 at the stored points):

    - minimum (−0.558224, 1.441726), E = −146.699517
    - minimum (0.623499, 0.028038), E = −108.166724
    - minimum (−0.050011, 0.466694), E = −80.767818
    - saddle (−0.822002, 0.624313), E = −40.664844
    - saddle (0.212487, 0.292988), E = −72.248940

    The minimum-energy path from the deepest minimum runs through the saddle at
    (−0.822, 0.624), the middle minimum and the saddle at (0.212, 0.293). The
    fourth term grows without bound away from the window ``bounds``, so float32
    energies overflow far outside it.
    """

    A: ClassVar[tuple[float, ...]] = (-200.0, -100.0, -170.0, 15.0)
    a: ClassVar[tuple[float, ...]] = (-1.0, -1.0, -6.5, 0.7)
    b: ClassVar[tuple[float, ...]] = (0.0, 0.0, 11.0, 0.6)
    c: ClassVar[tuple[float, ...]] = (-10.0, -10.0, -6.5, 0.7)
    x0: ClassVar[tuple[float, ...]] = (1.0, 0.0, -0.5, -1.0)
    y0: ClassVar[tuple[float, ...]] = (0.0, 0.5, 1.5, 1.0)

    minima = _points(
        (-0.558223634633, 1.441725841805),
        (0.623499404931, 0.028037758529),
        (-0.050010822998, 0.466694104872),
    )
    saddles = _points(
        (-0.822001558733, 0.624312802815),
        (0.212486582001, 0.292988325107),
    )
    bounds = ((-1.5, 1.2), (-0.5, 2.0))
    default_start = (0.0, 1.0)

    def energy(self, xy: Tensor) -> Tensor:
        """E(xy) for ``xy`` of shape [..., 2]; returns shape [...]."""
        x, y = _split_xy(xy)
        total = torch.zeros_like(x)
        for A, a, b, c, x0, y0 in zip(
            self.A, self.a, self.b, self.c, self.x0, self.y0, strict=True
        ):
            dx, dy = x - x0, y - y0
            total = total + A * torch.exp(a * dx * dx + b * dx * dy + c * dy * dy)
        return total


class TwoWells(Landscape):
    r"""Two minima joined by a curved valley: the straight line between them is not the best path.

    .. math::

        E(x, y) = (x^2 - 1)^2 + k\,\big(y - c\,(1 - x^2)\big)^2, \qquad k > 0.

    Closed forms: ∂E/∂y = 0 forces the valley floor y = c(1 − x²), on which
    E = (x² − 1)², so the critical points are exactly

    - minima (±1, 0) with E = 0 (Hessian [[8 + 8kc², ∓4kc], [∓4kc, 2k]],
      determinant 16k > 0);
    - one saddle (0, c) with E = 1 (Hessian diag(−4, 2k)).

    The minimum-energy path follows the parabola y = c(1 − x²) and its height
    is the saddle energy 1; the straight segment y = 0 between the minima has
    E(x, 0) = (1 + kc²)(1 − x²)², highest at (0, 0) with E = 1 + kc² (3 for the
    defaults k = 2, c = 1).

    Args:
        start: the initial point; default (−1.5, 1.5).
        k: stiffness of the valley walls, > 0.
        c: height of the valley's bend at x = 0.
    """

    minima = _points((-1.0, 0.0), (1.0, 0.0))
    saddles = _points((0.0, 1.0))
    bounds = ((-2.0, 2.0), (-1.5, 2.5))
    default_start = (-1.5, 1.5)

    def __init__(
        self,
        start: Sequence[float] | Tensor | None = None,
        *,
        k: float = 2.0,
        c: float = 1.0,
    ) -> None:
        if not (isinstance(k, int | float) and math.isfinite(k) and k > 0):
            raise ValueError(f"`k` must be a finite number > 0; got {k!r}.")
        if not (isinstance(c, int | float) and math.isfinite(c)):
            raise ValueError(f"`c` must be a finite number; got {c!r}.")
        super().__init__(start)
        self.k = float(k)
        self.c = float(c)
        # The saddle and the window move with c: shadow the class defaults.
        self.saddles = _points((0.0, self.c))
        self.bounds = ((-2.0, 2.0), (min(0.0, self.c) - 1.5, max(0.0, self.c) + 1.5))

    def energy(self, xy: Tensor) -> Tensor:
        """E(xy) for ``xy`` of shape [..., 2]; returns shape [...]."""
        x, y = _split_xy(xy)
        bend = 1.0 - x * x
        return bend * bend + self.k * (y - self.c * bend) ** 2

    def extra_repr(self) -> str:
        """The point and the wells' k and c, for `repr`."""
        return f"{super().extra_repr()}, k={self.k:g}, c={self.c:g}"


class Rosenbrock(Landscape):
    r"""Rosenbrock's banana valley (Rosenbrock 1960) with a = 1, b = 100.

    .. math:: E(x, y) = (a - x)^2 + b\,(y - x^2)^2

    One minimum (a, a²) = (1, 1) with E = 0, no other critical points; the
    Hessian there is [[802, −400], [−400, 200]] (condition number ≈ 2508).
    Default start (−1.2, 1), Rosenbrock's own.
    """

    a: ClassVar[float] = 1.0
    b: ClassVar[float] = 100.0
    minima = _points((1.0, 1.0))
    bounds = ((-2.0, 2.0), (-1.0, 3.0))
    default_start = (-1.2, 1.0)

    def energy(self, xy: Tensor) -> Tensor:
        """E(xy) for ``xy`` of shape [..., 2]; returns shape [...]."""
        x, y = _split_xy(xy)
        return (self.a - x) ** 2 + self.b * (y - x * x) ** 2


class Himmelblau(Landscape):
    r"""Himmelblau's function (Himmelblau 1972): four equal minima, four saddles, one maximum.

    .. math:: E(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2

    Minima (E = 0): (3, 2), (−2.805118, 3.131313), (−3.779310, −3.283186),
    (3.584428, −1.848127). Saddles: (0.086678, 2.884255) E ≈ 67.719,
    (−3.073026, −0.081353) E ≈ 104.015, (3.385154, 0.073852) E ≈ 13.312,
    (−0.127961, −1.953715) E ≈ 178.337. Maximum (−0.270845, −0.923039)
    E ≈ 181.617. All refined by Newton's method in float64.
    """

    minima = _points(
        (3.0, 2.0),
        (-2.805118086953, 3.131312518251),
        (-3.779310253378, -3.283185991286),
        (3.584428340330, -1.848126526964),
    )
    saddles = _points(
        (0.086677504555, 2.884254701175),
        (-3.073025750764, -0.081353044288),
        (3.385154183607, 0.073851879838),
        (-0.127961346731, -1.953714980245),
    )
    maxima = _points((-0.270844590667, -0.923038556480))
    bounds = ((-5.0, 5.0), (-5.0, 5.0))
    default_start = (0.0, 0.0)

    def energy(self, xy: Tensor) -> Tensor:
        """E(xy) for ``xy`` of shape [..., 2]; returns shape [...]."""
        x, y = _split_xy(xy)
        return (x * x + y - 11.0) ** 2 + (x + y * y - 7.0) ** 2


#: Landscapes by name.
LANDSCAPES: dict[str, type[Landscape]] = {
    "muller-brown": MullerBrown,
    "two-wells": TwoWells,
    "rosenbrock": Rosenbrock,
    "himmelblau": Himmelblau,
}


def landscape(name: str, start: Sequence[float] | Tensor | None = None, **kwargs: Any) -> Landscape:
    """Build the landscape registered under ``name`` (see `LANDSCAPES`).

    Names are case-insensitive and ``_`` may stand for ``-``.

    Args:
        name: e.g. ``"muller-brown"`` or ``"two-wells"``.
        start: the initial point (x, y); None uses the landscape's ``default_start``.
        **kwargs: options of the landscape, e.g. ``k=`` and ``c=`` for `TwoWells`.

    Raises:
        ValueError: for an unknown name; the message lists the known ones.
    """
    return lookup(LANDSCAPES, name)(start, **kwargs)

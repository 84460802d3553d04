"""The width of a minimum's basin along θ → αθ, with the ends the grid could not see flagged.

Im et al. (2016, Fig. 4) measure the size of a solution's basin along the
line through the origin and θ: the interval of α around α = 1 where the loss
L(αθ) stays below a level, by default half-way between the solution's loss
and the loss at the origin, ½(L(θ) + L(0)). The interval's ends are the level
crossings, interpolated linearly between the last grid point inside and the
first one outside.

When the loss is still below the level at the grid's edge, the grid does not
show where the basin ends: that end is *censored*, and the edge is only a
lower bound on the basin's extent (a right-censored observation in the
statistical sense). `BasinWidth` says so, rather than reporting the edge as if
it were the crossing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from torch import Tensor

from lossatlas.core.objective import Objective


@dataclass(frozen=True)
class BasinWidth:
    """An interval [low, high] of α where L(αθ) ≤ level.

    `low_censored` / `high_censored`: the loss is still below the level at the
    grid's edge on that side, so the basin reaches at least that far and the
    true end is unknown (widen the span to find it). `low` and `high` are NaN
    when the loss at the grid point nearest α = 1 is already above the level.
    """

    low: float
    high: float
    level: float
    low_censored: bool
    high_censored: bool

    @property
    def width(self) -> float:
        """high − low, in units of α (multiply by ‖θ‖ for a distance in weight space)."""
        return self.high - self.low

    @property
    def censored(self) -> bool:
        """Either end lies at the grid's edge: the width is a lower bound."""
        return self.low_censored or self.high_censored

    def describe(self) -> str:
        """'α ∈ [0.62, ≥ 2] (reaches the grid's edge: widen --span)', for a person."""
        if math.isnan(self.low):
            return f"no basin: the loss near α = 1 is above the level {self.level:.6g}"
        lo = f"≤ {self.low:.4g}" if self.low_censored else f"{self.low:.4g}"
        hi = f"≥ {self.high:.4g}" if self.high_censored else f"{self.high:.4g}"
        text = f"α ∈ [{lo}, {hi}], width {'≥ ' if self.censored else ''}{self.width:.4g}"
        if self.censored:
            text += " (the basin reaches the grid's edge: widen --span to find its end)"
        return text

    def as_dict(self) -> dict[str, Any]:
        """The fields and the width, for JSON records."""
        return {**asdict(self), "width": self.width, "censored": self.censored}


def basin_width(
    alpha: np.ndarray, loss: np.ndarray, level: float, centre: float = 1.0
) -> BasinWidth:
    """The interval of α around `centre` where loss(α) ≤ level (Im et al. 2016, Fig. 4).

    Args:
        alpha: [P] increasing grid of α.
        loss: [P] the loss on it (a non-finite value counts as outside).
        level: the loss that bounds the basin.
        centre: where the basin is looked for (α = 1 is the solution itself).

    Returns:
        `BasinWidth`; an end at the grid's edge is flagged as censored.
    """
    alpha, loss = np.asarray(alpha, float), np.asarray(loss, float)
    if alpha.ndim != 1 or alpha.shape != loss.shape or alpha.size < 2:
        raise ValueError(
            f"`alpha` and `loss` must be 1-D of one length ≥ 2; got {alpha.shape} and {loss.shape}."
        )
    if np.any(np.diff(alpha) <= 0):
        raise ValueError("`alpha` must be strictly increasing.")
    i = int(np.argmin(np.abs(alpha - centre)))
    if not loss[i] <= level:
        return BasinWidth(math.nan, math.nan, float(level), False, False)
    ends, censored = [], []
    for step in (-1, 1):
        j = i
        while 0 <= j + step < len(alpha) and loss[j + step] <= level:
            j += step
        k = j + step
        if not 0 <= k < len(alpha):  # still inside at the grid's edge
            ends.append(float(alpha[j]))
            censored.append(True)
        elif not np.isfinite(loss[k]):  # the next point is out, but by how much is unknown
            ends.append(float(alpha[j]))
            censored.append(False)
        else:  # the crossing between the last point inside and the first outside
            w = (level - loss[j]) / (loss[k] - loss[j])
            ends.append(float(alpha[j] + w * (alpha[k] - alpha[j])))
            censored.append(False)
    return BasinWidth(ends[0], ends[1], float(level), censored[0], censored[1])


def default_level(obj: Objective, theta: Tensor) -> float:
    """½(L(θ) + L(0)): half-way between the solution and the origin (Im et al. 2016)."""
    return 0.5 * (float(obj.value(theta)) + float(obj.value(0 * theta)))


def scaling_basin(ds, obj: Objective | None = None, level: float | None = None) -> BasinWidth:
    """The basin of a `surface.scaling` curve `ds` (a Dataset with `alpha` and `loss`).

    Args:
        ds: the curve, as `surface.scaling` returns or `surface.load` reads it.
        obj: with `level` None, the objective whose ½(L(θ) + L(0)) sets the level
            (θ is the curve's `theta`).
        level: the bounding loss; None: ½(L(θ) + L(0)).
    """
    if level is None:
        if obj is None:
            raise ValueError("give `level`, or `obj` to compute ½(L(θ) + L(0)).")
        import torch

        theta = torch.as_tensor(ds["theta"].to_numpy(), dtype=obj.dtype, device=obj.device)
        level = default_level(obj, theta)
    return basin_width(ds["alpha"].to_numpy(), ds["loss"].to_numpy(), level)


__all__ = ["BasinWidth", "basin_width", "default_level", "scaling_basin"]

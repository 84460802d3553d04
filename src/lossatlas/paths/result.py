"""What every path method returns: the loss profile along t and the heights built on it.

Heights (research/algorithms.md "More exact settings"): the optimizer-strategies
paper's path height is eq. 5, max_i L(θ(t_i)); elsewhere barriers are measured
from the endpoints, max L − max(L(θa), L(θb)) (used here as `barrier`), or in
weight-matching work from their mean, max L − ½(L(θa) + L(θb))
(`barrier_mean`). All three are reported, named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import Tensor

from lossatlas.core.objective import Objective


@dataclass
class PathResult:
    """A path between θa and θb and its loss profile.

    Attributes:
        method: "linear", "fourier", "bezier" or "polychain".
        t: [P] curve parameters in [0, 1].
        loss: [P] training loss at θ(t_i).
        test_loss: [P] test loss, when test data was given.
        length: Σ_i ‖θ(t_{i+1}) − θ(t_i)‖ over the discretised path.
        theta_a, theta_b: the endpoints [n].
        coefficients: the learned part ([K, n] Fourier b_n, or [1, n] Bezier
            control point); None for a line.
        history: per optimisation step, the cumulative loss Σ_i L(θ(t_i)).
        heights: per optimisation step, the path's height max_i L(θ(t_i)) (FourierPathFinder).
        settings: every setting of the run.
    """

    method: str
    t: np.ndarray
    loss: np.ndarray
    theta_a: Tensor
    theta_b: Tensor
    length: float
    test_loss: np.ndarray | None = None
    coefficients: Tensor | None = None
    history: list[float] = field(default_factory=list)
    heights: list[float] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    basis: Any = None  # callable t [P] -> [P, n] points, set by the method

    @property
    def height(self) -> float:
        """Path height, eq. 5 of the optimizer-strategies paper: max_i L(θ(t_i))."""
        return float(np.max(self.loss))

    @property
    def barrier(self) -> float:
        """max_i L(θ(t_i)) − max(L(θa), L(θb))."""
        return self.height - float(max(self.loss[0], self.loss[-1]))

    @property
    def barrier_mean(self) -> float:
        """max_i L(θ(t_i)) − ½(L(θa) + L(θb)) (the weight-matching convention)."""
        return self.height - 0.5 * float(self.loss[0] + self.loss[-1])

    @property
    def settled(self) -> float:
        """How far the path's height still moved at the end: the relative change of
        max_i L(θ(t_i)) over the last tenth of its optimisation steps (0 for a line, or a
        method that does not record its heights).

        The studies call a path converged when this is below `paths.matrix.SETTLED` (1%):
        a height read from a path that is still falling is an upper bound, not a
        measurement.
        """
        h = [x for x in self.heights if np.isfinite(x)]
        if len(h) < 2:
            return 0.0
        back = h[-1 - max(1, len(h) // 10)]
        return float(abs(back - h[-1]) / max(abs(h[-1]), 1e-300))

    def points(self, t: np.ndarray | Tensor | None = None) -> Tensor:
        """θ(t) [P, n] at the result's t (or any t in [0, 1])."""
        tt = self.t if t is None else t
        return self.basis(torch.as_tensor(np.asarray(tt), dtype=torch.float64))

    def summary(self) -> dict[str, float]:
        """Height, barrier, length and endpoint losses as a flat dict of floats."""
        out = {
            "height": self.height,
            "barrier": self.barrier,
            "barrier_mean": self.barrier_mean,
            "length": self.length,
            "settled": self.settled,
            "loss_a": float(self.loss[0]),
            "loss_b": float(self.loss[-1]),
        }
        if self.test_loss is not None:
            out["test_height"] = float(np.max(self.test_loss))
        return out

    def to_dataset(self) -> xr.Dataset:
        """The profile over `t` with the heights and settings in attrs."""
        data = {"loss": (("t",), self.loss)}
        if self.test_loss is not None:
            data["test_loss"] = (("t",), self.test_loss)
        return xr.Dataset(
            data,
            coords={"t": self.t},
            attrs={"method": self.method, **self.summary(), **self.settings},
        )


def check_endpoints(obj: Objective, theta_a: Tensor, theta_b: Tensor) -> tuple[Tensor, Tensor]:
    """θa, θb as flat vectors on the objective's device, with clear errors."""
    out = []
    for name, t in (("theta_a", theta_a), ("theta_b", theta_b)):
        if not isinstance(t, Tensor):
            raise TypeError(f"`{name}` must be a torch.Tensor; got {type(t).__name__}.")
        if t.dim() != 1 or t.numel() != obj.size:
            raise ValueError(
                f"`{name}` must be a flat parameter vector of length {obj.size} (this model's "
                f"parameters); got shape {tuple(t.shape)}. Are θa and θb from the same model?"
            )
        if not torch.isfinite(t).all():
            raise ValueError(f"`{name}` has non-finite entries; check the checkpoint.")
        out.append(t.detach().to(device=obj.device, dtype=obj.dtype))
    return out[0], out[1]


def check_distinct(a: Tensor, b: Tensor) -> None:
    """Refuse θa = θb: a path optimised between one point and itself has nothing to find
    (its length is 0 and every height is the loss at that point)."""
    if torch.equal(a, b):
        raise ValueError(
            "θa and θb are the same point, so there is no path between them to find; "
            "give two different minima (two checkpoints, or two rows of a solution stack)."
        )


def check_points(points: int) -> int:
    """`points` if it is an integer ≥ 2 (both endpoints), else a ValueError naming it."""
    if not isinstance(points, int) or points < 2:
        raise ValueError(
            f"`points` must be an integer ≥ 2 (t = 0 and t = 1 at least); got {points!r}."
        )
    return points


class NonFinitePathLoss(ArithmeticError):
    """The loss is NaN or infinite somewhere on the path."""


def check_finite(loss: np.ndarray, t: np.ndarray, what: str) -> None:
    """Raise `NonFinitePathLoss` naming the t values where the path's loss is not finite."""
    bad = ~np.isfinite(loss)
    if bad.any():
        where = ", ".join(f"{x:.3g}" for x in t[bad][:5])
        raise NonFinitePathLoss(
            f"the {what} is not finite at t = {where} ({int(bad.sum())} of {len(t)} points): "
            "the path crosses a region where the loss overflows. Check the endpoints "
            "(Objective.value), lower the learning rate, or use dtype=torch.float64."
        )


def profile(obj: Objective | None, points: Tensor, chunk: int = 64) -> np.ndarray | None:
    """L at each row of `points` [P, n], in chunks (None without an objective)."""
    if obj is None:
        return None
    values = [obj.values(c) for c in points.split(chunk)]
    return torch.cat(values).double().cpu().numpy()


def path_length(points: Tensor) -> float:
    """Σ_i ‖θ(t_{i+1}) − θ(t_i)‖: the polygonal length of a path's points [T, n]."""
    return float((points[1:] - points[:-1]).norm(dim=1).sum())

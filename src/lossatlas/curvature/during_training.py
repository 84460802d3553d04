"""The Hessian's spectrum during training: a callback for `lossatlas.optim.train`.

Ghorbani et al. (2019, §3–4) follow the top eigenvalues and the density
through training (the outliers appear within the first steps, the bulk
shrinks). `SpectrumRecorder(every=k)` passed in `train(..., callbacks=[...])`
computes them at step 0 and every k steps, on the run's own objective (the
full training set), and keeps them with their steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from torch import Tensor

from lossatlas.core.objective import Objective
from lossatlas.curvature.density import density as _density
from lossatlas.curvature.eigen import top_eigenvalues


class SpectrumRecorder:
    """Records the top-k Hessian eigenvalues (and optionally the SLQ density) every k steps.

    Args:
        every: steps between records (step 0 is always recorded).
        top: how many top eigenvalues (0 for none).
        density: also record the SLQ density (`draws`, `lanczos_steps`, on
            a fixed grid `grid` of eigenvalues so records line up).
        tol: eigen-solver tolerance (relative residual).
        objective: evaluate on this objective instead of the training one
            (e.g. mode="eval" for a network with BatchNorm).
    """

    def __init__(
        self,
        every: int,
        *,
        top: int = 3,
        density: bool = False,
        draws: int = 2,
        lanczos_steps: int = 40,
        grid: np.ndarray | None = None,
        sigma: float | None = None,
        tol: float = 1e-3,
        objective: Objective | None = None,
    ):
        if every < 1:
            raise ValueError(f"`every` must be a positive integer; got {every}.")
        if top < 0 or (top == 0 and not density):
            raise ValueError("record something: `top` ≥ 1 or `density=True`.")
        if density and (grid is None or sigma is None):
            raise ValueError(
                "a density recorded during training needs a fixed `grid` of eigenvalues "
                "and a fixed `sigma`, so that records can be compared."
            )
        self.every, self.top, self.with_density = every, top, density
        self.draws, self.lanczos_steps = draws, lanczos_steps
        self.grid, self.sigma, self.tol = grid, sigma, tol
        self.objective = objective
        self.steps: list[int] = []
        self.eigenvalues: list[np.ndarray] = []
        self.densities: list[np.ndarray] = []
        self.products = 0

    def __call__(self, step: int, theta: Tensor, obj: Objective) -> None:
        if step % self.every:
            return
        obj = self.objective or obj
        self.steps.append(step)
        if self.top:
            res = top_eigenvalues(obj, theta, self.top, tol=self.tol, seed=step)
            self.eigenvalues.append(res.eigenvalues.numpy())
            self.products += res.products
        if self.with_density:
            d = _density(
                obj,
                theta,
                draws=self.draws,
                steps=min(self.lanczos_steps, obj.size),
                sigma=self.sigma,
                grid=self.grid,
                seed=step,
                progress=False,  # one bar inside training's own would garble both
            )
            self.densities.append(d.values)
            self.products += d.attrs["products"]

    def to_dataset(self) -> xr.Dataset:
        """`eigenvalue` [step, rank] and `density` [step, t] (t: the fixed grid) as recorded."""
        data: dict[str, Any] = {}
        coords: dict[str, Any] = {"step": np.array(self.steps)}
        if self.top:
            data["eigenvalue"] = (("step", "rank"), np.stack(self.eigenvalues))
            coords["rank"] = np.arange(1, self.top + 1)
        if self.with_density:
            data["density"] = (("step", "t"), np.stack(self.densities))
            coords["t"] = np.asarray(self.grid)
        return xr.Dataset(
            data,
            coords=coords,
            attrs={"every": self.every, "tol": self.tol, "products": self.products},
        )

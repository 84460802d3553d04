"""Fitness–distance correlation and random-sampling statistics around a minimum (Gallagher).

Gallagher (2000; catalogue §5.6.6) adapts Jones's fitness–distance
correlation to error surfaces: sample points, record each one's distance D to
a known global minimum θ* and its error E, and take the sample correlation

    r = cov(D, E) / (σ_D σ_E)                                       (eq. 9)

r ≈ 1 means the error grows with the distance from the optimum (a global
bowl); r ≈ 0 means distance says little about error (plateaus, other
minima). The global minimum must be known, which the student–teacher setting
provides: a student with the teacher's shape has L = 0 at the teacher's
weights (`zoo.dataset("student-teacher")`, whose ``info["teacher_parameters"]``
is θ*).

Sampling: "radial" draws θ = θ* + ρu with u uniform on the unit sphere and
ρ ~ U[0, radius], so the distances cover [0, radius] evenly (in high
dimension a uniform draw from a ball or cube would put nearly every point at
the same distance and r would measure little); "cube" draws θ* + U[−radius,
radius]^n, closer to the thesis's uniform samples. Distances are to θ*
itself, not to its symmetric copies (`geometry.symmetry`), which matters only
once the radius reaches the distance between copies.

For an isotropic quadratic L = c‖θ − θ*‖² with radial sampling, r is
corr(ρ, ρ²) for ρ ~ U[0, R]: exactly √15/4 ≈ 0.968.

Reference:
    Gallagher (2000). Multi-layer perceptron error surfaces: visualization,
    structure and modelling. PhD thesis, University of Queensland. (Catalogue
    §5.6.6, eq. 9.) Jones, Forrest (1995). Fitness distance correlation as a
    measure of problem difficulty for genetic algorithms. ICGA.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
import xarray as xr
from torch import Tensor

from lossatlas.core.objective import Objective
from lossatlas.core.progress import progress_bar

Sampling = Literal["radial", "cube"]
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def fitness_distance_correlation(distances: Tensor | np.ndarray, fitness: Tensor | np.ndarray):
    """r = cov(D, E) / (σ_D σ_E), the sample correlation of eq. 9 (a float in [−1, 1]).

    Raises:
        ValueError: for mismatched lengths, fewer than two samples, or a
            constant D or E (the correlation is undefined).
    """
    d = np.asarray(distances, dtype=np.float64).reshape(-1)
    e = np.asarray(fitness, dtype=np.float64).reshape(-1)
    if d.shape != e.shape or len(d) < 2:
        raise ValueError(
            f"`distances` and `fitness` must have the same length ≥ 2; got {len(d)} and {len(e)}."
        )
    sd, se = d.std(), e.std()
    if sd == 0 or se == 0 or not (np.isfinite(sd) and np.isfinite(se)):
        raise ValueError(
            "the correlation is undefined when the distances or the losses are constant or not "
            f"finite (σ_D = {sd:.3g}, σ_E = {se:.3g})."
        )
    return float(((d - d.mean()) * (e - e.mean())).mean() / (sd * se))


def _check(count: int, radius: float, sampling: str) -> None:
    if isinstance(count, bool) or not isinstance(count, int) or count < 2:
        raise ValueError(f"`count` must be an integer ≥ 2; got {count!r}.")
    if not radius > 0:
        raise ValueError(f"`radius` must be positive; got {radius!r}.")
    if sampling not in ("radial", "cube"):
        raise ValueError(f"`sampling` must be 'radial' or 'cube'; got {sampling!r}.")


def sample_points(
    theta: Tensor, count: int, radius: float, *, sampling: Sampling = "radial", seed: int = 0
) -> Tensor:
    """`count` random points around θ [count, n] (see the module doc for the two schemes)."""
    _check(count, radius, sampling)
    gen = torch.Generator().manual_seed(seed)
    n = theta.numel()
    if sampling == "cube":
        offsets = (torch.rand(count, n, generator=gen, dtype=torch.float64) * 2 - 1) * radius
    else:
        u = torch.randn(count, n, generator=gen, dtype=torch.float64)
        u = u / u.norm(dim=1, keepdim=True)
        offsets = u * (radius * torch.rand(count, 1, generator=gen, dtype=torch.float64))
    return theta[None] + offsets.to(theta)


def _losses(obj: Objective, points: Tensor, progress: bool, what: str) -> Tensor:
    chunks = points.split(max(obj.points_chunk, 256))
    out = []
    with progress_bar(what, len(points), enabled=progress) as bar:
        for chunk in chunks:
            out.append(obj.values(chunk))
            bar.update(sum(len(c) for c in out))
    return torch.cat(out)


def fdc(
    obj: Objective,
    theta_star: Tensor,
    *,
    count: int = 1000,
    radius: float = 1.0,
    sampling: Sampling = "radial",
    seed: int = 0,
    progress: bool = False,
) -> xr.Dataset:
    """Fitness–distance correlation around a known global minimum θ* (Gallagher, eq. 9).

    Args:
        obj: the objective.
        theta_star: the known global minimum θ* [n].
        count: number of sampled points.
        radius: largest distance (radial) or cube half-width (cube).
        sampling: "radial" or "cube".
        seed: seed of the samples.
        progress: show a progress bar.

    Returns:
        Dataset over `sample` with `distance` ‖θ − θ*‖ and `loss` L(θ); attrs
        hold `fdc` (r of eq. 9), L(θ*) and the settings.
    """
    theta_star = obj._checked(theta_star)
    points = sample_points(theta_star, count, radius, sampling=sampling, seed=seed)
    losses = _losses(obj, points, progress, "sampling for FDC").double().cpu().numpy()
    dist = (points - theta_star[None]).norm(dim=1).double().cpu().numpy()
    finite = np.isfinite(losses)
    r = fitness_distance_correlation(dist[finite], losses[finite])
    return xr.Dataset(
        {"distance": ("sample", dist), "loss": ("sample", losses)},
        coords={"sample": np.arange(count)},
        attrs={
            "kind": "fitness-distance correlation",
            "fdc": r,
            "minimum_loss": float(obj.value(theta_star)),
            "count": count,
            "radius": radius,
            "sampling": sampling,
            "seed": seed,
            "non_finite": int((~finite).sum()),
            "objective": obj.describe(),
            "reference": "Gallagher (2000), catalogue §5.6.6, eq. 9",
        },
    )


def sampling_statistics(
    obj: Objective,
    theta: Tensor,
    *,
    radii: Sequence[float] = (0.1, 0.3, 1.0, 3.0),
    count: int = 200,
    quantiles: Sequence[float] = QUANTILES,
    seed: int = 0,
    progress: bool = False,
) -> xr.Dataset:
    """Statistics of L on spheres ‖θ' − θ‖ = ρ around θ (Gallagher's random sampling).

    Returns:
        Dataset over `radius` (and `quantile`) with the `mean`, `std`, `min`,
        `max` and `quantile` values of the loss of `count` uniform points on
        each sphere, and `below`, the fraction of them with L < L(θ) (0 at a
        minimum, at radii within its basin); L(θ) in attrs.
    """
    theta = obj._checked(theta)
    if not radii or any(not r > 0 for r in radii):
        raise ValueError(f"`radii` must be positive numbers; got {list(radii)!r}.")
    _check(count, 1.0, "radial")
    gen = torch.Generator().manual_seed(seed)
    base = float(obj.value(theta))
    rows = []
    with progress_bar("sampling spheres", len(radii), enabled=progress) as bar:
        for i, rho in enumerate(radii):
            u = torch.randn(count, obj.size, generator=gen, dtype=torch.float64).to(theta)
            pts = theta[None] + rho * u / u.norm(dim=1, keepdim=True)
            rows.append(obj.values(pts).double().cpu().numpy())
            bar.update(i + 1)
    L = np.stack(rows)
    q = np.asarray(quantiles, dtype=np.float64)
    return xr.Dataset(
        {
            "mean": ("radius", L.mean(1)),
            "std": ("radius", L.std(1)),
            "min": ("radius", L.min(1)),
            "max": ("radius", L.max(1)),
            "quantile_loss": (("radius", "quantile"), np.quantile(L, q, axis=1).T),
            "below": ("radius", (base > L).mean(1)),
            "loss": (("radius", "sample"), L),
        },
        coords={"radius": np.asarray(radii, dtype=np.float64), "quantile": q},
        attrs={
            "kind": "random-sampling statistics",
            "center_loss": base,
            "count": count,
            "seed": seed,
            "objective": obj.describe(),
            "reference": "Gallagher (2000), catalogue §5.6",
        },
    )

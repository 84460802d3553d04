"""The Hessian's eigenvalue density by stochastic Lanczos quadrature.

Ghorbani, Krishnan & Xiao (2019), Algorithm 1 (catalogue §5.5): the density
φ(t) = (1/n) Σᵢ δ(t − λᵢ) smoothed by a Gaussian of variance σ²,

    φ_σ(t) = (1/n) Σᵢ f(λᵢ; t, σ²),   f(λ; t, σ²) = exp(−(t − λ)²/2σ²)/(σ√(2π)),

is estimated without forming H:

1. draw k vectors vᵢ ~ N(0, I), normalised;
2. run m Lanczos steps on H from each (full reorthogonalisation) to get the
   tridiagonal Tᵢ; its eigenvalues lᵢⱼ are the quadrature nodes and the
   squared first components of its eigenvectors ωᵢⱼ the weights;
3. φ̂_σ(t) = (1/k) Σᵢ Σⱼ ωᵢⱼ f(lᵢⱼ; t, σ²).

Each draw costs m full-data HVPs; the draws advance together in blocks, one
block product per Lanczos step (`lossatlas.curvature.lanczos`). Paper
settings: k = 10, m = 90.

With `store=`, the tridiagonal coefficients (α, β) of every finished block of
draws are written into a resumable zarr store: a run that is killed and
started again computes only the missing blocks, and gives the same density
as an uninterrupted run (the blocks, their starting vectors and hence every
product are fixed by the settings, not by what was already done). σ and the
t grid are applied afterwards, so they can change between runs.

The outlier ratio ζ = λ₁/λ_k (Ghorbani et al. §4) is reported from the
top eigenvalues (`outlier_ratio`).
"""

from __future__ import annotations

import math
from os import PathLike
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import Tensor

from lossatlas.core.progress import progress_bar
from lossatlas.curvature.eigen import top_eigenvalues
from lossatlas.curvature.lanczos import LanczosResult, lanczos
from lossatlas.curvature.operators import CurvatureOperator, as_operator, gaussian, unit_rows
from lossatlas.results.store import fingerprint, grid_store

# The Lanczos bases of all draws together are kept under this size; more draws
# run in groups.
BASIS_BYTES = 1024**3


def density(
    obj: Any,
    theta: Tensor | None = None,
    *,
    draws: int = 10,
    steps: int = 90,
    sigma: float | None = None,
    grid: int | np.ndarray = 1000,
    margin: float = 0.05,
    seed: int = 0,
    store: str | PathLike | None = None,
    block: int | None = None,
    progress: bool = True,
    operator: str = "hessian",
) -> xr.DataArray:
    """φ̂_σ(t), the smoothed eigenvalue density of H(θ), by SLQ (Ghorbani et al. Alg. 1).

    Args:
        obj: an `Objective` (with θ), a `CurvatureOperator` or a matrix.
        draws: k, the number of random starting vectors (paper: 10).
        steps: m, Lanczos steps per draw (paper: 90; at most n).
        sigma: the Gaussian's standard deviation; default 1% of the span of
            the Ritz nodes (set it explicitly to compare runs).
        grid: the number of t points (spanning the nodes plus `margin` of
            their span on each side, and 4σ), or the t values themselves.
        margin: fraction of the span added on each side of the default grid.
        seed: seeds the starting vectors.
        store: a zarr directory to save every finished block of draws into
            and resume from (a store from other settings is refused).
        block: draws per Lanczos block, the unit of work and of saving; one
            block product serves all its draws, so larger blocks are faster
            per HVP. Default: all draws (as many as fit in `BASIS_BYTES`).
        progress: show a progress bar over the draws.
        operator: with an Objective, the density of "hessian", "ggn" or "fisher"
            (`as_operator`); Papyan's and Sagun's comparisons set H beside G.

    Returns:
        DataArray `density` over `eigenvalue`. Its attrs hold the raw
        quadrature, `nodes` and `weights` ([draws, steps] arrays; NaN nodes
        and zero weights past a draw's breakdown), and every setting,
        including `products` (the HVPs this call spent: fewer when a store
        already held some draws). It integrates to 1 (up to the grid's
        truncation). `as_dataset` turns it into a storable Dataset.

    Raises:
        ValueError: draws < 1, steps outside [1, n], sigma ≤ 0, block < 1,
            grid < 2.
        StoreMismatch: `store` holds draws made with other settings.
    """
    op = as_operator(obj, theta, operator)
    if draws < 1:
        raise ValueError(f"`draws` must be a positive integer; got {draws}.")
    if not 1 <= steps <= op.size:
        raise ValueError(
            f"`steps` must be between 1 and n = {op.size} (the number of parameters); got {steps}."
        )
    if sigma is not None and not sigma > 0:
        raise ValueError(f"`sigma` must be positive; got {sigma}.")
    if block is not None and (not isinstance(block, int) or block < 1):
        raise ValueError(f"`block` must be a positive integer; got {block!r}.")
    if not np.isscalar(grid) and np.asarray(grid).size < 2:
        raise ValueError(f"`grid` must hold at least 2 t values; got {np.asarray(grid).size}.")
    if np.isscalar(grid) and int(grid) < 2:
        raise ValueError(f"`grid` must have at least 2 points; got {grid}.")
    start = op.products
    itemsize = torch.empty(0, dtype=op.dtype).element_size()
    block = min(draws, block or max(1, int(BASIS_BYTES // (steps * op.size * itemsize))))
    res = _tridiagonals(op, draws, steps, seed, block, store, progress)
    nodes = np.full((draws, steps), np.nan)
    weights = np.zeros((draws, steps))
    for i in range(draws):
        ritz_nodes, ritz_weights = res.ritz(i)
        nodes[i, : len(ritz_nodes)] = ritz_nodes
        weights[i, : len(ritz_weights)] = ritz_weights
    lo, hi = float(np.nanmin(nodes)), float(np.nanmax(nodes))
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    sigma = float(sigma) if sigma is not None else 0.01 * span
    if np.isscalar(grid):
        pad = max(margin * span, 4 * sigma)
        t = np.linspace(lo - pad, hi + pad, int(grid))
    else:
        t = np.asarray(grid, dtype=np.float64)
    values = smoothed(t, np.nan_to_num(nodes), weights, sigma) / draws
    return xr.DataArray(
        values,
        dims=("eigenvalue",),
        coords={"eigenvalue": t},
        name="density",
        attrs={
            "nodes": nodes,
            "weights": weights,
            "method": "stochastic Lanczos quadrature (Ghorbani et al. 2019, Algorithm 1)",
            "operator": op.name,
            "draws": draws,
            "steps": steps,
            "sigma": sigma,
            "seed": seed,
            "block": block,
            "products": op.products - start,
            "parameters": op.size,
        },
    )


def _tridiagonals(
    op: CurvatureOperator,
    draws: int,
    steps: int,
    seed: int,
    block: int,
    store: str | PathLike | None,
    progress: bool,
) -> LanczosResult:
    """The Lanczos coefficients of every draw, block by block, through a (resumable) store.

    Draw i always starts from row i of the same seeded [draws, n] Gaussian and
    always runs in block i // `block`, so a block computed after a restart is
    the very computation it would have been without one. The store holds α
    (NaN past a draw's breakdown, which gives the steps taken) and β, flat
    over (draw, step), one zarr chunk per block.
    """
    obj = getattr(op, "obj", None)
    settings = {
        "kind": "density",
        "operator": op.name,
        "objective": obj.describe() if obj is not None else None,
        "theta": fingerprint(op.theta) if hasattr(op, "theta") else None,
        "matrix": fingerprint(op.matrix) if hasattr(op, "matrix") else None,
        "parameters": op.size,
        "dtype": str(op.dtype),
        "draws": draws,
        "steps": steps,
        "seed": seed,
        "block": block,
    }
    split = not getattr(obj, "sharded", False)  # under torchrun: blocks shared out
    target = grid_store(
        store, settings, ["alpha", "beta"], draws * steps, block * steps, split=split
    )
    todo = target.pending()
    if todo:
        V = unit_rows(gaussian(draws, op.size, seed, op.dtype, op.device))
    with progress_bar("SLQ density (draws)", draws, enabled=progress) as bar:
        finished = draws - sum(min(block, draws - i * block) for i in todo)
        bar.update(finished)
        for index in todo:
            first = index * block
            res = lanczos(op, V[first : first + block], steps)
            alpha = res.alpha.copy()
            for i, taken in enumerate(res.steps):
                alpha[i, taken:] = np.nan  # records the steps taken
            target.write(index, {"alpha": alpha.reshape(-1), "beta": res.beta.reshape(-1)})
            finished += len(res.steps)
            bar.update(finished)
    stored = target.read()
    alpha = stored["alpha"].reshape(draws, steps)
    taken = (~np.isnan(alpha)).sum(1)
    beta = stored["beta"].reshape(draws, steps)
    return LanczosResult(np.nan_to_num(alpha), beta, taken, None, 0)


def as_dataset(estimate: xr.DataArray) -> xr.Dataset:
    """The density with its quadrature as variables (`node`, `weight` over draw × ritz)."""
    attrs = {k: v for k, v in estimate.attrs.items() if k not in ("nodes", "weights")}
    return xr.Dataset(
        {
            "density": estimate.drop_attrs() if hasattr(estimate, "drop_attrs") else estimate,
            "node": (("draw", "ritz"), np.asarray(estimate.attrs["nodes"])),
            "weight": (("draw", "ritz"), np.asarray(estimate.attrs["weights"])),
        },
        attrs=attrs,
    )


def smoothed(t: np.ndarray, nodes: np.ndarray, weights: np.ndarray, sigma: float) -> np.ndarray:
    """Σ weights·f(nodes; t, σ²) at each t (nodes and weights of any matching shape)."""
    nodes, weights = nodes.reshape(-1), weights.reshape(-1)
    keep = weights > 0
    nodes, weights = nodes[keep], weights[keep]
    out = np.zeros_like(t, dtype=np.float64)
    norm = 1.0 / (sigma * math.sqrt(2 * math.pi))
    for chunk in range(0, len(nodes), 4096):  # bounded memory: len(t) × 4096
        d = (t[:, None] - nodes[None, chunk : chunk + 4096]) / sigma
        out += (np.exp(-0.5 * d * d) * weights[None, chunk : chunk + 4096]).sum(1)
    return out * norm


def exact_density(eigenvalues: Tensor | np.ndarray, t: np.ndarray, sigma: float) -> np.ndarray:
    """φ_σ(t) = (1/n) Σᵢ f(λᵢ; t, σ²) from all n eigenvalues (the reference)."""
    lam = np.asarray(torch.as_tensor(eigenvalues).double().cpu())
    return smoothed(t, lam, np.full(lam.shape, 1.0 / lam.size), sigma)


def l1_distance(estimate: xr.DataArray, reference: np.ndarray) -> float:
    """∫ |φ̂_σ(t) − φ_σ(t)| dt on the estimate's grid (trapezoid rule)."""
    t = estimate["eigenvalue"].values
    return float(np.trapezoid(np.abs(estimate.values - reference), t))


def outlier_ratio(obj: Any, theta: Tensor | None = None, k: int = 10, **kw: Any) -> float:
    """ζ = λ₁/λ_k from the top-k eigenvalues (Ghorbani et al. §4)."""
    lam = top_eigenvalues(obj, theta, k, **kw).eigenvalues
    return float(lam[0] / lam[k - 1])

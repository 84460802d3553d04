"""Loss landscapes on an N-dimensional grid (N = 1–4), by default along top Hessian eigenvectors.

    θ(c_0, ..., c_{N-1}) = θ* + Σ_k c_k d_k,   c_k ∈ linspace(lo_k, hi_k, steps_k),

with the rows d_k of a [N, n] direction matrix: any directions, or by default
the eigenvectors of the N largest eigenvalues of H(θ*) (thick-restart
Lanczos, `lossatlas.curvature.top_eigenvalues`), so that the grid spans the
sharpest directions of the minimum. Sampling such a hypercube and summarising
it topologically (`lossatlas.topology`) is the approach of the `landscaper`
package; here the grid is evaluated like every plane of `lossatlas.surface`:
points are built chunk by chunk, evaluated through `Objective.values` (or the
exact first-layer shortcut of `lossatlas.surface.planar`), and written to a resumable
zarr store as they finish. N = 2 is `surface.plane` point for point.

Memory: one chunk materialises `chunk` points of n parameters (chunk · n
floats: 64 · n by default) plus what `Objective.values` needs for them
(activations of `points_chunk` points over one data batch). Where the first
layer shortcut is taken it also keeps N + 1 first-layer outputs over the data
set (never more than `planar.MAX_PRECOMPUTED_BYTES`; beyond that it is not
taken). The grid itself is never held as parameter vectors: 41³ points of a
10⁵-parameter model would be 28 GB in float32.

References:
    Li, Xu, Taylor, Studer, Goldstein (2018). Visualizing the Loss Landscape
    of Neural Nets. NeurIPS. §4 (planes through a minimum).
    Ghorbani, Krishnan, Xiao (2019). An Investigation into Neural Net
    Optimization via Hessian Eigenvalue Density. ICML (top eigenvectors).
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
import zarr
from torch import Tensor

from lossatlas.core.objective import Objective
from lossatlas.results.store import fingerprint
from lossatlas.surface import directions as _dirs
from lossatlas.surface import load as _load_surface
from lossatlas.surface import planar
from lossatlas.surface.grid import DEFAULT_CHUNK, _evaluate, _flat, _grid_axis, _np

MAX_DIMS = 4
AxisSpan = tuple[float, float]


def _axes(steps: int | Sequence[int], span: AxisSpan | Sequence[AxisSpan], dims: int):
    """N coordinate axes from `steps` (one number or N) and `span` (one pair or N)."""
    counts = [steps] * dims if isinstance(steps, (int, np.integer)) else list(steps)
    if len(counts) != dims:
        raise ValueError(f"`steps` must be one number or {dims} numbers; got {steps!r}.")
    spans = list(span)
    if len(spans) == 2 and all(isinstance(v, (int, float, np.number)) for v in spans):
        spans = [tuple(spans)] * dims
    if len(spans) != dims or any(len(s) != 2 for s in spans):
        raise ValueError(
            f"`span` must be (low, high) or {dims} such pairs, one per direction; got {span!r}."
        )
    return [
        _grid_axis(f"d{k}", counts[k], float(spans[k][0]), float(spans[k][1])) for k in range(dims)
    ]


def _stored_directions(store: str | PathLike | None) -> tuple[Tensor, np.ndarray] | None:
    """The directions (and eigenvalues) of an existing landscape store, to resume it."""
    if store is None or not Path(store).exists():
        return None
    try:
        # Not `open_store`: the directions are read to resume even where result chunks are
        # damaged (GridStore recomputes those once the directions are known).
        group = zarr.open_group(Path(store), mode="r")
        names = set(group.array_keys())
    except Exception:  # not a store: GridStore names the problem when it is opened
        return None
    if not {"directions", "eigenvalues"} <= names:
        return None
    return torch.from_numpy(group["directions"][:]), group["eigenvalues"][:]


def hessian_directions(
    obj: Objective, theta: Tensor, dims: int = 2, *, tol: float | None = None, seed: int = 0
) -> tuple[Tensor, np.ndarray]:
    """The unit eigenvectors [dims, n] of the `dims` largest eigenvalues of H(θ), and those
    eigenvalues (descending), by `curvature.top_eigenvalues`."""
    from lossatlas.curvature import top_eigenvalues

    result = top_eigenvalues(obj, theta, dims, tol=tol, seed=seed)
    values = np.asarray(result.eigenvalues.double().cpu().numpy(), dtype=np.float64)
    return result.eigenvectors.detach(), values


def landscape(
    obj: Objective,
    origin: Tensor,
    directions: Tensor | None = None,
    steps: int | Sequence[int] = 41,
    span: AxisSpan | Sequence[AxisSpan] = (-1.0, 1.0),
    *,
    dims: int = 2,
    norm: _dirs.Norm = "none",
    tol: float | None = None,
    seed: int = 0,
    test: Any = None,
    store: str | PathLike | None = None,
    chunk: int = DEFAULT_CHUNK,
    progress: bool = True,
    accuracy: bool = True,
    shortcut: bool = True,
) -> xr.Dataset:
    """L over θ* + Σ_k c_k d_k on an N-dimensional grid (dims `d0`, ..., `d{N-1}`).

    Args:
        obj: the objective.
        origin: θ*, flat [n].
        directions: [N, n] with 1 ≤ N ≤ 4, or None for the unit eigenvectors of
            the `dims` largest eigenvalues of H(θ*) (their eigenvalues are kept
            in the result; on resuming a store they are read from it, not
            recomputed).
        steps: points per axis, one number or N.
        span: (low, high) of every coordinate c_k, or N such pairs. With unit
            directions (the eigenvectors) c_k is a distance in parameter space.
        dims: N when `directions` is None.
        norm: rescale each direction to θ*'s scale per "filter" or "layer"
            (`directions.normalise`, Li et al. 2018 §4) or keep it ("none").
        tol: the eigen-solver's tolerance when `directions` is None.
        seed: the eigen-solver's seed when `directions` is None.
        test: test data (tensors or an Objective) for `test_loss`.
        store: a directory for a resumable zarr store; running the same call
            again after a kill computes only the missing chunks.
        chunk: points per chunk (the unit of work, memory and resumption).
        accuracy: also compute the accuracy of classifiers (same pass).
        shortcut: use the exact first-layer shortcut where it pays.

    Returns:
        A Dataset with `loss` (and `accuracy`, `test_*`) over (d0, ..., d{N-1}),
        `origin` [parameter], `directions` [direction, parameter] (and
        `eigenvalues` [direction]), every setting in attrs["settings"].
        Non-finite losses are stored as NaN with one `NonFiniteLossWarning`.

    Raises:
        ValueError: directions of the wrong shape or count, bad steps or span.
    """
    o = _flat(origin, obj, "origin")
    eigenvalues = None
    source, resumed = "given", False
    if directions is None:
        if not isinstance(dims, (int, np.integer)) or not 1 <= dims <= MAX_DIMS:
            raise ValueError(f"`dims` must be an integer from 1 to {MAX_DIMS}; got {dims!r}.")
        source = "hessian"
        stored = _stored_directions(store)
        # Lanczos is not bit-reproducible across machines and thread counts: a resumed
        # store keeps the eigenvectors it was started with (already normalised).
        resumed = stored is not None and len(stored[0]) == dims
        if resumed:
            directions, eigenvalues = stored
        else:
            directions, eigenvalues = hessian_directions(obj, o, dims, tol=tol, seed=seed)
    if not isinstance(directions, Tensor) or directions.dim() != 2:
        shape = tuple(directions.shape) if isinstance(directions, Tensor) else type(directions)
        raise ValueError(f"`directions` must be a [N, n] tensor; got {shape}.")
    if not 1 <= len(directions) <= MAX_DIMS:
        raise ValueError(
            f"`directions` must have 1 to {MAX_DIMS} rows (one per grid axis); "
            f"got {len(directions)}."
        )
    obj.space.check(directions, "directions")
    rows = [_flat(d, obj, f"directions[{k}]") for k, d in enumerate(directions)]
    if norm != "none" and not resumed:
        rows = [_dirs.normalise(d, obj.space, o, norm, None) for d in rows]
    axes = _axes(steps, span, len(rows))
    coords = {f"d{k}": a for k, a in enumerate(axes)}
    ts = [torch.as_tensor(a, dtype=obj.dtype, device=obj.device) for a in axes]
    arrays: dict[str, np.ndarray] = {
        "origin": _np(o),
        "directions": np.stack([_np(d) for d in rows]),
    }
    settings: dict[str, Any] = {
        "origin": fingerprint(o),
        "directions": [fingerprint(d) for d in rows],
        "source": source,
        "norm": norm,
    }
    if eigenvalues is not None:
        arrays["eigenvalues"] = np.asarray(eigenvalues, dtype=np.float64)
        settings.update(eigen_tol=tol, eigen_seed=seed)
    sizes = [len(a) for a in axes]

    def fast(target: Objective):
        evaluator = planar.affine_evaluator(target, o, rows) if shortcut else None
        if evaluator is None:
            return None

        def stats(idx: Tensor) -> Tensor:
            where = np.unravel_index(idx.cpu().numpy(), sizes)
            coefficients = torch.stack(
                [t[torch.as_tensor(w, device=t.device)] for t, w in zip(ts, where, strict=True)],
                dim=1,
            )
            return evaluator.stats(coefficients, accuracy=accuracy)

        return stats

    return _evaluate(
        obj,
        kind="landscape",
        coords=coords,
        make_points=planar.grid_points(o, rows, ts),
        fast=fast,
        settings=settings,
        arrays=arrays,
        test=test,
        store=store,
        chunk=chunk,
        progress=progress,
        accuracy=accuracy,
    )


def load(store: str | PathLike) -> xr.Dataset:
    """A landscape from its store (finished or partial: missing points are NaN)."""
    return _load_surface(store)

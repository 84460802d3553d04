"""Loss over planes in parameter space (2-D surfaces).

- `plane`: θ(α, β) = θ* + αδ + βη for any two directions, e.g.
  filter-normalised random ones (`random_plane`, Li et al. 2018 §4);
- `solutions`: the plane through three solutions in orthonormal coordinates;
  `triangle`: θ1 + α(θ2 − θ1) + β(θ3 − θ1) (barycentric weights
  (1 − α − β, α, β)); `quad`: the bilinear patch through four solutions
  (Im et al. 2016; catalogue §5.1);
- `pca_plane`: the plane of a trajectory's top two principal directions,
  with the trajectory drawn in it (Li et al. 2018 §6).
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import Tensor

from lossatlas.core.objective import Objective
from lossatlas.results.store import fingerprint
from lossatlas.surface import directions as _dirs
from lossatlas.surface import planar
from lossatlas.surface.grid import DEFAULT_CHUNK, Span, _evaluate, _flat, _grid_axis, _np

# -- 2-D ---------------------------------------------------------------------------------


def _plane_points(origin: Tensor, d1: Tensor, d2: Tensor, al: Tensor, be: Tensor):
    """Flat grid index i ↦ origin + α_{i // nβ}·d1 + β_{i mod nβ}·d2, for a chunk of i."""
    return planar.grid_points(origin, (d1, d2), (al, be))


def _grid(grid: tuple[int, int] | int, span: Span) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(grid, (int, np.integer)):
        grid = (int(grid), int(grid))
    if len(grid) != 2 or len(span) != 2:
        raise ValueError(f"`grid` and `span` must describe two axes; got {grid!r}, {span!r}.")
    return (
        _grid_axis("alpha", grid[0], float(span[0][0]), float(span[0][1])),
        _grid_axis("beta", grid[1], float(span[1][0]), float(span[1][1])),
    )


def _through(axis: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """`axis` with every anchor inside its span on it exactly.

    Each anchor replaces its nearest grid value (or, when two share one, the
    next value along), so the grid keeps its size and stays close to even;
    only when the grid has too few points for its anchors are they inserted. A
    plane through solutions then holds their own losses, not those of points a
    fraction of a step away.
    """
    tiny = 1e-9 * (axis[-1] - axis[0])  # 0 and −1e-17 (rounding) are one anchor
    inside: list[float] = []
    for a in sorted(float(a) for a in anchors if axis[0] - tiny <= a <= axis[-1] + tiny):
        if not inside or a - inside[-1] > tiny:
            inside.append(a)
    # sorted anchors take increasing grid indices: each its nearest, or the next one free
    chosen: list[int] = []
    for a in inside:
        nearest = int(np.argmin(np.abs(axis - a)))
        chosen.append(max(nearest, chosen[-1] + 1) if chosen else nearest)
    out = axis.copy()
    if not chosen or chosen[-1] < len(axis):
        out[chosen] = inside
        if np.all(np.diff(out) > 0):
            return out
    return np.unique(np.concatenate([axis, inside]))  # too many anchors for the grid


def plane(
    obj: Objective,
    origin: Tensor,
    d1: Tensor,
    d2: Tensor,
    grid: tuple[int, int] | int = (51, 51),
    span: Span = ((-1.0, 1.0), (-1.0, 1.0)),
    *,
    test: Any = None,
    store: str | PathLike | None = None,
    chunk: int = DEFAULT_CHUNK,
    progress: bool = True,
    accuracy: bool = True,
    kind: str = "plane",
    settings: dict[str, Any] | None = None,
    markers: tuple[Tensor, Sequence[str]] | None = None,
    trajectory: tuple[Tensor, Sequence[int]] | None = None,
    shortcut: bool = True,
) -> xr.Dataset:
    """L over θ(α, β) = origin + α·d1 + β·d2 on a grid (dims `alpha`, `beta`).

    With filter-normalised random d1, d2 this is Li et al. (2018)'s plot, Fig. 1.

    Args:
        grid: points along α and β.
        span: ((α_min, α_max), (β_min, β_max)).
        markers: ([k, 2] (α, β), labels) of points to mark in the plane; the
            grid is moved (by at most half a step per point) to pass through them.
        trajectory: ([T, 2] (α, β), steps) of a path to draw in the plane.
        shortcut: precompute the first layer's output once when it is linear
            in its weights (`lossatlas.surface.planar`); exact, and much faster when
            that layer dominates the cost. Recorded in the settings.
    """
    o, u, v = _flat(origin, obj, "origin"), _flat(d1, obj, "d1"), _flat(d2, obj, "d2")
    alphas, betas = _grid(grid, span)
    arrays = {"origin": _np(o), "d1": _np(u), "d2": _np(v)}
    extra = dict(settings or {})
    if markers is not None:  # the marked solutions lie on the grid
        marked = _np(markers[0]).astype(np.float64)
        alphas, betas = _through(alphas, marked[:, 0]), _through(betas, marked[:, 1])
        arrays["marker_coords"] = _np(markers[0]).astype(np.float64)
        extra["marker_labels"] = list(markers[1])
    if trajectory is not None:
        arrays["trajectory_coords"] = _np(trajectory[0]).astype(np.float64)
        extra["trajectory_steps"] = [int(s) for s in trajectory[1]]
    al = torch.as_tensor(alphas, dtype=obj.dtype, device=obj.device)
    be = torch.as_tensor(betas, dtype=obj.dtype, device=obj.device)

    def fast(target: Objective):
        evaluator = planar.plane_evaluator(target, o, u, v) if shortcut else None
        if evaluator is None:
            return None
        return lambda idx: evaluator.stats(
            al[idx // len(betas)], be[idx % len(betas)], accuracy=accuracy
        )

    return _evaluate(
        obj,
        kind=kind,
        coords={"alpha": alphas, "beta": betas},
        make_points=_plane_points(o, u, v, al, be),
        fast=fast,
        settings={"origin": fingerprint(o), "d1": fingerprint(u), "d2": fingerprint(v), **extra},
        arrays=arrays,
        test=test,
        store=store,
        chunk=chunk,
        progress=progress,
        accuracy=accuracy,
    )


def random_plane(
    obj: Objective,
    theta: Tensor,
    grid: tuple[int, int] | int = (51, 51),
    span: Span = ((-1.0, 1.0), (-1.0, 1.0)),
    *,
    norm: _dirs.Norm = "filter",
    ignore: _dirs.Ignore = "biasbn",
    seed: int = 0,
    **kw: Any,
) -> xr.Dataset:
    """`plane` through θ along two random directions, filter-normalised by default
    (Li et al. 2018 §4: 51×51 over [−1, 1]², biases and BN ignored)."""
    t = _flat(theta, obj, "theta")
    d1, d2 = _dirs.random_plane(obj.space, t, norm, ignore, seed)
    settings = {"norm": norm, "ignore": ignore, "seed": seed}
    return plane(obj, t, d1, d2, grid, span, settings=settings, **kw)


def _span_around(coords: Tensor, margin: float) -> Span:
    lo, hi = coords.min(0).values, coords.max(0).values
    pad = (hi - lo).max() * margin
    return ((float(lo[0] - pad), float(hi[0] + pad)), (float(lo[1] - pad), float(hi[1] + pad)))


def solutions(
    obj: Objective,
    points: Sequence[Tensor],
    labels: Sequence[str] = ("0", "1", "2"),
    grid: tuple[int, int] | int = (41, 41),
    *,
    margin: float = 0.25,
    span: Span | None = None,
    **kw: Any,
) -> xr.Dataset:
    """The plane through three solutions, in orthonormal coordinates (α, β) with the
    first solution at the origin; each solution is marked at its coordinates."""
    pts = [_flat(p, obj, f"points[{i}]") for i, p in enumerate(points)]
    basis = _dirs.through_three(pts, tuple(labels))
    span = span or _span_around(basis.coords, margin)
    return plane(
        obj,
        basis.origin,
        basis.d1,
        basis.d2,
        grid,
        span,
        kind="solutions",
        markers=(basis.coords, basis.labels),
        **kw,
    )


def triangle(
    obj: Objective,
    points: Sequence[Tensor],
    labels: Sequence[str] = ("0", "1", "2"),
    grid: tuple[int, int] | int = (41, 41),
    span: Span = ((-0.25, 1.25), (-0.25, 1.25)),
    **kw: Any,
) -> xr.Dataset:
    """L over θ(α, β) = θ1 + α(θ2 − θ1) + β(θ3 − θ1): barycentric weights
    (1 − α − β, α, β), the solutions at (0, 0), (1, 0), (0, 1) (Im et al. 2016)."""
    p = [_flat(q, obj, f"points[{i}]") for i, q in enumerate(points)]
    if len(p) != 3:
        raise ValueError(f"`points` must be 3 solutions for a triangle; got {len(p)}.")
    corners = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    return plane(
        obj,
        p[0],
        p[1] - p[0],
        p[2] - p[0],
        grid,
        span,
        kind="triangle",
        markers=(corners, tuple(labels)),
        **kw,
    )


def quad(
    obj: Objective,
    points: Sequence[Tensor],
    labels: Sequence[str] = ("0", "1", "2", "3"),
    grid: tuple[int, int] | int = (41, 41),
    span: Span = ((-0.25, 1.25), (-0.25, 1.25)),
    *,
    test: Any = None,
    store: str | PathLike | None = None,
    chunk: int = DEFAULT_CHUNK,
    progress: bool = True,
    accuracy: bool = True,
) -> xr.Dataset:
    """L over the bilinear patch θ(α, β) = (1−α)(1−β)θ1 + α(1−β)θ2 + (1−α)βθ3 + αβθ4,
    the solutions at the corners (0,0), (1,0), (0,1), (1,1) (Im et al. 2016)."""
    p = [_flat(q, obj, f"points[{i}]") for i, q in enumerate(points)]
    if len(p) != 4:
        raise ValueError(f"`points` must be 4 solutions for a quad; got {len(p)}.")
    alphas, betas = _grid(grid, span)
    alphas, betas = _through(alphas, [0.0, 1.0]), _through(betas, [0.0, 1.0])  # the corners
    al = torch.as_tensor(alphas, dtype=obj.dtype, device=obj.device)
    be = torch.as_tensor(betas, dtype=obj.dtype, device=obj.device)
    nb = len(betas)

    def make_points(idx: Tensor) -> Tensor:
        a, b = al[idx // nb, None], be[idx % nb, None]
        return (1 - a) * (1 - b) * p[0] + a * (1 - b) * p[1] + (1 - a) * b * p[2] + a * b * p[3]

    corners = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    return _evaluate(
        obj,
        kind="quad",
        coords={"alpha": alphas, "beta": betas},
        make_points=make_points,
        settings={"corners": [fingerprint(q) for q in p], "marker_labels": list(labels)},
        arrays={"corners": np.stack([_np(q) for q in p]), "marker_coords": corners},
        test=test,
        store=store,
        chunk=chunk,
        progress=progress,
        accuracy=accuracy,
    )


def pca_plane(
    obj: Objective,
    trajectory: Tensor,
    grid: tuple[int, int] | int = (41, 41),
    *,
    steps: Sequence[int] | None = None,
    margin: float = 0.2,
    span: Span | None = None,
    **kw: Any,
) -> xr.Dataset:
    """L over the plane of a trajectory's top two principal directions, centred on
    its final point, with the trajectory's projection and the explained variance
    (Li et al. 2018 §6, Fig. 9)."""
    if trajectory.dim() != 2:
        raise ValueError(f"`trajectory` must be [T, n]; got shape {tuple(trajectory.shape)}.")
    obj.space.check(trajectory, "trajectory")
    traj = trajectory.detach().to(device=obj.device, dtype=obj.dtype)
    steps = list(steps) if steps is not None else list(range(len(traj)))
    basis = _dirs.pca_directions(traj, steps)
    span = span or _span_around(basis.coords, margin)
    settings = {"explained_variance": list(basis.explained_variance)}
    return plane(
        obj,
        basis.origin,
        basis.d1,
        basis.d2,
        grid,
        span,
        kind="pca",
        settings=settings,
        trajectory=(basis.coords, steps),
        **kw,
    )

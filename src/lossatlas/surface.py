"""Loss along lines and over planes in parameter space, as labelled arrays.

Every function here evaluates L(θ) (and accuracy, and the test loss when test
data is given) at the points of a 1-D or 2-D grid and returns an
`xarray.Dataset`:

- `line`: θ(α) = θa + α(θb − θa) (Goodfellow et al. 2015; Im et al. 2016);
- `plane`: θ(α, β) = θ* + αδ + βη for any two directions, e.g.
  filter-normalised random ones (Li et al. 2018 §4);
- `solutions`: the plane through three solutions in orthonormal coordinates,
  `triangle`: θ1 + α(θ2 − θ1) + β(θ3 − θ1) (barycentric weights
  (1 − α − β, α, β)), `quad`: the bilinear patch through four solutions
  (Im et al. 2016; catalogue §5.1);
- `pca_plane`: the plane of a trajectory's top two principal directions,
  with the trajectory drawn in it (Li et al. 2018 §6);
- `scaling`: θ(α) = α·θ, the basin along the weights' own direction (Im et
  al. 2016, Fig. 4).

Points are generated chunk by chunk (memory bounded by the chunk), evaluated
through `Objective.values`, and, when `store=` names a directory, written to a
resumable zarr store as they finish: running the same call again after a kill
computes only the missing chunks and gives an identical array. A non-finite
loss is stored as NaN and reported in one warning at the end.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Sequence
from os import PathLike
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import Tensor

from lossatlas import directions as _dirs
from lossatlas import planar
from lossatlas.objective import Objective
from lossatlas.progress import progress_bar
from lossatlas.store import fingerprint, grid_store

Span = tuple[tuple[float, float], tuple[float, float]]
DEFAULT_CHUNK = 64


class NonFiniteLossWarning(RuntimeWarning):
    """Some grid points had a non-finite loss; they are stored as NaN."""


def _grid_axis(name: str, size: int, lo: float, hi: float) -> np.ndarray:
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"`grid` sizes must be positive integers; got {size!r} for {name}.")
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo or (hi == lo and size > 1):
        raise ValueError(
            f"`span` for {name} must be (low, high) with low < high; got ({lo}, {hi})."
        )
    return np.linspace(lo, hi, int(size))


def _as_objective(obj: Objective, test: Any) -> Objective | None:
    """`test` as an Objective like `obj` (None stays None)."""
    if test is None or isinstance(test, Objective):
        return test
    return obj.with_data(test)


def _evaluate(
    obj: Objective,
    *,
    kind: str,
    coords: dict[str, np.ndarray],
    make_points: Callable[[Tensor], Tensor],
    settings: dict[str, Any],
    arrays: dict[str, np.ndarray],
    test: Any = None,
    store: str | PathLike | None = None,
    chunk: int = DEFAULT_CHUNK,
    progress: bool = True,
    fast: Callable[[Objective], Callable[[Tensor], Tensor] | None] | None = None,
    accuracy: bool = True,
) -> xr.Dataset:
    """Evaluate every grid point (flat index order, C order over `coords`).

    `fast`, given an objective, may return a function from point indices to
    [c, 2] (loss, accuracy) that replaces `make_points` + `Objective.values`.
    """
    test_obj = _as_objective(obj, test)
    parts = [("", obj)] + ([("test_", test_obj)] if test_obj is not None else [])
    with_acc = {prefix: accuracy and o.is_classifier for prefix, o in parts}
    variables = [
        f"{prefix}{v}" for prefix, _ in parts for v in ("loss", "accuracy")[: 1 + with_acc[prefix]]
    ]
    shape = tuple(len(c) for c in coords.values())
    num_points = int(np.prod(shape))
    settings = {
        "kind": kind,
        **settings,
        "coords": {k: [float(x) for x in v] for k, v in coords.items()},
        "objective": obj.describe(),
        "test_objective": test_obj.describe() if test_obj is not None else None,
        "chunk": chunk,
    }
    shortcuts = {prefix: (fast(o) if fast else None) for prefix, o in parts}
    if fast is not None:
        settings["shortcut"] = {p or "train": f is not None for p, f in shortcuts.items()}
    # under torch.distributed: whole-data objectives divide the chunks between the processes;
    # sharded ones need every process at every chunk (`lossatlas.distributed`)
    split = not any(o.sharded for _, o in parts)
    target = grid_store(store, settings, variables, num_points, chunk, arrays, split=split)
    todo = target.pending()
    with progress_bar(f"{kind} surface", num_points, enabled=progress) as bar:
        # what this process leaves to others (done before, or theirs) counts as finished
        finished = num_points - sum(len(range(num_points)[target.span(i)]) for i in todo)
        bar.update(finished)
        for index in todo:
            where = target.span(index)
            idx = torch.arange(where.start, where.stop, device=obj.device)
            points = None
            values = {}
            for prefix, o in parts:
                if shortcuts[prefix] is not None:
                    stats = shortcuts[prefix](idx)
                else:
                    points = make_points(idx) if points is None else points
                    stats = o.values(points, accuracy=with_acc[prefix]).reshape(len(idx), -1)
                stats = stats.double().cpu().numpy()
                values[f"{prefix}loss"] = stats[:, 0]
                if with_acc[prefix]:
                    values[f"{prefix}accuracy"] = stats[:, 1]
            for v in values.values():
                v[~np.isfinite(v)] = np.nan
            target.write(index, values)
            finished += len(idx)
            bar.update(finished)
    result = target.read()
    bad = int(np.isnan(result["loss"]).sum())
    if bad:
        warnings.warn(
            f"{bad} of {num_points} points of the {kind} surface have a non-finite loss; "
            "they are stored as NaN.",
            NonFiniteLossWarning,
            stacklevel=3,
        )
    return _dataset(result, variables, coords, shape, settings)


def _dataset(
    result: dict[str, np.ndarray],
    variables: list[str],
    coords: dict[str, np.ndarray],
    shape: tuple[int, ...],
    settings: dict[str, Any],
) -> xr.Dataset:
    dims = tuple(coords)
    data_vars: dict[str, Any] = {v: (dims, result[v].reshape(shape)) for v in variables}
    for name in ("origin", "d1", "d2", "theta_a", "theta_b", "theta"):
        if name in result:
            data_vars[name] = (("parameter",), result[name])
    if "directions" in result:  # N-dim landscapes (lossatlas.landscape)
        data_vars["directions"] = (("direction", "parameter"), result["directions"])
    if "eigenvalues" in result:
        data_vars["eigenvalues"] = (("direction",), result["eigenvalues"])
    if "corners" in result:
        data_vars["corners"] = (("marker", "parameter"), result["corners"])
    if "marker_coords" in result:
        data_vars["marker_alpha"] = (("marker",), result["marker_coords"][:, 0])
        data_vars["marker_beta"] = (("marker",), result["marker_coords"][:, 1])
    if "trajectory_coords" in result:
        data_vars["trajectory_alpha"] = (("step",), result["trajectory_coords"][:, 0])
        data_vars["trajectory_beta"] = (("step",), result["trajectory_coords"][:, 1])
    ds_coords: dict[str, Any] = dict(coords)
    if "marker_labels" in settings:
        ds_coords["marker"] = list(settings["marker_labels"])
    if "trajectory_steps" in settings:
        ds_coords["step"] = list(settings["trajectory_steps"])
    attrs = {
        "kind": settings["kind"],
        "settings": json.dumps(settings, sort_keys=True),
        "parameters": settings["objective"]["parameters"],
        "loss_name": settings["objective"]["loss"],
        "mode": settings["objective"]["mode"],
    }
    if "explained_variance" in settings:
        attrs["explained_variance"] = list(settings["explained_variance"])
    for key in ("norm", "ignore", "seed"):
        if key in settings and settings[key] is not None:
            attrs[key] = settings[key]
    return xr.Dataset(data_vars, coords=ds_coords, attrs=attrs)


def _flat(t: Tensor, obj: Objective, what: str) -> Tensor:
    obj.space.check(t, what)
    if t.dim() != 1:
        raise ValueError(f"`{what}` must be a flat vector [n]; got shape {tuple(t.shape)}.")
    return t.detach().to(device=obj.device, dtype=obj.dtype)


def _np(t: Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


# -- 1-D -------------------------------------------------------------------------------


def line(
    obj: Objective,
    theta_a: Tensor,
    theta_b: Tensor,
    alphas: Sequence[float] | np.ndarray | int = 51,
    *,
    span: tuple[float, float] = (-0.5, 1.5),
    test: Any = None,
    store: str | PathLike | None = None,
    chunk: int = DEFAULT_CHUNK,
    progress: bool = True,
    accuracy: bool = True,
) -> xr.Dataset:
    """L along θ(α) = θa + α(θb − θa); α = 0 is θa and α = 1 is θb.

    Args:
        alphas: the α values, or their number spread evenly over `span`.
        test: test data (tensors or an Objective) for `test_loss`.
        store: a directory to write a resumable store into.
        accuracy: also compute the accuracy of classifiers (same pass).
    """
    a, b = _flat(theta_a, obj, "theta_a"), _flat(theta_b, obj, "theta_b")
    grid = _alphas(alphas, span)
    direction = b - a
    al = torch.as_tensor(grid, dtype=obj.dtype, device=obj.device)
    return _evaluate(
        obj,
        kind="line",
        coords={"alpha": grid},
        make_points=lambda idx: a + al[idx, None] * direction,
        settings={"theta_a": fingerprint(a), "theta_b": fingerprint(b)},
        arrays={"theta_a": _np(a), "theta_b": _np(b)},
        test=test,
        store=store,
        chunk=chunk,
        progress=progress,
        accuracy=accuracy,
    )


def scaling(
    obj: Objective,
    theta: Tensor,
    alphas: Sequence[float] | np.ndarray | int = 41,
    *,
    span: tuple[float, float] = (0.0, 2.0),
    test: Any = None,
    store: str | PathLike | None = None,
    chunk: int = DEFAULT_CHUNK,
    progress: bool = True,
    accuracy: bool = True,
) -> xr.Dataset:
    """L along θ(α) = α·θ: the width of the basin along the weights' own direction."""
    t = _flat(theta, obj, "theta")
    grid = _alphas(alphas, span)
    al = torch.as_tensor(grid, dtype=obj.dtype, device=obj.device)
    return _evaluate(
        obj,
        kind="scaling",
        coords={"alpha": grid},
        make_points=lambda idx: al[idx, None] * t,
        settings={"theta": fingerprint(t)},
        arrays={"theta": _np(t)},
        test=test,
        store=store,
        chunk=chunk,
        progress=progress,
        accuracy=accuracy,
    )


def _alphas(alphas: Sequence[float] | np.ndarray | int, span: tuple[float, float]) -> np.ndarray:
    if isinstance(alphas, (int, np.integer)):
        return _grid_axis("alpha", int(alphas), float(span[0]), float(span[1]))
    grid = np.asarray(alphas, dtype=np.float64).reshape(-1)
    if grid.size == 0:
        raise ValueError("`alphas` must hold at least one value; got none.")
    if not np.isfinite(grid).all():
        raise ValueError("`alphas` must be finite numbers.")
    return grid


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
        markers: ([k, 2] (α, β), labels) of points to mark in the plane.
        trajectory: ([T, 2] (α, β), steps) of a path to draw in the plane.
        shortcut: precompute the first layer's output once when it is linear
            in its weights (`lossatlas.planar`); exact, and much faster when
            that layer dominates the cost. Recorded in the settings.
    """
    o, u, v = _flat(origin, obj, "origin"), _flat(d1, obj, "d1"), _flat(d2, obj, "d2")
    alphas, betas = _grid(grid, span)
    arrays = {"origin": _np(o), "d1": _np(u), "d2": _np(v)}
    extra = dict(settings or {})
    if markers is not None:
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


def load(store: str | PathLike) -> xr.Dataset:
    """A surface from its store (finished or partial: missing points are NaN)."""
    from lossatlas.store import open_store

    group = open_store(store)
    settings = dict(group.attrs)["settings"]
    variables = dict(group.attrs)["variables"]
    coords = {k: np.asarray(v) for k, v in settings["coords"].items()}
    result = {name: group[name][:] for name in group.array_keys() if name != "done"}
    shape = tuple(len(c) for c in coords.values())
    return _dataset(result, variables, coords, shape, settings)

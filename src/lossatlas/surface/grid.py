"""The grid machinery shared by every surface: points made chunk by chunk, evaluated
through `Objective.values`, and written, when `store=` names a directory, to a
resumable zarr store as they finish.

Running the same call again after a kill computes only the missing chunks and
gives an identical array. A non-finite loss is stored as NaN and reported in
one warning at the end. `line`, `plane` and their relatives (`lines`,
`planes`) are thin functions over `_evaluate`; `load` opens a finished store.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from os import PathLike
from typing import Any

import numpy as np
import torch
import xarray as xr
from torch import Tensor

from lossatlas.core.objective import Objective
from lossatlas.core.progress import progress_bar
from lossatlas.results.store import grid_store

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
    # sharded ones need every process at every chunk (`lossatlas.core.distributed`)
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
    if "directions" in result:  # N-dim landscapes (lossatlas.surface.landscape)
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


def load(store: str | PathLike) -> xr.Dataset:
    """A surface from its store (finished or partial: missing points are NaN)."""
    from lossatlas.results.store import BOOKKEEPING, open_store

    group = open_store(store)
    settings = dict(group.attrs)["settings"]
    variables = dict(group.attrs)["variables"]
    coords = {k: np.asarray(v) for k, v in settings["coords"].items()}
    result = {name: group[name][:] for name in group.array_keys() if name not in BOOKKEEPING}
    shape = tuple(len(c) for c in coords.values())
    return _dataset(result, variables, coords, shape, settings)

"""A landscape's topological summary as one labelled Dataset: pairs, basins, key numbers."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from lossatlas.topology.mergetree import MergeTree, merge_tree

# The default persistence threshold, as a fraction of (median − minimum) of the finite
# values. The median, not the maximum: the walls at a grid's edge can be orders of
# magnitude higher than the basins inside (Müller–Brown's range on its window is 3,500,
# its shallowest basin 8.5 deep; 2% of median − min is 3.1). On the zoo landscapes at
# 201² it keeps every known basin and drops every grid artefact (Rosenbrock's curved
# valley breaks into 117 grid minima of persistence ≤ 0.17 under 4-connectivity).
DEFAULT_RELATIVE_THRESHOLD = 0.02


def default_threshold(values: Any) -> float:
    """2% of (median − minimum) of the finite values: shallower basins count as noise."""
    v = np.asarray(getattr(values, "values", values), dtype=np.float64)
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        return 0.0
    return DEFAULT_RELATIVE_THRESHOLD * float(np.median(finite) - finite.min())


def _grid_of(landscape: Any, var: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(values, coords by dim) of a Dataset's `var`, a DataArray or a plain array."""
    if isinstance(landscape, xr.Dataset):
        if var not in landscape.data_vars:
            present = [v for v in landscape.data_vars if landscape[v].ndim >= 1]
            raise ValueError(f"`var` must be one of {present}; got {var!r}.")
        landscape = landscape[var]
    if isinstance(landscape, xr.DataArray):
        coords = {
            str(d): (
                landscape[d].to_numpy() if d in landscape.coords else np.arange(landscape.sizes[d])
            )
            for d in landscape.dims
        }
        return landscape.to_numpy(), coords
    values = np.asarray(landscape)
    return values, {f"dim_{k}": np.arange(n) for k, n in enumerate(values.shape)}


def summary(
    landscape: Any,
    *,
    var: str = "loss",
    threshold: float | None = None,
    p: float = 1.0,
) -> tuple[MergeTree, xr.Dataset]:
    """The merge tree of a landscape and its summary Dataset.

    Args:
        landscape: a Dataset (from `lossatlas.surface.landscape` or `lossatlas.surface`),
            a DataArray or an array of 1 to 8 dimensions.
        var: the variable of a Dataset to analyse.
        threshold: the persistence above which a basin counts; None for 2% of
            (median − minimum) of the finite values (`default_threshold`).
        p: the exponent of the total persistence Σ (death − birth)^p.

    Returns:
        (tree, ds). `ds` holds, over the grid's dims, `values` and `basin` (labels
        0..K−1 after merging basins of persistence ≤ threshold, −1 at NaN cells),
        and over `pair` (one per minimum, in birth order) `birth`, `death`,
        `persistence`, `elder`, `basin` and the coordinates of each minimum
        (`minimum_<dim>`) and saddle (`saddle_<dim>`, NaN when it never merges).
        attrs: `threshold`, `num_basins`, `total_persistence`, `p`,
        `num_minima`, `nan_cells`, `var`.
    """
    values, coords = _grid_of(landscape, var)
    tree = merge_tree(values)
    tau = default_threshold(tree.values) if threshold is None else float(threshold)
    rep = tree.representatives(tau)
    kept = np.flatnonzero(rep == np.arange(tree.num_leaves))
    label_of = np.full(tree.num_leaves, -1)
    label_of[kept] = np.arange(len(kept))
    dims = list(coords)
    data: dict[str, Any] = {
        "values": (dims, tree.values),
        "basin": (dims, tree.basin_labels(tau)),
        "birth": (("pair",), tree.birth),
        "death": (("pair",), tree.death),
        "persistence": (("pair",), tree.persistence),
        "elder": (("pair",), tree.elder),
        "basin_of_pair": (("pair",), label_of[rep]),
    }
    minimum_cells = np.unravel_index(tree.minima, tree.shape)
    has_saddle = tree.saddle >= 0
    saddle_cells = np.unravel_index(np.where(has_saddle, tree.saddle, 0), tree.shape)
    for axis, dim in enumerate(dims):
        axis_coords = np.asarray(coords[dim], dtype=np.float64)
        data[f"minimum_{dim}"] = (("pair",), axis_coords[minimum_cells[axis]])
        data[f"saddle_{dim}"] = (
            ("pair",),
            np.where(has_saddle, axis_coords[saddle_cells[axis]], np.nan),
        )
    attrs = {
        "var": var,
        "threshold": tau,
        "num_basins": tree.num_basins(tau),
        "total_persistence": tree.total_persistence(p),
        "p": p,
        "num_minima": tree.num_leaves,
        "nan_cells": int(np.isnan(tree.values).sum()),
    }
    ds = xr.Dataset(data, coords={**coords, "pair": np.arange(tree.num_leaves)}, attrs=attrs)
    return tree, ds


def _finite_or_none(value: Any) -> float | None:
    """A float for JSON, None for ∞ and NaN (a pair that never dies has no saddle)."""
    v = float(value)
    return v if np.isfinite(v) else None


def pairs_table(ds: xr.Dataset, limit: int | None = None) -> list[dict[str, Any]]:
    """The persistence pairs as rows, most persistent first (`limit` rows at most);
    `death`, `persistence` and the saddle are None (JSON null) for a pair that never dies."""
    order = np.argsort(-ds["persistence"].to_numpy(), kind="stable")
    if limit is not None:
        order = order[:limit]
    dims = [str(d) for d in ds["values"].dims]
    rows = []
    for i in order.tolist():
        row = {
            "minimum": i,
            "birth": float(ds["birth"][i]),
            "death": _finite_or_none(ds["death"][i]),
            "persistence": _finite_or_none(ds["persistence"][i]),
            "elder": int(ds["elder"][i]),
            "basin": int(ds["basin_of_pair"][i]),
        }
        row.update({f"minimum_{d}": float(ds[f"minimum_{d}"][i]) for d in dims})
        row.update({f"saddle_{d}": _finite_or_none(ds[f"saddle_{d}"][i]) for d in dims})
        rows.append(row)
    return rows

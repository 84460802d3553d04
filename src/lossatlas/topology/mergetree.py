"""The sublevel-set merge tree of a sampled landscape and its 0-dimensional persistence.

A landscape sampled on an N-dimensional grid is a function f on the grid's
cells, two cells adjacent when they differ by one step along one axis (2N
neighbours). Its sublevel sets {f ≤ t} grow as t rises: a new component is
born at every local minimum, and two components merge at a saddle cell. By
the elder rule the younger component (the higher minimum) dies there, which
gives one persistence pair per minimum m,

    (birth, death) = (f(m), f(s_m)),   persistence = f(s_m) − f(m),

where s_m is the lowest cell through which m's basin reaches a lower minimum:
the barrier height from m. The global minimum's pair never dies (death = ∞).
The merge tree records which minima merge at which loss (Edelsbrunner,
Letscher, Zomorodian 2002; Carr, Snoeyink, Axen 2003).

Algorithm, vectorised except for one pass over basin pairs:

1. cells are put in a total order by (f, flat index), so ties are broken
   consistently and every minimum is strict in that order;
2. each cell points to its lowest lower neighbour; pointer jumping gives the
   steepest-descent basin of every cell, and the roots are the local minima;
3. a sublevel component is a union of descent basins (every cell is joined
   to its minimum by a descending path), so only edges between different
   basins matter: the lowest edge per pair of basins, at the height of its
   higher cell, goes through union–find in order of height (Kruskal).

Non-finite cells (a diverged loss, stored as NaN) never enter the filtration:
they are holes. Basins that only NaN cells separate never merge, and each
keeps an infinite pair; such cells have basin label −1.

References:
    Edelsbrunner, Letscher, Zomorodian (2002). Topological persistence and
    simplification. Discrete Comput. Geom. 28, 511–533.
    Carr, Snoeyink, Axen (2003). Computing contour trees in all dimensions.
    Comput. Geom. 24, 75–94.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_DIMS = 8


@dataclass(frozen=True)
class MergeTree:
    """The merge tree of f on a grid, one leaf per local minimum.

    Leaves are numbered 0..k−1 in birth order (by f, ties by flat index), so
    leaf 0 is the global minimum.

    Attributes:
        values: the grid, float64, non-finite cells as NaN.
        minima: [k] flat indices of the minima (`numpy.unravel_index` gives cells).
        birth: [k] f at each minimum.
        death: [k] f at the saddle where its basin merged into an older one; ∞ if never.
        saddle: [k] flat index of that saddle cell; −1 if never.
        elder: [k] the leaf of the older basin it merged into; −1 if never.
        descent: grid of leaf indices: the minimum that steepest descent on the grid
            reaches from each cell; −1 at non-finite cells.
    """

    values: np.ndarray
    minima: np.ndarray
    birth: np.ndarray
    death: np.ndarray
    saddle: np.ndarray
    elder: np.ndarray
    descent: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        """The grid's shape."""
        return self.values.shape

    @property
    def num_leaves(self) -> int:
        """The number of local minima (leaves of the tree)."""
        return len(self.minima)

    @property
    def persistence(self) -> np.ndarray:
        """[k] death − birth: the barrier each minimum's basin must climb to reach an older one."""
        return self.death - self.birth

    @property
    def pairs(self) -> np.ndarray:
        """[k, 2] (birth, death), the 0-dimensional persistence diagram."""
        return np.stack([self.birth, self.death], axis=1)

    def num_basins(self, threshold: float = 0.0) -> int:
        """Basins whose persistence exceeds `threshold` (the infinite ones included)."""
        return int(np.sum(self.persistence > _threshold(threshold)))

    def total_persistence(self, p: float = 1.0) -> float:
        """Σ (death − birth)^p over the finite pairs: a scalar roughness of the landscape
        (0 for a landscape with one basin; Cohen-Steiner et al. 2010's total persistence)."""
        if not p > 0:
            raise ValueError(f"`p` must be > 0; got {p!r}.")
        finite = self.persistence[np.isfinite(self.death)]
        return float(np.sum(finite**p))

    def representatives(self, threshold: float = 0.0) -> np.ndarray:
        """[k] for each leaf, the leaf whose basin absorbs it once every basin of
        persistence ≤ `threshold` is merged into its elder (itself if it persists)."""
        tau = _threshold(threshold)
        rep = np.arange(self.num_leaves)
        keep = self.persistence > tau
        for i in range(self.num_leaves):  # birth order: an elder is always earlier
            if not keep[i]:
                rep[i] = rep[self.elder[i]]
        return rep

    def basin_labels(self, threshold: float = 0.0) -> np.ndarray:
        """Grid of basin labels 0..K−1 (K = `num_basins(threshold)`, in birth order):
        steepest-descent basins, those of persistence ≤ `threshold` merged into their
        elders; −1 at non-finite cells."""
        rep = self.representatives(threshold)
        kept = np.flatnonzero(rep == np.arange(self.num_leaves))
        relabel = np.full(self.num_leaves, -1)
        relabel[kept] = np.arange(len(kept))
        lookup = np.append(relabel[rep], -1)  # index −1 (non-finite cells) maps to −1
        return lookup[self.descent]

    def merges(self, threshold: float = 0.0) -> list[tuple[float, int, int, int]]:
        """The merge events (height, younger leaf, elder leaf, saddle cell) in order of
        height, of the basins with persistence > `threshold`: the simplified merge tree."""
        tau = _threshold(threshold)
        alive = np.flatnonzero(np.isfinite(self.death) & (self.persistence > tau))
        alive = alive[np.lexsort((self.saddle[alive], self.death[alive]))]
        return [
            (float(self.death[i]), int(i), int(self.elder[i]), int(self.saddle[i])) for i in alive
        ]

    def cell(self, flat: int) -> tuple[int, ...]:
        """Grid index of a flat cell index."""
        return tuple(int(i) for i in np.unravel_index(flat, self.shape))


def _threshold(threshold: float) -> float:
    t = float(threshold)
    if not (np.isfinite(t) and t >= 0):
        raise ValueError(f"`threshold` must be a finite number ≥ 0; got {threshold!r}.")
    return t


def _as_grid(values: Any) -> np.ndarray:
    grid = np.array(getattr(values, "values", values), dtype=np.float64)  # a copy
    if grid.ndim < 1 or grid.ndim > MAX_DIMS or grid.size == 0:
        raise ValueError(
            f"`values` must be a non-empty grid of 1 to {MAX_DIMS} dimensions; "
            f"got shape {grid.shape}."
        )
    grid[~np.isfinite(grid)] = np.nan
    if np.isnan(grid).all():
        raise ValueError(
            "`values` must have at least one finite value; got only NaN/inf "
            "(an unfinished store? resume it first)."
        )
    return grid


def _neighbour_pairs(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of axis-adjacent cells (u, v), v one step after u along one axis."""
    index = np.arange(int(np.prod(shape))).reshape(shape)
    us, vs = [], []
    for axis in range(len(shape)):
        lo = [slice(None)] * len(shape)
        hi = [slice(None)] * len(shape)
        lo[axis], hi[axis] = slice(0, -1), slice(1, None)
        us.append(index[tuple(lo)].ravel())
        vs.append(index[tuple(hi)].ravel())
    return np.concatenate(us), np.concatenate(vs)


def _descent(rank: np.ndarray, u: np.ndarray, v: np.ndarray, entered: np.ndarray) -> np.ndarray:
    """For every cell, the flat index of the minimum its steepest descent reaches."""
    size = len(rank)
    lowest = rank.copy()  # the lowest rank among a cell and its neighbours
    target = np.arange(size)
    for a, b in ((u, v), (v, u)):  # b's neighbour a, in both directions
        better = rank[a] < lowest[b]
        # several neighbours may improve the same cell: keep the lowest (np.minimum.at)
        np.minimum.at(lowest, b[better], rank[a[better]])
    order_of_rank = np.empty(size, dtype=np.int64)
    order_of_rank[rank[entered]] = np.flatnonzero(entered)
    moves = entered & (lowest < rank)
    target[moves] = order_of_rank[lowest[moves]]
    while True:  # pointer jumping: log2(longest descent) passes
        nxt = target[target]
        if np.array_equal(nxt, target):
            return target
        target = nxt


def merge_tree(values: Any) -> MergeTree:
    """The merge tree and 0-dimensional persistence of the sublevel sets of a grid.

    Args:
        values: an array (numpy, or an xarray DataArray such as `landscape.loss`)
            of 1 to 8 dimensions; cells are adjacent along the axes (2N neighbours).
            Non-finite cells are holes (see the module docstring).

    Returns:
        A `MergeTree`: minima, persistence pairs, merge events, descent basins.

    Raises:
        ValueError: an empty grid or one of more than 8 dimensions.
    """
    grid = _as_grid(values)
    flat = grid.ravel()
    size = flat.size
    entered = np.isfinite(flat)
    cells = np.flatnonzero(entered)
    order = cells[np.argsort(flat[cells], kind="stable")]  # ties: by flat index
    rank = np.full(size, size, dtype=np.int64)  # non-finite cells rank after every cell
    rank[order] = np.arange(len(order))

    u, v = _neighbour_pairs(grid.shape)
    both = entered[u] & entered[v]
    u, v = u[both], v[both]
    root = _descent(rank, u, v, entered)
    minima = np.flatnonzero(entered & (root == np.arange(size)))
    minima = minima[np.argsort(rank[minima])]
    leaf = np.full(size, -1, dtype=np.int64)
    leaf[minima] = np.arange(len(minima))
    descent = np.where(entered, leaf[root], -1)

    # edges between different basins, at the rank of their higher cell; the lowest per
    # pair of basins is all union–find needs
    a, b = descent[u], descent[v]
    cross = a != b
    a, b = a[cross], b[cross]
    height = np.maximum(rank[u[cross]], rank[v[cross]])
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    by = np.lexsort((height, hi, lo))
    lo, hi, height = lo[by], hi[by], height[by]
    first = np.ones(len(lo), dtype=bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    lo, hi, height = lo[first], hi[first], height[first]
    by = np.argsort(height, kind="stable")

    k = len(minima)
    parent = list(range(k))  # a list: this loop indexes one element at a time
    death = np.full(k, np.inf)
    saddle = np.full(k, -1, dtype=np.int64)
    elder = np.full(k, -1, dtype=np.int64)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # path halving
            i = parent[i]
        return i

    for x, y, h in zip(lo[by].tolist(), hi[by].tolist(), height[by].tolist(), strict=True):
        rx, ry = find(x), find(y)
        if rx == ry:
            continue
        old, young = (rx, ry) if rx < ry else (ry, rx)  # leaves are numbered by age
        parent[young] = old
        cell = int(order[h])
        death[young], saddle[young], elder[young] = flat[cell], cell, old
    return MergeTree(
        values=grid,
        minima=minima,
        birth=flat[minima],
        death=death,
        saddle=saddle,
        elder=elder,
        descent=descent.reshape(grid.shape),
    )

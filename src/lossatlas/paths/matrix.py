"""Barrier matrices: the pairwise path heights of a set of solutions, resumable pair by pair.

The optimizer-strategies paper (Fig. 4) compares sets of solutions by the
heights of the FourierPathFinder paths between their pairs. `barrier_matrix`
computes them for every pair i < j, writing each finished pair into a zarr
store, so an interrupted run resumes where it stopped; the result is a
symmetric matrix per measure (height, barrier, barrier_mean, length).
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Any, Literal

import numpy as np
import xarray as xr
from torch import Tensor

from lossatlas.core.objective import Objective
from lossatlas.core.progress import progress_bar
from lossatlas.paths.bezier import bezier
from lossatlas.paths.fourier import fourier, linear
from lossatlas.results.store import fingerprint, grid_store

Method = Literal["linear", "fourier", "bezier"]
MEASURES = ["height", "barrier", "barrier_mean", "length", "settled"]
# A path is taken as converged when its height (of the kept path) moved by less than this,
# relatively, over the last tenth of its steps (`PathResult.settled`).
SETTLED = 0.01


def barrier_matrix(
    obj: Objective,
    solutions: Sequence[Tensor],
    method: Method = "fourier",
    *,
    labels: Sequence[str] | None = None,
    pairs: Sequence[tuple[int, int]] | None = None,
    store: str | PathLike | None = None,
    progress: bool = True,
    redo_on_new_solutions: bool = False,
    **kw: Any,
) -> xr.Dataset:
    """Path heights between every pair of `solutions` (dims `a`, `b`, symmetric).

    Args:
        solutions: k ≥ 2 flat parameter vectors.
        labels: names of the solutions (default "0", "1", ...).
        pairs: only these pairs (i, j) of solution indices (e.g. `draw_pairs`'s pairs
            without shared endpoints); the other entries are NaN. Default: every i < j.
        method: "linear", "fourier" (FourierPathFinder) or "bezier".
        store: a zarr directory to fill pair by pair and resume from.
        redo_on_new_solutions: a store made from other solutions (their fingerprints
            differ) is recomputed instead of refused; the studies use it for the
            barriers they derive from their own runs.
        **kw: settings of the path method (terms, points, penalty, steps, ...).

    Returns:
        Dataset with `height`, `barrier`, `barrier_mean`, `length` and `settled`
        (`PathResult.settled`) [k, k] (zero diagonal), settings in attrs.
    """
    if method not in ("linear", "fourier", "bezier"):
        raise ValueError(f"`method` must be 'linear', 'fourier' or 'bezier'; got {method!r}.")
    if isinstance(labels, str):
        raise TypeError(
            f"`labels` must be a sequence of names, one per solution; got the string "
            f"{labels!r} (the path method is the third positional argument: "
            f"barrier_matrix(obj, solutions, method, labels=[...]))."
        )
    k = len(solutions)
    if k < 2:
        raise ValueError(f"a barrier matrix needs at least 2 solutions; got {k}.")
    labels = [str(i) for i in range(k)] if labels is None else [str(x) for x in labels]
    if len(labels) != k:
        raise ValueError(f"got {len(labels)} labels for {k} solutions.")
    every = pairs is None
    pairs = _checked_pairs(pairs, k)
    settings = {
        "kind": "barrier_matrix",
        "method": method,
        "solutions": [fingerprint(s) for s in solutions],
        "labels": labels,
        "objective": obj.describe(),
        "options": {key: kw[key] for key in sorted(kw)},
        **({} if every else {"pairs": [list(p) for p in pairs]}),
    }
    # under torch.distributed a whole-data objective lets the processes share out the pairs
    redo = {"solutions", "labels"} if redo_on_new_solutions else set()
    target = grid_store(
        store, settings, MEASURES, len(pairs), 1, split=not obj.sharded, replace_on=redo
    )
    run = {"linear": linear, "fourier": fourier, "bezier": bezier}[method]
    todo = target.pending()
    with progress_bar(f"{method} barriers", len(pairs), enabled=progress) as bar:
        done = len(pairs) - len(todo)
        bar.update(done)
        for index in todo:
            i, j = pairs[index]
            extra = {} if method == "linear" else {"progress": False}
            result = run(obj, solutions[i], solutions[j], **kw, **extra)
            summary = result.summary()
            target.write(index, {m: np.array([summary[m]]) for m in MEASURES})
            done += 1
            bar.update(done)
    values = target.read()
    data = {}
    for m in MEASURES:
        mat = np.zeros((k, k)) if every else np.full((k, k), np.nan)
        np.fill_diagonal(mat, 0.0)
        for index, (i, j) in enumerate(pairs):
            mat[i, j] = mat[j, i] = values[m][index]
        data[m] = (("a", "b"), mat)
    return xr.Dataset(
        data,
        coords={"a": labels, "b": labels},
        attrs={k_: v for k_, v in settings.items() if k_ != "objective"},
    )


def _checked_pairs(pairs: Sequence[tuple[int, int]] | None, k: int) -> list[tuple[int, int]]:
    if pairs is None:
        return [(i, j) for i in range(k) for j in range(i + 1, k)]
    out = []
    for pair in pairs:
        i, j = (int(x) for x in pair)
        if not (0 <= i < k and 0 <= j < k) or i == j:
            raise ValueError(
                f"`pairs` must hold pairs of two different solution indices in 0..{k - 1}; "
                f"got {tuple(pair)}."
            )
        out.append((min(i, j), max(i, j)))
    if len(set(out)) != len(out) or not out:
        raise ValueError(f"`pairs` must be distinct and not empty; got {list(pairs)}.")
    return out


def draw_pairs(k: int, count: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """`count` random pairs of k solutions, without shared endpoints where k allows.

    Pairs that share an endpoint are not independent samples (the optimizer-strategies
    paper draws its Fig. 4 pairs at random); with 2·count ≤ k every solution is in at
    most one pair. Beyond that the pairs are distinct but some share endpoints
    (`shares_endpoints` says whether they do).
    """
    most = k * (k - 1) // 2
    if not 1 <= count <= most:
        raise ValueError(f"can draw 1 to {most} distinct pairs of {k} solutions; got {count}.")
    order = [int(i) for i in rng.permutation(k)]
    pairs = [tuple(sorted(order[2 * p : 2 * p + 2])) for p in range(min(count, k // 2))]
    taken = set(pairs)
    rest = [(i, j) for i in range(k) for j in range(i + 1, k) if (i, j) not in taken]
    for index in rng.permutation(len(rest))[: count - len(pairs)]:
        pairs.append(rest[int(index)])
    return [(int(a), int(b)) for a, b in pairs]


def shares_endpoints(pairs: Sequence[tuple[int, int]]) -> bool:
    """Whether some solution is an endpoint of two of the pairs."""
    ends = [i for pair in pairs for i in pair]
    return len(set(ends)) < len(ends)

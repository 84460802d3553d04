"""The loss on the plane through θa, θb and a curved path's midpoint, with paths projected on it.

A curved path leaves every 2-D plane; the plane through its endpoints and
θ(½) shows where it bends (Garipov et al. 2018, Fig. 1 draws the same plane
for Bezier curves). The surface comes from `surface.solutions` (orthonormal
coordinates, θa at the origin, resumable store), and each path's points are
projected onto the plane's basis: α_i = (θ(t_i) − θa)·d1, β_i = (θ(t_i) − θa)·d2.
The part of a path off the plane is reported as its largest distance from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from typing import Any

import numpy as np
import torch
import xarray as xr

from lossatlas import surface
from lossatlas.core.objective import Objective
from lossatlas.paths.result import PathResult
from lossatlas.surface import directions


def path_plane(
    obj: Objective,
    result: PathResult,
    others: Sequence[PathResult] = (),
    grid: int = 31,
    *,
    margin: float = 0.25,
    store: str | PathLike | None = None,
    progress: bool = True,
    **kw: Any,
) -> xr.Dataset:
    """The surface on the plane through θa, θb and `result`'s θ(½), with every path on it.

    Args:
        result: a curved path (Fourier, Bezier, polychain) between θa and θb.
        others: more paths between the same endpoints to project (the line).
        grid: points per axis.
        margin: extra span around the three points, as a fraction.
        store: a zarr directory for the surface (resumable).
        **kw: passed to `surface.solutions` (test data, chunk, ...).

    Returns:
        The plane's Dataset with, for path j, `path{j}_alpha` and `path{j}_beta`
        over `path{j}_t`, its method in attrs `path{j}_method`, and the largest
        distance of the path from the plane in `path{j}_offplane`.

    Raises:
        ValueError: `result` is a straight line (its midpoint spans no plane).
    """
    mid = result.points(np.array([0.5]))[0]
    labels = ("θa", "θb", "θ(½)")
    try:
        basis = directions.through_three([result.theta_a, result.theta_b, mid], labels)
    except ValueError as err:
        raise ValueError(
            f"the {result.method} path's midpoint lies on the line θa–θb ({err}); the plane "
            "needs a curved path (fourier, bezier or polychain)."
        ) from None
    ds = surface.solutions(
        obj,
        [result.theta_a, result.theta_b, mid],
        labels=labels,
        grid=grid,
        margin=margin,
        store=store,
        progress=progress,
        **kw,
    )
    for j, path in enumerate([result, *others]):
        pts = path.points().to(basis.d1)
        rel = pts - basis.origin
        alpha, beta = rel @ basis.d1, rel @ basis.d2
        off = (rel - alpha[:, None] * basis.d1 - beta[:, None] * basis.d2).norm(dim=1)
        ds[f"path{j}_alpha"] = (f"path{j}_t", _np(alpha))
        ds[f"path{j}_beta"] = (f"path{j}_t", _np(beta))
        ds = ds.assign_coords({f"path{j}_t": path.t})
        ds.attrs[f"path{j}_method"] = path.method
        ds.attrs[f"path{j}_offplane"] = float(off.max())
    ds.attrs["paths"] = 1 + len(others)
    return ds


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().cpu().numpy()

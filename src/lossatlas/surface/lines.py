"""Loss along lines in parameter space (1-D surfaces).

- `line`: θ(α) = θa + α(θb − θa), the linear interpolation between two
  solutions (Goodfellow et al. 2015; Im et al. 2016);
- `scaling`: θ(α) = α·θ, the basin along the weights' own direction (Im et
  al. 2016, Fig. 4).
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
from lossatlas.surface.grid import DEFAULT_CHUNK, _evaluate, _flat, _grid_axis, _np

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

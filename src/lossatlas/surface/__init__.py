"""Surfaces: the loss over lines, planes and N-D grids in parameter space.

A noun with its verbs, one module each:

- `directions`: the directions a surface is drawn along (filter-normalised
  random directions, Li et al. 2018 §4; orthonormal bases of solutions;
  principal directions of a trajectory, §6);
- `lines`: `line` (θa + α(θb − θa)) and `scaling` (α·θ);
- `basin`: `basin_width` of a scaling curve (Im et al. 2016, Fig. 4), censored
  ends flagged;
- `planes`: `plane`, `random_plane`, `solutions`, `triangle`, `quad`,
  `pca_plane`;
- `landscape`: N-D grids along any k directions, e.g. the top-k Hessian
  eigenvectors;
- `planar`: the shortcut that evaluates a plane of a network whose first
  layer is linear with one first-layer product per direction;
- `grid`: the chunked, resumable evaluation under all of them, and `load`.

Every function returns an `xarray.Dataset` and, given `store=`, writes a
resumable zarr store as it goes.
"""

from lossatlas.surface.basin import BasinWidth, basin_width, scaling_basin
from lossatlas.surface.grid import DEFAULT_CHUNK, NonFiniteLossWarning, load
from lossatlas.surface.lines import line, scaling
from lossatlas.surface.planes import pca_plane, plane, quad, random_plane, solutions, triangle

__all__ = [
    "DEFAULT_CHUNK",
    "BasinWidth",
    "NonFiniteLossWarning",
    "basin_width",
    "line",
    "load",
    "pca_plane",
    "plane",
    "quad",
    "random_plane",
    "scaling",
    "scaling_basin",
    "solutions",
    "triangle",
]

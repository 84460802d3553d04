"""Paths between minima: loss profiles, path heights and barriers.

- `linear`: the straight line θ(t) = (1 − t)θa + tθb.
- `fourier`: FourierPathFinder (the optimizer-strategies paper, §II.3).
- `bezier`: Garipov et al.'s quadratic Bezier curve or polychain.
- `align`: weight matching of an MLP's hidden units before connecting.
- `barrier_matrix`: pairwise heights of a set of solutions, resumable.
- `path_plane`: the loss on the plane through θa, θb, θ(½) with paths on it.

Every path method returns a `PathResult` (profile over t, `height` = eq. 5,
`barrier`, `barrier_mean`, `length`, `to_dataset()`).
"""

from lossatlas.paths.align import Alignment, align
from lossatlas.paths.bezier import bezier
from lossatlas.paths.fourier import fourier, linear
from lossatlas.paths.matrix import barrier_matrix, draw_pairs
from lossatlas.paths.plane import path_plane
from lossatlas.paths.result import NonFinitePathLoss, PathResult

__all__ = [
    "Alignment",
    "NonFinitePathLoss",
    "PathResult",
    "align",
    "barrier_matrix",
    "bezier",
    "draw_pairs",
    "fourier",
    "linear",
    "path_plane",
]

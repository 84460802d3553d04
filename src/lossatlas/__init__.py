"""lossatlas: loss surfaces of neural networks.

Everything is a function of one flat parameter vector θ: `ParamSpace` maps θ
to a model's tensors, `Objective` is L(θ) with its gradient and exact
Hessian–vector products, and the rest of the package is functions over them.
"""

import importlib
from typing import Any

from lossatlas.core.objective import DeterminismError, Objective
from lossatlas.core.points import CheckpointMismatch
from lossatlas.core.space import ParamEntry, ParamSpace
from lossatlas.results.checkpoint import save_checkpoint

__version__ = "0.1.0"

# Subpackages reachable as attributes (`la.curvature.top_eigenvalues`) without importing
# them by hand, as numpy and scipy users expect; loaded on first access (PEP 562), so
# `import lossatlas` stays as light as the names above. A few modules of a family are
# reachable by their short name too (`la.directions` is `lossatlas.surface.directions`).
SUBMODULES = {
    "core": "lossatlas.core",
    "curvature": "lossatlas.curvature",
    "directions": "lossatlas.surface.directions",
    "geometry": "lossatlas.geometry",
    "landscape": "lossatlas.surface.landscape",
    "losses": "lossatlas.core.losses",
    "optim": "lossatlas.optim",
    "paths": "lossatlas.paths",
    "plot": "lossatlas.plot",
    "reference": "lossatlas.core.reference",
    "report": "lossatlas.report",
    "results": "lossatlas.results",
    "solutions": "lossatlas.geometry.solution_sets",
    "studies": "lossatlas.studies",
    "surface": "lossatlas.surface",
    "topology": "lossatlas.topology",
    "zoo": "lossatlas.zoo",
}


def __getattr__(name: str) -> Any:
    if name in SUBMODULES:
        module = importlib.import_module(SUBMODULES[name])
        globals()[name] = module  # later lookups skip this function
        return module
    raise AttributeError(f"module 'lossatlas' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(SUBMODULES))


__all__ = [
    "CheckpointMismatch",
    "DeterminismError",
    "Objective",
    "ParamEntry",
    "ParamSpace",
    "__version__",
    "save_checkpoint",
]

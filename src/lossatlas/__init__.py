"""lossatlas: loss surfaces of neural networks.

Everything is a function of one flat parameter vector θ: `ParamSpace` maps θ
to a model's tensors, `Objective` is L(θ) with its gradient and exact
Hessian–vector products, and the rest of the package is functions over them.
"""

import importlib
from typing import Any

from lossatlas.checkpoint import CheckpointMismatch, save_checkpoint
from lossatlas.objective import DeterminismError, Objective
from lossatlas.space import ParamEntry, ParamSpace

__version__ = "0.1.0"

# Subpackages and modules reachable as attributes (`la.curvature.top_eigenvalues`) without
# importing them by hand, as numpy and scipy users expect; loaded on first access
# (PEP 562), so `import lossatlas` stays as light as the three names above.
SUBMODULES = (
    "curvature",
    "directions",
    "geometry",
    "landscape",
    "losses",
    "optim",
    "paths",
    "plot",
    "reference",
    "report",
    "solutions",
    "studies",
    "surface",
    "topology",
    "zoo",
)


def __getattr__(name: str) -> Any:
    if name in SUBMODULES:
        module = importlib.import_module(f"lossatlas.{name}")
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

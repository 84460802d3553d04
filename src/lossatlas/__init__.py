"""lossatlas: loss surfaces of neural networks.

Everything is a function of one flat parameter vector θ: `ParamSpace` maps θ
to a model's tensors, `Objective` is L(θ) with its gradient and exact
Hessian–vector products, and the rest of the package is functions over them.
"""

from lossatlas.checkpoint import CheckpointMismatch, save_checkpoint
from lossatlas.objective import DeterminismError, Objective
from lossatlas.space import ParamEntry, ParamSpace

__version__ = "0.1.0"

__all__ = [
    "CheckpointMismatch",
    "DeterminismError",
    "Objective",
    "ParamEntry",
    "ParamSpace",
    "__version__",
    "save_checkpoint",
]

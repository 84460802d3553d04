"""The core: one flat parameter vector θ and the loss as a function of it.

- `space`: `ParamSpace`, θ ↔ a model's named tensors;
- `objective`: `Objective`, L(θ) = (1/N) Σ_i ℓ_i(θ) over all the data, evaluated
  at one point or many; `derivatives`: its gradient and exact Hessian–vector
  products (Pearlmutter 1994); `module_copies`: the private module it calls;
- `losses`: per-sample losses by name; `data`: `DataSource`, tensors or any
  re-iterable of batches; `points`: checkpoints read into θ;
- `devices`, `distributed`: where it runs, and the exact data-parallel sums;
- `reference`: dense autograd answers for small models, which every
  estimate in the package is checked against;
- `errors`, `progress`: error causes and progress bars shared by all.

Nothing here imports from any other part of lossatlas.
"""

from lossatlas.core.data import DataSource
from lossatlas.core.objective import DeterminismError, Objective
from lossatlas.core.points import CheckpointMismatch, read_point
from lossatlas.core.space import ParamEntry, ParamSpace

__all__ = [
    "CheckpointMismatch",
    "DataSource",
    "DeterminismError",
    "Objective",
    "ParamEntry",
    "ParamSpace",
    "read_point",
]

"""Optimizers on flat parameter vectors, and training that records its trajectory.

- `line_search`, `golden_section`, `bracket_minimum`: golden-section search.
- `LBFGSGSS`, `minimize`: L-BFGS with golden-section line search, the
  optimizer-strategies paper's Algorithm 1.
- `RK2`: second-order Runge–Kutta (Heun or midpoint) steps on the gradient
  flow, Im et al. (2016)'s fourth optimizer.
- `train`: SGD, Adam, RK2 or L-BFGS-GSS on a model, recording the trajectory,
  the loss curves and the final and early-stopped weights.
"""

from lossatlas.optim.golden import LineSearchResult, bracket_minimum, golden_section, line_search
from lossatlas.optim.lbfgs_gss import LBFGSGSS, OptimizeResult, StepInfo, minimize
from lossatlas.optim.rk2 import RK2
from lossatlas.optim.train import (
    OPTIMIZERS,
    DivergedWarning,
    TrainResult,
    recompute_batchnorm,
    train,
)

__all__ = [
    "LBFGSGSS",
    "OPTIMIZERS",
    "RK2",
    "DivergedWarning",
    "LineSearchResult",
    "OptimizeResult",
    "StepInfo",
    "TrainResult",
    "bracket_minimum",
    "golden_section",
    "line_search",
    "minimize",
    "recompute_batchnorm",
    "train",
]

"""Curvature of the loss: Hessian eigenpairs, trace, spectral density, gradient covariance.

Everything here works on symmetric operators known through block products
(`operators`): the Hessian H(θ) of an `Objective` by exact HVPs, the
generalised Gauss–Newton matrix G(θ) (`GGNOperator`), the gradient covariance
Σ(θ) (the empirical Fisher), or an explicit matrix. Functions accept an
`Objective` with θ (its Hessian at θ, or `operator="ggn" | "fisher"`) or an
operator.

- `top_eigenvalues`, `bottom_eigenvalues`, `extremes`: thick-restart
  Lanczos to a stated residual tolerance.
- `trace`: Hutchinson or Hutch++ with a confidence interval.
- `diagonal`: Hutchinson's diagonal estimator with per-entry errors, or exact.
- `density`: stochastic Lanczos quadrature (Ghorbani et al. 2019, Alg. 1).
- `gradient_covariance`: Σ's spectrum and its overlap with H's outliers.
- `convexity_map`: |λ_min/λ_max| over a surface plane (Li et al. 2018, Fig. 11).
- `SpectrumRecorder`: the spectrum during training.
"""

from lossatlas.curvature.convexity import convexity_map, load_convexity
from lossatlas.curvature.covariance import CovarianceAnalysis, gradient_covariance
from lossatlas.curvature.density import density, exact_density, l1_distance, outlier_ratio
from lossatlas.curvature.diagonal import DiagonalResult, diagonal
from lossatlas.curvature.during_training import SpectrumRecorder
from lossatlas.curvature.eigen import (
    ConvergenceWarning,
    EigenResult,
    Extremes,
    bottom_eigenvalues,
    extremes,
    top_eigenvalues,
)
from lossatlas.curvature.ggn import GGNOperator
from lossatlas.curvature.lanczos import LanczosResult, lanczos
from lossatlas.curvature.operators import (
    CurvatureOperator,
    DenseOperator,
    GradientCovariance,
    HessianOperator,
    NonFiniteCurvature,
    dense_hessian,
    hessian_operator,
)
from lossatlas.curvature.trace import TraceResult, trace

__all__ = [
    "ConvergenceWarning",
    "CovarianceAnalysis",
    "CurvatureOperator",
    "DenseOperator",
    "DiagonalResult",
    "EigenResult",
    "Extremes",
    "GGNOperator",
    "GradientCovariance",
    "HessianOperator",
    "LanczosResult",
    "NonFiniteCurvature",
    "SpectrumRecorder",
    "TraceResult",
    "bottom_eigenvalues",
    "convexity_map",
    "dense_hessian",
    "density",
    "diagonal",
    "exact_density",
    "extremes",
    "gradient_covariance",
    "hessian_operator",
    "l1_distance",
    "lanczos",
    "load_convexity",
    "outlier_ratio",
    "top_eigenvalues",
    "trace",
]

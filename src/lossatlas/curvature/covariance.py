"""The gradient covariance and its relation to the Hessian's outliers.

Ghorbani, Krishnan & Xiao (2019, §4; catalogue §5.5) define the gradient
covariance Σ = (1/N) Σᵢ ∇ℓᵢ ∇ℓᵢᵀ and report, for networks without
BatchNorm, that (a) Σ has outlier eigenvalues like H, (b) ~99% of the energy
of H's outlier eigenvectors lies in Σ's outlier subspace, and (c) almost all
of the gradient's energy lies in H's outlier subspace. `gradient_covariance`
measures the three:

- the top-k eigenvalues of Σ (and of H);
- hessian_energy_in_covariance = (1/k) Σⱼ ‖U_Σᵀ vⱼ‖² over H's top-k
  eigenvectors vⱼ, U_Σ the top-k eigenvectors of Σ (1 when the subspaces
  coincide), with the per-vector values;
- gradient_energy_in_outliers = ‖V_Hᵀ g‖²/‖g‖² for the full-batch gradient g,
  and the same fraction averaged over per-sample gradients,
  (1/N) Σᵢ ‖V_Hᵀ∇ℓᵢ‖² / (1/N) Σᵢ ‖∇ℓᵢ‖² = tr(V_Hᵀ Σ V_H)/tr Σ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor

from lossatlas.core.objective import Objective
from lossatlas.curvature.eigen import top_eigenvalues
from lossatlas.curvature.operators import GradientCovariance, HessianOperator


@dataclass
class CovarianceAnalysis:
    """Σ's top spectrum and its overlap with H's outlier subspace (Ghorbani et al. §4).

    Attributes:
        k: the outlier subspace dimension used for both matrices.
        covariance_eigenvalues: [k] top eigenvalues of Σ.
        hessian_eigenvalues: [k] top eigenvalues of H.
        hessian_energy_in_covariance: mean over H's top-k eigenvectors of the
            fraction of each inside Σ's top-k subspace.
        hessian_energy_per_vector: [k] those fractions.
        gradient_energy_in_outliers: ‖V_Hᵀ g‖²/‖g‖², g the full-batch gradient.
        sample_gradient_energy_in_outliers: tr(V_Hᵀ Σ V_H)/tr Σ, the same for
            per-sample gradients on average.
        covariance_trace: tr Σ = mean squared per-sample gradient norm.
        products: HVPs and Σ-products spent.
    """

    k: int
    covariance_eigenvalues: Tensor
    hessian_eigenvalues: Tensor
    hessian_energy_in_covariance: float
    hessian_energy_per_vector: Tensor
    gradient_energy_in_outliers: float
    sample_gradient_energy_in_outliers: float
    covariance_trace: float
    products: int

    def summary(self) -> dict[str, float]:
        """The energy fractions as a flat dict of floats, for JSON and the report."""
        return {
            "k": self.k,
            "hessian_energy_in_covariance": self.hessian_energy_in_covariance,
            "gradient_energy_in_outliers": self.gradient_energy_in_outliers,
            "sample_gradient_energy_in_outliers": self.sample_gradient_energy_in_outliers,
            "covariance_trace": self.covariance_trace,
            "top_covariance_eigenvalue": float(self.covariance_eigenvalues[0]),
            "top_hessian_eigenvalue": float(self.hessian_eigenvalues[0]),
        }


def gradient_covariance(
    obj: Objective, theta: Tensor, k: int = 10, *, seed: int = 0, **kw: Any
) -> CovarianceAnalysis:
    """Top-k spectra of Σ and H at θ and the energy fractions between them.

    Args:
        obj: the objective (mode "eval" if it has BatchNorm: per-sample
            gradients need per-sample losses).
        k: outlier subspace size (Ghorbani et al.: about the number of classes).
        seed: seeds the eigen-solver's starting vectors.
        **kw: passed to `top_eigenvalues` (tol, subspace, max_products).
    """
    hess = HessianOperator(obj, theta)
    cov = GradientCovariance(obj, theta)
    if not isinstance(k, int) or not 1 <= k <= obj.size:
        # clamping a k above n silently would also run for minutes: say what n is instead
        raise ValueError(f"`k` must be an integer between 1 and n = {obj.size:,}; got {k!r}.")
    h = top_eigenvalues(hess, k=k, seed=seed, **kw)
    c = top_eigenvalues(cov, k=k, seed=seed, **kw)
    V, U = h.eigenvectors.double(), c.eigenvectors.double()
    per_vector = ((V @ U.T) ** 2).sum(1)  # ‖U Uᵀ v_j‖² for unit v_j, orthonormal U
    g = obj.grad(theta).double()
    g_norm2 = float(g @ g)
    in_outliers = float(((V @ g) ** 2).sum() / g_norm2) if g_norm2 > 0 else float("nan")
    cov_trace = cov.trace()
    quad = cov.matmat(h.eigenvectors)  # Σ v_j
    sample_in = float((h.eigenvectors.double() * quad.double()).sum() / cov_trace)
    return CovarianceAnalysis(
        k=k,
        covariance_eigenvalues=c.eigenvalues,
        hessian_eigenvalues=h.eigenvalues,
        hessian_energy_in_covariance=float(per_vector.mean()),
        hessian_energy_per_vector=per_vector.cpu(),
        gradient_energy_in_outliers=in_outliers,
        sample_gradient_energy_in_outliers=sample_in,
        covariance_trace=cov_trace,
        products=hess.products + cov.products,
    )

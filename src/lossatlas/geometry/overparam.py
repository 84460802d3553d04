"""The manifold of global minima of an overparameterised network (Cooper).

With n parameters and d residuals f_i(θ) = f_θ(x_i) − y_i, n > d, the zero set
M = L⁻¹(0) of L = Σ f_i² is generically a smooth (n − d)-dimensional manifold
(Thm. 2.1): the Jacobian J = ∂f/∂θ [d, n] has rank d on M and its null space is
M's tangent space. At a point m ∈ M, ∇²L = 2 JᵀJ (the residuals vanish), so
the Hessian has d positive and n − d zero eigenvalues (Prop. 2.3). Lemma 3.3
(`geometry.constructive`) builds a point of M explicitly.

Here: `residual_jacobian` and its `jacobian_rank`, the `hessian_inertia`, and
`minimum_manifold`, which checks Prop. 2.3 at a point. Objectives are
those of `lossatlas` (a mean over samples, so L = (1/N) Σ f_i² for loss="sse";
the factor changes no count).

Reference:
    Cooper (2018). The loss landscape of overparameterized neural networks.
    arXiv:1804.10200. Thm. 2.1, Prop. 2.3, Def. 3.2, Lemma 3.3.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.func import functional_call, jacrev

from lossatlas.core import distributed
from lossatlas.core.objective import Objective
from lossatlas.curvature import dense_hessian

RESIDUAL_LOSSES = ("sse", "mse")


def _whole_data(obj: Objective) -> None:
    distributed.require_whole_data(obj, "the residuals and their Jacobian have one row per sample")


def residuals(obj: Objective, theta: Tensor) -> Tensor:
    """f(θ) = (f_θ(x_i) − y_i) over every sample and output, flattened → [d].

    Raises:
        ValueError: a sharded objective (under torchrun or srun), which holds only
            this process's samples.
    """
    _whole_data(obj)
    theta = obj._checked(theta)
    with torch.no_grad():
        parts = [
            (functional_call(obj._module, obj.space.unflatten(theta), (x,)) - y).reshape(-1)
            for x, y in obj.batches()
        ]
    return torch.cat(parts)


def residual_jacobian(obj: Objective, theta: Tensor) -> Tensor:
    """J = ∂f/∂θ [d, n] of the residuals f_i = f_θ(x_i) − y_i (reverse mode, per batch).

    Raises:
        ValueError: for an objective whose loss is not a squared error ("sse"
            or "mse"): residuals are only the loss's building blocks there; or
            a sharded objective (under torchrun or srun).
    """
    _whole_data(obj)
    if obj.loss_name not in RESIDUAL_LOSSES:
        raise ValueError(
            f"residuals need a squared-error objective (loss in {RESIDUAL_LOSSES}); "
            f"got loss={obj.loss_name!r}."
        )
    theta = obj._checked(theta)
    blocks = []
    for x, y in obj.batches():

        def f(t: Tensor, x: Tensor = x, y: Tensor = y) -> Tensor:
            return (functional_call(obj._module, obj.space.unflatten(t), (x,)) - y).reshape(-1)

        blocks.append(jacrev(f)(theta).detach())
    return torch.cat(blocks)


@dataclass
class JacobianRank:
    """The numerical rank of J.

    Attributes:
        rank: number of singular values above `tol`.
        singular_values: all of them, descending [min(d, n)].
        tol: the threshold, max(d, n)·ε·σ_max unless given (NumPy's convention).
        shape: (d, n).
    """

    rank: int
    singular_values: Tensor
    tol: float
    shape: tuple[int, int]


def jacobian_rank(obj: Objective, theta: Tensor, *, tol: float | None = None) -> JacobianRank:
    """rank J(θ) by SVD: singular values above tol = max(d, n)·ε·σ_max (or `tol`).

    ε is the machine epsilon of the objective's dtype (use float64).
    """
    J = residual_jacobian(obj, theta)
    s = torch.linalg.svdvals(J)
    if tol is None:
        tol = max(J.shape) * torch.finfo(J.dtype).eps * float(s.max()) if len(s) else 0.0
    return JacobianRank(int((s > tol).sum()), s, float(tol), (J.shape[0], J.shape[1]))


@dataclass
class Inertia:
    """Counts of positive, zero and negative Hessian eigenvalues at a stated tolerance.

    Attributes:
        positive, zero, negative: eigenvalues > tol, |λ| ≤ tol, < −tol.
        eigenvalues: all of them, ascending [n].
        tol: the threshold used.
        separation: smallest |λ| above tol over the largest |λ| at or below it
            (inf when none is below): how clearly the zeros stand apart.
    """

    positive: int
    zero: int
    negative: int
    eigenvalues: Tensor
    tol: float
    separation: float

    def as_dict(self) -> dict[str, float | int]:
        """The counts of positive, zero and negative eigenvalues and the tolerance, as a dict."""
        return {
            "positive": self.positive,
            "zero": self.zero,
            "negative": self.negative,
            "tol": self.tol,
            "separation": self.separation,
        }


def inertia_of(eigenvalues: Tensor, *, rtol: float = 1e-9, tol: float | None = None) -> Inertia:
    """The inertia of a symmetric matrix from its eigenvalues.

    Args:
        eigenvalues: [n].
        rtol: relative threshold: tol = rtol·max|λ| when `tol` is None.
        tol: absolute threshold; overrides `rtol`.
    """
    lam = torch.sort(eigenvalues.detach()).values
    if tol is None:
        tol = rtol * float(lam.abs().max()) if len(lam) else 0.0
    pos, neg = int((lam > tol).sum()), int((lam < -tol).sum())
    size = lam.abs()
    above, below = size[size > tol], size[size <= tol]
    if len(below) == 0 or len(above) == 0:
        separation = float("inf")
    else:
        separation = float(above.min() / below.max().clamp_min(torch.finfo(lam.dtype).tiny))
    return Inertia(pos, len(lam) - pos - neg, neg, lam, float(tol), separation)


def hessian_inertia(
    obj: Objective, theta: Tensor, *, rtol: float = 1e-9, tol: float | None = None
) -> Inertia:
    """Inertia of the dense Hessian H(θ) (exact HVPs, `curvature.dense_hessian`).

    A zero eigenvalue is |λ| ≤ tol, tol = rtol·max|λ| (1e-9 by default: far
    above float64 rounding, ~n·1e-16·max|λ|, and below the curvatures that
    matter), or the absolute `tol` given; `Inertia.separation` says how clearly
    the zeros stand apart. Use a float64 objective. For small models (n² memory).
    """
    return inertia_of(torch.linalg.eigvalsh(dense_hessian(obj, theta)), rtol=rtol, tol=tol)


@dataclass
class MinimumManifold:
    """Prop. 2.3 at a point: rank J, the Hessian's inertia, and whether they agree.

    Attributes:
        loss: L(θ).
        n: parameters; d: residuals (samples × outputs).
        jacobian: rank of J; inertia: of the Hessian.
        dimension: n − rank J, the dimension of M through θ (Thm. 2.1).
        holds: L ≈ 0, rank J = d, and the Hessian has n − d zero, d positive
            and no negative eigenvalues.
    """

    loss: float
    n: int
    d: int
    jacobian: JacobianRank
    inertia: Inertia
    dimension: int
    holds: bool


def minimum_manifold(
    obj: Objective, theta: Tensor, *, rtol: float = 1e-9, loss_tol: float = 1e-12
) -> MinimumManifold:
    """Check Cooper's Prop. 2.3 at θ: n − d zero and d positive Hessian eigenvalues.

    Args:
        obj: a squared-error objective (float64 recommended).
        theta: a point with L(θ) ≈ 0.
        rtol: relative tolerance of `hessian_inertia`.
        loss_tol: L(θ) ≤ loss_tol counts as a global minimum.
    """
    jac = jacobian_rank(obj, theta)
    inertia = hessian_inertia(obj, theta, rtol=rtol)
    n, d = obj.size, jac.shape[0]
    loss = float(obj.value(theta))
    holds = (
        loss <= loss_tol
        and jac.rank == d
        and inertia.zero == n - d
        and inertia.positive == d
        and inertia.negative == 0
    )
    return MinimumManifold(loss, n, d, jac, inertia, n - jac.rank, holds)

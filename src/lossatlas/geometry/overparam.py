"""The manifold of global minima of an overparameterised network (Cooper).

With n parameters and d residuals f_i(θ) = f_θ(x_i) − y_i, n > d, the zero set
M = L⁻¹(0) of L = Σ f_i² is generically a smooth (n − d)-dimensional manifold
(Thm. 2.1): the Jacobian J = ∂f/∂θ [d, n] has rank d on M and its null space is
M's tangent space. At a point m ∈ M, ∇²L = 2 JᵀJ (the residuals vanish), so
the Hessian has d positive and n − d zero eigenvalues (Prop. 2.3). Lemma 3.3
builds a point of M explicitly: one hidden layer of width d with a rectified
activation (smooLU) fits any d distinct points exactly.

Here: `residual_jacobian` and its `jacobian_rank`, the `hessian_inertia`, the
constructive network of Lemma 3.3 (`constructive_network`) and
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
from torch import Tensor, nn
from torch.func import functional_call, jacrev

from lossatlas.curvature import dense_hessian
from lossatlas.objective import Objective
from lossatlas.zoo.models import make_activation

RESIDUAL_LOSSES = ("sse", "mse")


def residuals(obj: Objective, theta: Tensor) -> Tensor:
    """f(θ) = (f_θ(x_i) − y_i) over every sample and output, flattened → [d]."""
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
            or "mse"): residuals are only the loss's building blocks there.
    """
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


@dataclass
class ConstructiveNetwork:
    """The network of Lemma 3.3 and the numbers that define it.

    f(x) = Σ_j m_j σ(a·x − b_j): every row of the first weight is a, the first
    bias is −b, the output weights are m and the output bias is 0.

    Attributes:
        model: nn.Sequential(Linear(p, h), σ, Linear(h, 1)), float64.
        a: the projection [p]; b: the thresholds [d]; m: the output weights [d].
        order: the points sorted by a·x (order[i] is the i-th smallest).
        A: the lower-triangular matrix A_ij = σ(a·x_(i) − b_j) [d, d].
    """

    model: nn.Sequential
    a: Tensor
    b: Tensor
    m: Tensor
    order: Tensor
    A: Tensor


def constructive_network(
    x: Tensor,
    y: Tensor,
    *,
    a: Tensor | None = None,
    width: int | None = None,
    gap: float = 5.0,
    activation: str = "smoolu",
    seed: int = 0,
) -> ConstructiveNetwork:
    """One hidden layer of width d that fits d distinct points exactly (Cooper, Lemma 3.3).

    Choose a with distinct projections a·x_i and sort the points so they
    increase; put a·x_0 = a·x_1 − 1 and b_i = (a·x_{i−1} + a·x_i)/2. Then
    A_ij = σ(a·x_i − b_j) is lower triangular with a positive diagonal for a
    rectified σ (σ(z) = 0 for z ≤ 0), and m = A⁻¹y (forward substitution)
    gives f(x_i) = Σ_j m_j σ(a·x_i − b_j) = y_i. Extra units (width > d) get
    zero weights, as in the proof.

    Args:
        x: inputs [d, p] (distinct rows).
        y: targets [d] or [d, 1].
        a: the projection [p]. None draws a random direction from `seed` and
            scales it so the smallest gap between sorted projections is `gap`.
            The lemma allows any a with distinct projections; wide gaps keep
            smooLU off its flat e^(−1/z) tail, where A is nearly singular (with
            gap 1 and 10 points m reaches ~10⁴ and the Hessian's smallest
            positive eigenvalue 10⁻⁸ of its largest; gap 5 keeps them ~10² and
            ~10⁻⁵).
        width: hidden width h ≥ d (default d).
        gap: see `a`.
        activation: a rectified activation of the zoo ("smoolu" or "relu").
        seed: seed of the random direction.

    Raises:
        ValueError: for repeated points, projections that coincide, h < d, a
            non-rectified activation, or shapes that do not match.
    """
    x, y = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    if x.dim() != 2:
        raise ValueError(f"`x` must be [d, p]; got shape {tuple(x.shape)}.")
    d, p = x.shape
    y = y.reshape(-1) if y.dim() == 2 and y.shape[1] == 1 else y
    if y.shape != (d,):
        raise ValueError(f"`y` must be [d] or [d, 1] with d = {d}; got shape {tuple(y.shape)}.")
    if activation not in ("smoolu", "relu"):
        raise ValueError(
            "`activation` must be rectified (σ(z) = 0 for z ≤ 0, Cooper Def. 3.1): "
            f"'smoolu' or 'relu'; got {activation!r}."
        )
    h = d if width is None else int(width)
    if h < d:
        raise ValueError(f"`width` must be at least the number of points d = {d}; got {h}.")
    if a is None:
        gen = torch.Generator().manual_seed(seed)
        a = torch.randn(p, generator=gen, dtype=torch.float64)
        a = a / a.norm()
        proj = torch.sort(x @ a).values
        smallest = float((proj[1:] - proj[:-1]).min()) if d > 1 else 1.0
        if smallest <= 1e-12 * max(1.0, float(proj.abs().max())):
            raise ValueError(
                "two points project to the same value a·x (repeated points, or an unlucky "
                "direction): remove duplicates from `x` or change `seed`."
            )
        a = a * (gap / smallest)
    a = torch.as_tensor(a, dtype=torch.float64).reshape(-1)
    if a.shape != (p,):
        raise ValueError(f"`a` must have p = {p} entries; got {tuple(a.shape)}.")
    proj = x @ a
    order = torch.argsort(proj)
    s = proj[order]
    if d > 1 and bool((s[1:] <= s[:-1]).any()):
        raise ValueError("the projections a·x_i must be distinct; choose another `a` or `seed`.")
    prev = torch.cat([s[:1] - 1.0, s[:-1]])  # a·x_0 = a·x_1 − 1
    b = (prev + s) / 2
    sigma = make_activation(activation)
    A = sigma(s[:, None] - b[None, :])
    m = torch.linalg.solve_triangular(torch.tril(A), y[order][:, None], upper=False)[:, 0]
    hidden, out = nn.Linear(p, h).double(), nn.Linear(h, 1).double()
    with torch.no_grad():
        hidden.weight.zero_()
        hidden.bias.zero_()
        out.weight.zero_()
        out.bias.zero_()
        hidden.weight[:d] = a
        hidden.bias[:d] = -b
        out.weight[0, :d] = m
    return ConstructiveNetwork(nn.Sequential(hidden, sigma, out), a, b, m, order, A)

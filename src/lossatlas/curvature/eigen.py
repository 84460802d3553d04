"""Extreme eigenpairs of the Hessian: thick-restart Lanczos to a stated tolerance.

`top_eigenvalues` and `bottom_eigenvalues` find the k algebraically largest
or smallest eigenvalues of a symmetric operator and their eigenvectors. The
method is Lanczos with full reorthogonalisation in a basis of at most
`subspace` vectors; when the basis is full and the wanted Ritz pairs have
not converged, it keeps the best Ritz vectors and continues from the
residual direction (thick restart, Wu & Simon 2000; the Krylov–Schur form
of Stewart 2001). The projected matrix S = QᵀAQ is formed from the
reorthogonalisation's own projections, so after a restart the method stays
a Rayleigh–Ritz procedure on an orthonormal basis and the residual of every
Ritz pair is read off the last coupling: ‖A x − θ x‖ = β·|y_last|.

Convergence: every wanted pair has ‖A x − θ x‖ ≤ tol·‖A‖, where ‖A‖ is
estimated by the largest |Ritz value|, and the sign of every wanted Ritz
value is proven by its residual (|θ| > ‖A x − θ x‖, so an eigenvalue of that
sign lies within the residual), or the residual has reached the rounding
floor of the products (`SIGN_FLOOR`·eps·‖A‖), below which no iteration
resolves a sign: then the pair is converged with `sign_known` False. A bottom
eigenvalue next to a bulk at zero is where this matters: at tol·‖A‖ a Ritz
value of +2e-5 can stand for λ = −0.003. For a symmetric matrix the eigenvalue
error is then at most that residual, and at most residual²/gap when the
eigenvalue is separated by `gap` from the rest of the spectrum (Parlett
1998, §11.7). Power iteration, the peers' method, converges at the rate
λ₂/λ₁ per product; Lanczos at the rate of a Chebyshev polynomial, which is
why it needs far fewer products for the same tolerance.

References:
    Wu, Simon (2000). Thick-restart Lanczos method for large symmetric
    eigenvalue problems. SIAM J. Matrix Anal. Appl. 22(2).
    Stewart (2001). A Krylov–Schur algorithm for large eigenproblems.
    Parlett (1998). The Symmetric Eigenvalue Problem. SIAM.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from lossatlas.curvature.operators import CurvatureOperator, as_operator, gaussian

Which = Literal["top", "bottom"]


class ConvergenceWarning(UserWarning):
    """An iterative estimate stopped at its budget before reaching its tolerance."""


#: Residuals below SIGN_FLOOR·eps(dtype)·‖A‖ are at the products' rounding level: a Ritz
#: value that small has no provable sign, and iterating further cannot give it one.
SIGN_FLOOR = 64


def default_tol(dtype: torch.dtype) -> float:
    """Residual tolerance relative to ‖A‖: near the HVP's own rounding level."""
    return 1e-9 if dtype == torch.float64 else 1e-4


@dataclass
class EigenResult:
    """k extreme eigenpairs. Unpacks as `(eigenvalues, eigenvectors)`.

    Attributes:
        eigenvalues: [k] float64, ordered from the wanted end (top: descending,
            bottom: ascending).
        eigenvectors: [k, n] unit rows, on the operator's device.
        residuals: [k] ‖A x − λ x‖ of each pair.
        tol: the relative tolerance asked for; converged when every residual
            is ≤ tol·norm_estimate.
        norm_estimate: max |Ritz value| seen, the scale of the tolerance.
        products: operator products (HVPs) spent.
        restarts: thick restarts made.
        converged: whether every pair met the tolerance.
        sign_known: [k] bool, whether each eigenvalue's sign is proven by its
            residual (|λ| > residual); False for an eigenvalue indistinguishable
            from zero at the products' precision.
    """

    eigenvalues: Tensor
    eigenvectors: Tensor
    residuals: Tensor
    tol: float
    norm_estimate: float
    products: int
    restarts: int
    converged: bool
    which: Which = "top"
    settings: dict[str, Any] = field(default_factory=dict)
    sign_known: Tensor | None = None

    def __iter__(self):
        return iter((self.eigenvalues, self.eigenvectors))

    @property
    def error_bounds(self) -> Tensor:
        """Upper bounds on |λ_true − λ| for each pair: the residual norms."""
        return self.residuals


def top_eigenvalues(
    obj: Any,
    theta: Tensor | None = None,
    k: int = 1,
    **kw: Any,
) -> EigenResult:
    """The k largest eigenvalues of H(θ) (or of any operator) and their eigenvectors.

    Args:
        obj: an `Objective` (then pass θ: the Hessian at θ), a
            `CurvatureOperator`, or a dense symmetric matrix.
        k: how many (1 ≤ k ≤ n).

    Keyword Args:
        tol: relative residual tolerance (default 1e-4 in float32, 1e-9 in
            float64; see `default_tol`).
        subspace: the largest basis kept (default max(2k + 20, 40), at most n).
        max_products: the HVP budget (default 50·subspace); a warning, not an
            error, when it runs out, and the best pairs so far are returned.
        seed: seeds the starting vector.
        operator: with an Objective, "hessian" (default), "ggn" (generalised
            Gauss–Newton) or "fisher" (empirical Fisher); see `as_operator`.
    """
    operator = kw.pop("operator", "hessian")
    return extreme_eigenpairs(as_operator(obj, theta, operator), k, "top", **kw)


def bottom_eigenvalues(
    obj: Any,
    theta: Tensor | None = None,
    k: int = 1,
    **kw: Any,
) -> EigenResult:
    """The k smallest (most negative) eigenvalues of H(θ) and their eigenvectors.

    Same arguments as `top_eigenvalues` (`k` is `--bottom` on the command
    line). The bottom of a network's Hessian spectrum sits next to a dense
    bulk near zero, so expect more products than for the top.
    """
    operator = kw.pop("operator", "hessian")
    return extreme_eigenpairs(as_operator(obj, theta, operator), k, "bottom", **kw)


@dataclass
class Extremes:
    """λ_max, λ_min and the ratios built on them."""

    lambda_max: float
    lambda_min: float
    products: int
    converged: bool
    #: whether λ_min's sign is proven by its residual (see `EigenResult.sign_known`)
    sign_known: bool = True

    @property
    def condition_number(self) -> float:
        """λ_max/λ_min where H is proven positive definite (Gallagher §5.6.5), else inf."""
        positive = self.sign_known and self.lambda_min > 0
        return self.lambda_max / self.lambda_min if positive else math.inf

    @property
    def convexity_ratio(self) -> float:
        """|λ_min/λ_max|: Li et al. (2018) Fig. 11's measure of negative curvature."""
        return abs(self.lambda_min / self.lambda_max) if self.lambda_max != 0 else math.inf


def extremes(obj: Any, theta: Tensor | None = None, **kw: Any) -> Extremes:
    """λ_max and λ_min of H(θ) (one top and one bottom solve)."""
    op = as_operator(obj, theta)
    top = extreme_eigenpairs(op, 1, "top", **kw)
    bottom = extreme_eigenpairs(op, 1, "bottom", **kw)
    return Extremes(
        lambda_max=float(top.eigenvalues[0]),
        lambda_min=float(bottom.eigenvalues[0]),
        products=top.products + bottom.products,
        converged=top.converged and bottom.converged,
        sign_known=bool(bottom.sign_known[0]),
    )


def extreme_eigenpairs(
    op: CurvatureOperator,
    k: int,
    which: Which,
    *,
    tol: float | None = None,
    subspace: int | None = None,
    max_products: int | None = None,
    seed: int = 0,
    start: Tensor | None = None,
) -> EigenResult:
    """Thick-restart Lanczos for the k eigenpairs at one end of the spectrum."""
    n = op.size
    if which not in ("top", "bottom"):
        raise ValueError(f"`which` must be 'top' or 'bottom'; got {which!r}.")
    if not isinstance(k, int) or not 1 <= k <= n:
        raise ValueError(f"`k` must be an integer between 1 and n = {n}; got {k!r}.")
    tol = default_tol(op.dtype) if tol is None else float(tol)
    if not tol > 0:
        raise ValueError(f"`tol` must be positive; got {tol}.")
    m = min(n, subspace or max(2 * k + 20, 40))
    if m < min(n, k + 2):
        raise ValueError(f"`subspace` must be at least k + 2 = {k + 2}; got {subspace}.")
    max_products = max_products or 50 * m
    sign = 1.0 if which == "top" else -1.0  # work on ±A so the wanted end is the top

    Q = torch.zeros(m, n, dtype=op.dtype, device=op.device)
    S = np.zeros((m, m))
    q = gaussian(1, n, seed, op.dtype, op.device)[0] if start is None else start.to(Q)
    Q[0] = q / q.norm()
    j, restarts, start_products = 0, 0, op.products
    scale = 0.0
    floor = SIGN_FLOOR * torch.finfo(op.dtype).eps
    rng = np.random.default_rng(seed + 1)
    while True:
        w = sign * op.matvec(Q[j])
        basis = Q[: j + 1]
        h = basis @ w
        w = w - h @ basis
        h2 = basis @ w
        w = w - h2 @ basis
        h = (h + h2).double().cpu().numpy()
        S[: j + 1, j] = h
        S[j, : j + 1] = h
        beta = float(w.norm())
        j += 1
        theta, Y = np.linalg.eigh(S[:j, :j])  # ascending: the wanted end is last
        want = np.arange(j - 1, max(j - 1 - k, -1), -1)
        scale = max(scale, float(np.abs(theta).max()), beta)
        residuals = beta * np.abs(Y[j - 1, want])
        done = (
            j >= k
            and bool(np.all(residuals <= tol * scale))
            and _signs_settled(theta[want], residuals, floor * scale)
        )
        exhausted = op.products - start_products >= max_products
        if done or exhausted or (j == n):
            break
        if beta <= 1e-12 * scale:  # invariant subspace: continue from a fresh direction
            w = _fresh_direction(Q[:j], rng, op)
            beta = 0.0
        else:
            w = w / beta
        if j == m:  # thick restart: keep the best Ritz vectors, continue from the residual
            keep = max(k + 1, (m + k) // 2)
            kept = np.arange(j - 1, j - 1 - keep, -1)
            Yk = torch.as_tensor(Y[:, kept].copy(), dtype=op.dtype, device=op.device)
            Q[:keep] = Yk.T @ Q[:j]
            S[:] = 0.0
            S[np.arange(keep), np.arange(keep)] = theta[kept]
            S[keep, :keep] = S[:keep, keep] = beta * Y[j - 1, kept]
            j, restarts = keep, restarts + 1
        Q[j] = w

    converged = done  # the loop's own test, on the pairs it stopped with
    if j == n and len(want) == k and beta <= 1e-8 * max(scale, 1e-300):
        converged = True  # the basis spans the whole space: the Ritz pairs are exact
    if len(want) < k:
        raise RuntimeError("the Lanczos basis stopped before holding k vectors.")
    vectors = torch.as_tensor(Y[:, want].T.copy(), dtype=op.dtype, device=op.device) @ Q[:j]
    vectors = vectors / vectors.norm(dim=1, keepdim=True)
    if not converged:
        warnings.warn(
            f"{which} eigenvalues: stopped after {op.products - start_products} products "
            f"(max_products={max_products}) with residuals up to {residuals.max():.2e} against "
            f"tol·‖A‖ = {tol * scale:.2e}; raise max_products or subspace, or relax tol.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return EigenResult(
        eigenvalues=torch.as_tensor(sign * theta[want], dtype=torch.float64),
        eigenvectors=vectors,
        residuals=torch.as_tensor(residuals, dtype=torch.float64),
        tol=tol,
        norm_estimate=scale,
        products=op.products - start_products,
        restarts=restarts,
        converged=converged,
        which=which,
        settings={"k": k, "tol": tol, "subspace": m, "max_products": max_products, "seed": seed},
        sign_known=torch.as_tensor(residuals < np.abs(theta[want])),
    )


def _signs_settled(ritz: np.ndarray, residuals: np.ndarray, floor: float) -> bool:
    """Every Ritz value's sign proven by its residual, or its residual at the rounding floor."""
    return bool(np.all((residuals < np.abs(ritz)) | (residuals <= floor)))


def _fresh_direction(Q: Tensor, rng: np.random.Generator, op: CurvatureOperator) -> Tensor:
    """A random unit vector orthogonal to the rows of Q."""
    v = torch.as_tensor(rng.standard_normal(op.size), dtype=op.dtype, device=op.device)
    for _ in range(2):
        v = v - (Q @ v) @ Q
    return v / v.norm()

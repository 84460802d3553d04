"""The Lanczos process with full reorthogonalisation, for k starting vectors at once.

For a symmetric A and a unit start q₁, m steps build an orthonormal basis
q₁…q_m of the Krylov space span{q₁, Aq₁, …, A^{m−1}q₁} and the tridiagonal
T = Q_mᵀ A Q_m (diagonal α, off-diagonal β). Its eigenvalues (Ritz values)
approximate A's extreme eigenvalues, and its eigenvectors' squared first
components are the Gauss quadrature weights of the spectral measure seen
from q₁ (Golub & Welsch 1969), which is what stochastic Lanczos quadrature
needs (Ghorbani et al. 2019, Algorithm 1).

In floating point the basis loses orthogonality as Ritz values converge and
T grows spurious copies of them; full reorthogonalisation (every new vector
projected against the whole basis, twice — "twice is enough", Parlett 1998)
prevents that, at O(m²n) cost and O(mn) memory per start. The k recurrences
advance in lockstep, so each step is one block product A·[w₁…w_k]: one data
sweep for k HVPs, and on an accelerator one batched kernel.

T is returned in float64; the basis vectors stay on the operator's device in
its dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from lossatlas.curvature.operators import CurvatureOperator

# β below this fraction of the largest |α|, |β| seen means the Krylov space is
# invariant: the recurrence stops there (its T is exact for that start).
BREAKDOWN = 1e-10


@dataclass
class LanczosResult:
    """m Lanczos steps from each of k starts.

    Attributes:
        alpha: [k, m] diagonals of T (float64); entries past `steps[i]` are 0.
        beta: [k, m] off-diagonals: beta[i, j] couples steps j and j+1; the last
            one is the residual norm (0 at breakdown).
        steps: [k] steps actually taken (fewer than m where the Krylov space of
            that start became invariant).
        basis: [k, m, n] the Lanczos vectors, if asked for.
        products: operator products spent.
    """

    alpha: np.ndarray
    beta: np.ndarray
    steps: np.ndarray
    basis: Tensor | None
    products: int

    def tridiagonal(self, i: int = 0) -> np.ndarray:
        """T of start i, [m_i, m_i] float64."""
        m = int(self.steps[i])
        a, b = self.alpha[i, :m], self.beta[i, : m - 1]
        return np.diag(a) + np.diag(b, 1) + np.diag(b, -1)

    def ritz(self, i: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(nodes, weights) of start i: eigenvalues of T and their squared first components."""
        nodes, vectors = np.linalg.eigh(self.tridiagonal(i))
        return nodes, vectors[0] ** 2


def lanczos(
    op: CurvatureOperator,
    v0: Tensor,
    steps: int,
    *,
    keep_basis: bool = False,
) -> LanczosResult:
    """Run `steps` Lanczos steps with full reorthogonalisation from each row of v0.

    Args:
        op: a symmetric operator (`lossatlas.curvature.operators`).
        v0: [n] or [k, n] starting vectors (normalised here).
        steps: m ≤ n.
        keep_basis: return the [k, m, n] basis (it is built either way).

    Raises:
        ValueError: steps < 1 or steps > n, or a zero starting vector.
    """
    n = op.size
    if not 1 <= steps <= n:
        raise ValueError(
            f"`steps` must be between 1 and n = {n} (the number of parameters); got {steps}."
        )
    V = v0.reshape(1, -1) if v0.dim() == 1 else v0
    if V.shape[1] != n:
        raise ValueError(f"starting vectors must have length n = {n}; got {tuple(v0.shape)}.")
    V = V.to(device=op.device, dtype=op.dtype)
    norms = V.norm(dim=1, keepdim=True)
    if bool((norms == 0).any()):
        raise ValueError("a starting vector is zero; Lanczos needs a nonzero start.")
    k = V.shape[0]
    Q = torch.zeros(k, steps, n, dtype=op.dtype, device=op.device)
    Q[:, 0] = V / norms
    alpha = np.zeros((k, steps))
    beta = np.zeros((k, steps))
    taken = np.zeros(k, dtype=np.int64)
    active = np.ones(k, dtype=bool)
    scale = np.zeros(k)
    start = op.products
    for j in range(steps):
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        idx = torch.as_tensor(rows, device=op.device)
        W = op.matmat(Q[idx, j])
        basis = Q[idx, : j + 1]  # [a, j+1, n]
        a = torch.einsum("an,an->a", Q[idx, j], W)
        # classical Gram–Schmidt against the whole basis, twice
        for _ in range(2):
            W = W - torch.einsum("ajn,aj->an", basis, torch.einsum("ajn,an->aj", basis, W))
        b = W.norm(dim=1)
        a_np, b_np = a.double().cpu().numpy(), b.double().cpu().numpy()
        alpha[rows, j] = a_np
        taken[rows] = j + 1
        scale[rows] = np.maximum(scale[rows], np.maximum(np.abs(a_np), b_np))
        beta[rows, j] = b_np
        if j + 1 < steps:
            stop = b_np <= BREAKDOWN * np.maximum(scale[rows], np.finfo(float).tiny)
            beta[rows[stop], j] = 0.0
            active[rows[stop]] = False
            go = ~stop
            if go.any():
                sel = torch.as_tensor(np.flatnonzero(go), device=op.device)
                Q[idx[sel], j + 1] = W[sel] / b[sel, None]
    return LanczosResult(
        alpha=alpha,
        beta=beta,
        steps=taken,
        basis=Q if keep_basis else None,
        products=op.products - start,
    )

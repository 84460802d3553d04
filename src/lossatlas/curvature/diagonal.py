"""The diagonal of the Hessian (or the GGN, or the Fisher) by Hutchinson's estimator, or exactly.

- Hutchinson's diagonal estimator (Bekas, Kokiopoulou, Saad 2007):
  diag A = E[z ⊙ Az] for z with independent ±1 entries, estimated by the mean
  of `samples` products, with a per-entry standard error. For a diagonal
  matrix a single draw is exact (z ⊙ Dz = D z² = D); off-diagonal entries
  add the variance Σ_{j≠i} A_ij² per draw.
- "exact": the diagonal from the n products A e_i in blocks (small models,
  and the reference every estimate is checked against).

Diagonals are what diagonal preconditioners, OBD pruning and per-parameter
sharpness read (curvlinops and BackPACK compute them too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from lossatlas.curvature.operators import as_operator, quadratic_forms, rademacher

Method = Literal["hutchinson", "exact"]


@dataclass
class DiagonalResult:
    """An estimate of diag A [n].

    Attributes:
        estimate: the diagonal [n] (float64, on the CPU).
        stderr: per-entry standard error [n] (zeros for "exact").
        samples: ±1 vectors averaged (n for "exact": the columns).
        products: operator products spent.
        method: "hutchinson" or "exact".
    """

    estimate: Tensor
    stderr: Tensor
    samples: int
    products: int
    method: str


def diagonal(
    obj: Any,
    theta: Tensor | None = None,
    method: Method = "hutchinson",
    samples: int = 100,
    *,
    seed: int = 0,
    block: int = 32,
    operator: str = "hessian",
) -> DiagonalResult:
    """diag A of H(θ) (or the GGN, the empirical Fisher, any operator or matrix).

    Args:
        obj: an `Objective` (with θ), a `CurvatureOperator` or a matrix.
        method: "hutchinson" (`samples` ±1 products) or "exact" (n products).
        samples: Hutchinson's product budget (≥ 2, for the standard error).
        seed: seeds the ±1 vectors.
        block: vectors per block product.
        operator: with an Objective, "hessian", "ggn" or "fisher" (`as_operator`).
    """
    op = as_operator(obj, theta, operator)
    if method not in ("hutchinson", "exact"):
        raise ValueError(f"`method` must be 'hutchinson' or 'exact'; got {method!r}.")
    if not isinstance(block, int) or block < 1:
        raise ValueError(f"`block` must be a positive integer; got {block!r}.")
    start = op.products
    if method == "exact":
        eye = torch.eye(op.size, dtype=op.dtype, device=op.device)
        diag = quadratic_forms(op, eye, block).double().cpu()  # e_iᵀ A e_i
        return DiagonalResult(diag, torch.zeros_like(diag), op.size, op.products - start, method)
    if not isinstance(samples, int) or samples < 2:
        raise ValueError(f"`samples` must be an integer ≥ 2 (for the error bar); got {samples!r}.")
    Z = rademacher(samples, op.size, seed, op.dtype, op.device)
    total = torch.zeros(op.size, dtype=torch.float64)
    square = torch.zeros(op.size, dtype=torch.float64)
    for rows in Z.split(block):
        draws = (rows * op.matmat(rows)).double().cpu()  # z ⊙ Az for each draw
        total += draws.sum(0)
        square += (draws**2).sum(0)
    mean = total / samples
    variance = (square - samples * mean**2).clamp(min=0) / (samples - 1)
    stderr = (variance / samples).sqrt()
    return DiagonalResult(mean, stderr, samples, op.products - start, method)

"""The trace of the Hessian by randomised estimators, with a confidence interval.

- Hutchinson (1989): tr A = E[vᵀAv] for v with independent ±1 entries; the
  estimate is the mean of `samples` quadratic forms, its interval the
  Student-t interval of that mean.
- Hutch++ (Meyer, Musco, Musco, Woodruff 2021): spend a third of the
  products on a sketch Q = orth(A S) of A's dominant range, take tr(QᵀAQ)
  exactly (a third), and run Hutchinson on the deflated remainder
  (I − QQᵀ)A(I − QQᵀ) with the last third. For the Hessians of networks,
  whose trace is dominated by a few outliers, the remainder's variance is
  far smaller, so the same budget gives a much tighter interval. The
  interval comes from the remainder's sample variance (the exact part has
  none).

Products are made in blocks (one data sweep each) of `block` vectors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
from scipy import stats
from torch import Tensor

from lossatlas.curvature.operators import (
    CurvatureOperator,
    as_operator,
    quadratic_forms,
    rademacher,
)

Method = Literal["hutchinson", "hutch++"]


@dataclass
class TraceResult:
    """An estimate of tr A with a confidence interval.

    Attributes:
        estimate: the trace estimate.
        low, high: the `confidence` interval (Student-t on the random part).
        stderr: the standard error of the estimate.
        samples: quadratic forms averaged in the random part.
        products: operator products spent.
        method: "hutchinson" or "hutch++".
        confidence: the interval's level.
    """

    estimate: float
    low: float
    high: float
    stderr: float
    samples: int
    products: int
    method: str
    confidence: float

    def __float__(self) -> float:
        return self.estimate

    def contains(self, value: float) -> bool:
        """Whether `value` lies in the estimate's interval [low, high]."""
        return self.low <= value <= self.high


def trace(
    obj: Any,
    theta: Tensor | None = None,
    method: Method = "hutch++",
    samples: int = 99,
    *,
    confidence: float = 0.95,
    seed: int = 0,
    block: int = 32,
    operator: str = "hessian",
) -> TraceResult:
    """tr H(θ) (or of any operator) by Hutchinson or Hutch++.

    Args:
        obj: an `Objective` (with θ), a `CurvatureOperator` or a matrix.
        method: "hutch++" (default; lower variance for spectra with outliers)
            or "hutchinson" (PyHessian's method).
        samples: the product budget. Hutchinson uses all of them as quadratic
            forms; Hutch++ splits them in three (sketch, exact part, remainder),
            and when a third of the budget reaches n it computes the trace
            exactly from n products instead (a zero-width interval).
        confidence: level of the interval (0 < c < 1).
        seed: seeds the ±1 vectors.
        block: vectors per block product.
        operator: with an Objective, "hessian", "ggn" or "fisher" (`as_operator`).
    """
    op = as_operator(obj, theta, operator)
    if method not in ("hutchinson", "hutch++"):
        raise ValueError(f"`method` must be 'hutchinson' or 'hutch++'; got {method!r}.")
    if not 0 < confidence < 1:
        raise ValueError(f"`confidence` must lie in (0, 1); got {confidence}.")
    least = 2 if method == "hutchinson" else 6
    if samples < least:
        raise ValueError(f"{method} needs `samples` ≥ {least} to give an interval; got {samples}.")
    start = op.products
    if method == "hutch++" and samples // 3 >= op.size:
        # the sketch would span the whole space: spend n products on the exact trace
        eye = torch.eye(op.size, dtype=op.dtype, device=op.device)
        exact = float(quadratic_forms(op, eye, block).double().sum())
        return TraceResult(exact, exact, exact, 0.0, 0, op.products - start, method, confidence)
    if method == "hutchinson":
        V = rademacher(samples, op.size, seed, op.dtype, op.device)
        forms = quadratic_forms(op, V, block)
        exact = 0.0
    else:
        third = samples // 3
        S = rademacher(third, op.size, seed, op.dtype, op.device)
        G = rademacher(samples - 2 * third, op.size, seed + 1, op.dtype, op.device)
        AS = _products(op, S, block)
        Q = torch.linalg.qr(AS.T.double()).Q.T.to(op.dtype)  # [third, n] orthonormal rows
        exact = float(quadratic_forms(op, Q, block).double().sum())
        G = G - (G @ Q.T) @ Q  # (I − QQᵀ)g
        forms = quadratic_forms(op, G, block)
    forms = forms.double().cpu()
    mean = float(forms.mean())
    s = len(forms)
    stderr = float(forms.std(unbiased=True)) / math.sqrt(s)
    half = float(stats.t.ppf(0.5 + confidence / 2, df=s - 1)) * stderr
    estimate = exact + mean
    return TraceResult(
        estimate=estimate,
        low=estimate - half,
        high=estimate + half,
        stderr=stderr,
        samples=s,
        products=op.products - start,
        method=method,
        confidence=confidence,
    )


def _products(op: CurvatureOperator, V: Tensor, block: int) -> Tensor:
    return torch.cat([op.matmat(b) for b in V.split(block)])

"""Golden-section search, with bracketing, as the line search of L-BFGS-GSS.

For a unimodal φ on a bracket [a, c] with an interior point b (φ(b) ≤ φ(a),
φ(b) ≤ φ(c)), each step evaluates one new point x in the larger of [a, b]
and [b, c], at the golden fraction 1 − 1/ϕ = 0.381966… of it (ϕ the golden
ratio), and keeps the sub-bracket holding the lower value. The bracket
shrinks by 1/ϕ per evaluation and every old evaluation is reused.

The optimizer-strategies paper (§II.2) brackets with growing trial steps and
then shrinks by golden-section steps within a fixed budget of evaluations;
this implementation also guarantees what a line search inside an optimizer
needs: it never evaluates a point twice, counts every evaluation, treats a
non-finite value as "too far", and never returns a step that raises φ.

References:
    Kiefer (1953). Sequential minimax search for a maximum. Proc. AMS 4.
    Press, Teukolsky, Vetterling, Flannery (2007). Numerical Recipes, 3rd
    ed., §10.2 (golden-section search, bracketing).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

GOLDEN = (3 - math.sqrt(5)) / 2  # 0.381966…: the golden fraction of a bracket


@dataclass(frozen=True)
class LineSearchResult:
    """The outcome of a line search.

    Attributes:
        step: the accepted step t (0 when no lower value was found).
        value: φ(step) (φ(0) when step is 0).
        evals: evaluations of φ made (φ(0), given, is not counted).
        improved: whether φ(step) < φ(0).
    """

    step: float
    value: float
    evals: int
    improved: bool


class _Counted:
    """φ with a cache (no point is evaluated twice) and non-finite values mapped to +inf."""

    def __init__(self, f: Callable[[float], float], known: dict[float, float]):
        self.f, self.cache, self.evals = f, dict(known), 0

    def __call__(self, t: float) -> float:
        if t not in self.cache:
            v = float(self.f(t))
            self.cache[t] = v if math.isfinite(v) else math.inf
            self.evals += 1
        return self.cache[t]

    def best(self) -> tuple[float, float]:
        return min(self.cache.items(), key=lambda kv: (kv[1], abs(kv[0])))


def _check(max_evals: int, tol: float) -> None:
    if max_evals < 1:
        raise ValueError(f"`max_evals` must be at least 1; got {max_evals}.")
    if not tol > 0:
        raise ValueError(f"`tol` must be positive; got {tol}.")


def golden_section(
    f: Callable[[float], float],
    a: float,
    c: float,
    *,
    tol: float = 1e-4,
    max_evals: int = 100,
    b: float | None = None,
) -> tuple[float, float, int]:
    """Minimise a unimodal f on [a, c] by golden-section steps.

    Args:
        f: the function of one variable.
        a: the bracket's left end.
        c: the bracket's right end.
        tol: stop when the bracket is narrower than tol·(1 + |x|).
        max_evals: evaluation budget.
        b: an interior point already known to be lower than both ends, if any.

    Returns:
        (argmin estimate, its value, evaluations made).
    """
    _check(max_evals, tol)
    if not a < c:
        raise ValueError(f"the bracket must have a < c; got a={a}, c={c}.")
    F = _Counted(f, {})
    _shrink(F, a, a + GOLDEN * (c - a) if b is None else b, c, tol, max_evals)
    x, v = F.best()
    return x, v, F.evals


def _shrink(F: _Counted, a: float, b: float, c: float, tol: float, max_evals: int) -> None:
    """Golden-section steps on the bracket (a, b, c) until tol or the budget."""
    fb = F(b)
    while F.evals < max_evals and (c - a) > tol * (1.0 + abs(b)):
        x = b + GOLDEN * (c - b) if (c - b) > (b - a) else b - GOLDEN * (b - a)
        if x in F.cache:  # rounding put it on a known point: the bracket is spent
            break
        fx = F(x)
        if fx < fb:
            a, c = (b, c) if x > b else (a, b)
            b, fb = x, fx
        elif x > b:
            c = x
        else:
            a = x


def bracket_minimum(
    f: Callable[[float], float],
    f0: float,
    step0: float,
    *,
    grow: float = 2.0,
    max_evals: int = 20,
) -> tuple[tuple[float, float, float], int]:
    """Trial steps step0·grow^k from 0 until φ rises again: a bracket (a, b, c).

    On return φ(b) ≤ φ(a) and φ(b) ≤ φ(c) unless the budget ran out while φ
    was still falling (then c is the last trial and b the best one).

    Returns:
        ((a, b, c), evaluations made).
    """
    F = _Counted(f, {0.0: f0})
    bracket = _grow(F, f0, step0, grow, max_evals)
    return bracket, F.evals


def _grow(F: _Counted, f0: float, step0: float, grow: float, max_evals: int):
    a, b = 0.0, step0
    fb = F(b)
    if fb >= f0:
        return (0.0, 0.0, b)  # the first trial is already too long: the minimum is in [0, b)
    c = b * grow
    while F.evals < max_evals:
        fc = F(c)
        if fc >= fb:
            return (a, b, c)
        a, b, fb, c = b, c, fc, c * grow
    return (a, b, c)


def line_search(
    f: Callable[[float], float],
    f0: float,
    step0: float,
    *,
    max_evals: int = 6,
    tol: float = 1e-4,
    grow: float = 2.0,
) -> LineSearchResult:
    """Minimise φ(t) for t > 0 within `max_evals` evaluations; φ(0) = f0 is known.

    Brackets with the trial steps step0, 2·step0, 4·step0, … until φ rises,
    then shrinks the bracket by golden-section steps. When the first trial
    already raises φ, golden-section steps search [0, step0] towards 0.
    """
    _check(max_evals, tol)
    if not (step0 > 0 and math.isfinite(step0)):
        raise ValueError(f"`step0` must be a positive finite number; got {step0}.")
    F = _Counted(f, {0.0: f0})
    a, b, c = _grow(F, f0, step0, grow, max_evals)
    if b == 0.0:
        # Too long: look inside [0, c] for a point below φ(0), moving towards 0.
        while F.evals < max_evals:
            x = GOLDEN * c
            if F(x) < f0:
                b = x
                break
            c = x
    if b > 0.0 and F.evals < max_evals:
        _shrink(F, a, b, c, tol, max_evals)
    t, v = F.best()
    improved = v < f0 and t != 0.0
    return LineSearchResult(t if improved else 0.0, v if improved else f0, F.evals, improved)

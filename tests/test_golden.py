"""Golden-section search on functions whose minimisers are known."""

import math

import pytest

from lossatlas.optim import bracket_minimum, golden_section, line_search


class Recorder:
    """Wraps f and records every point at which it is evaluated."""

    def __init__(self, f):
        self.f, self.points = f, []

    def __call__(self, t):
        self.points.append(t)
        return self.f(t)


@pytest.mark.parametrize(
    "f, a, c, argmin",
    [
        (lambda x: (x - 0.3) ** 2, -2.0, 3.0, 0.3),
        (lambda x: abs(x - 1.7), 0.0, 5.0, 1.7),
        (lambda x: -math.sin(x), 0.0, math.pi, math.pi / 2),
    ],
)
def test_golden_section_finds_known_minimisers(f, a, c, argmin):
    rec = Recorder(f)
    x, value, evals = golden_section(rec, a, c, tol=1e-8, max_evals=200)
    assert x == pytest.approx(argmin, abs=1e-6)
    assert value == pytest.approx(f(argmin), abs=1e-7)  # |x − 1.7|: the error of x itself
    assert evals == len(rec.points) == len(set(rec.points))  # counted, never repeated
    # the bracket shrinks by 1/ϕ an evaluation: about log(width/tol)/log ϕ evaluations
    assert evals <= math.ceil(math.log((c - a) / 1e-8) / math.log((1 + 5**0.5) / 2)) + 3


def test_bracket_contains_the_minimum():
    f = Recorder(lambda t: (t - 5.3) ** 2)
    (a, b, c), evals = bracket_minimum(f, f(0.0), 0.1)
    assert a < 5.3 < c and f.f(b) <= f.f(a) and f.f(b) <= f.f(c)
    assert evals == len(f.points) - 1  # f(0) was given


def test_line_search_respects_the_budget_and_reuses_points():
    f = Recorder(lambda t: (t - 0.77) ** 2)
    result = line_search(f, f(0.0), 0.1, max_evals=6)
    assert result.evals == 6 == len(f.points) - 1
    assert len(set(f.points)) == len(f.points)
    assert result.improved and result.value < 0.77**2
    generous = line_search(lambda t: (t - 0.77) ** 2, 0.77**2, 0.1, max_evals=60, tol=1e-10)
    assert generous.step == pytest.approx(0.77, abs=1e-6)


def test_first_trial_too_long_shrinks_towards_zero():
    f = lambda t: (t - 0.01) ** 2  # noqa: E731
    result = line_search(f, f(0.0), 1.0, max_evals=12)
    assert result.improved and 0 < result.step < 0.03


def test_never_returns_a_step_that_raises_the_value():
    increasing = Recorder(lambda t: t)
    result = line_search(increasing, 0.0, 0.5, max_evals=6)
    assert result == type(result)(0.0, 0.0, 6, False)


def test_non_finite_values_are_treated_as_too_far():
    f = lambda t: (t - 0.5) ** 2 if t < 1.0 else math.nan  # noqa: E731
    result = line_search(f, 0.25, 0.4, max_evals=12)
    assert result.improved and math.isfinite(result.value)
    assert result.step == pytest.approx(0.5, abs=0.05)


def test_bad_arguments():
    with pytest.raises(ValueError, match="`max_evals` must be at least 1"):
        line_search(abs, 0.0, 1.0, max_evals=0)
    with pytest.raises(ValueError, match="`step0` must be a positive finite number"):
        line_search(abs, 0.0, -1.0)
    with pytest.raises(ValueError, match="the bracket must have a < c"):
        golden_section(abs, 1.0, 0.0)

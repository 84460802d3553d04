"""L-BFGS-GSS on Rosenbrock and convex quadratics (planted answers), against SciPy."""

import itertools

import numpy as np
import pytest
import scipy.optimize
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lossatlas import Objective, zoo
from lossatlas.optim import LBFGSGSS, minimize


class Rosenbrock:
    def f(self, t):
        return (100 * (t[1:] - t[:-1] ** 2) ** 2 + (1 - t[:-1]) ** 2).sum()

    def value(self, t):
        return self.f(t)

    def value_and_grad(self, t):
        t = t.detach().requires_grad_(True)
        v = self.f(t)
        (g,) = torch.autograd.grad(v, t)
        return v.detach(), g


class Quadratic:
    """½(θ − θ*)ᵀA(θ − θ*), θ* = A⁻¹b: a convex quadratic with a planted minimiser.

    Written around θ* so that L* = 0: a line search sees only loss values, and with
    ½θᵀAθ − bᵀθ the decreases near θ* fall below the float resolution of L* itself.
    """

    def __init__(self, n=20, condition=100.0, seed=0):
        g = torch.Generator().manual_seed(seed)
        Q, _ = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))
        eig = torch.logspace(0, np.log10(condition), n, dtype=torch.float64)
        self.A = Q @ torch.diag(eig) @ Q.T
        self.b = torch.randn(n, generator=g, dtype=torch.float64)
        self.minimiser = torch.linalg.solve(self.A, self.b)

    def value(self, t):
        d = t - self.minimiser
        return 0.5 * d @ self.A @ d

    def value_and_grad(self, t):
        return self.value(t), self.A @ (t - self.minimiser)


def _rosen_start(n):
    x0 = torch.zeros(n, dtype=torch.float64)
    x0[::2], x0[1::2] = -1.2, 1.0
    return x0


@pytest.mark.parametrize("n", [2, 10])
@pytest.mark.parametrize("max_evals", [6, 20])  # 6 is the paper's budget
def test_rosenbrock_to_gradient_norm_1e_6(n, max_evals):
    losses = []
    r = minimize(
        Rosenbrock(),
        _rosen_start(n),
        max_evals=max_evals,
        gtol=1e-6,
        max_iter=2000,
        callback=lambda opt, info: losses.append(info.loss),
    )
    assert r.converged and r.grad_norm < 1e-6, r.message
    assert torch.allclose(r.theta, torch.ones(n, dtype=torch.float64), atol=1e-5)
    assert all(b <= a for a, b in itertools.pairwise(losses))  # monotone, every step
    # SciPy's L-BFGS-B reaches the same minimiser
    ref = scipy.optimize.minimize(
        lambda x: Rosenbrock().f(torch.from_numpy(x)).item(),
        _rosen_start(n).numpy(),
        method="L-BFGS-B",
        options={"gtol": 1e-10, "ftol": 1e-15},
    )
    assert np.allclose(r.theta.numpy(), ref.x, atol=1e-4)


def test_quadratic_exact_minimiser():
    q = Quadratic()
    r = minimize(q, torch.zeros(20, dtype=torch.float64), gtol=1e-12, max_iter=2000)
    exact = torch.linalg.solve(q.A, q.b)
    assert r.converged
    assert float((r.theta - exact).norm() / exact.norm()) < 1e-8


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 12))
def test_random_spd_quadratics(seed, n):
    q = Quadratic(n=n, condition=30.0, seed=seed)
    r = minimize(q, torch.ones(n, dtype=torch.float64), gtol=1e-10, max_iter=2000)
    exact = torch.linalg.solve(q.A, q.b)
    assert r.converged and float((r.theta - exact).norm()) < 1e-7 * (1 + float(exact.norm()))


class Concave:
    """L = −½‖θ‖² + ‖θ‖⁴/4: negative curvature near 0, so early pairs fail sᵀy > 0."""

    def value(self, t):
        r2 = t @ t
        return -0.5 * r2 + 0.25 * r2**2

    def value_and_grad(self, t):
        return self.value(t), t * (t @ t - 1)


def test_reset_on_failed_curvature_and_bounded_history():
    opt = LBFGSGSS(Concave(), torch.tensor([1e-3, 2e-3], dtype=torch.float64), history=3)
    for _ in range(40):
        opt.step()
        assert len(opt.pairs) <= 3
    assert opt.resets >= 1
    assert float(opt.theta.norm()) == pytest.approx(1.0, abs=1e-4)  # the minimum circle


def test_on_an_objective_it_decreases_the_loss_monotonically():
    split = zoo.dataset("digits")
    obj = Objective(zoo.build_for("fcp", split, seed=0), split.train, dtype=torch.float64)
    r = minimize(obj, obj.point(), max_iter=15)
    assert all(b <= a for a, b in itertools.pairwise(r.losses))
    assert r.losses[-1] < 0.5 * r.losses[0]
    assert r.grad_evals == r.iterations + 1


def test_bad_arguments():
    with pytest.raises(ValueError, match="`theta0` must be a flat 1-D tensor"):
        LBFGSGSS(Quadratic(), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="`history` must be at least 1"):
        LBFGSGSS(Quadratic(n=2), torch.zeros(2, dtype=torch.float64), history=0)
    with pytest.raises(ValueError, match="`max_evals` must be at least 2"):
        LBFGSGSS(Quadratic(n=2), torch.zeros(2, dtype=torch.float64), max_evals=1)

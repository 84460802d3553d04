"""RK2 (Im et al. 2016's second-order Runge–Kutta step) against its exact formula on quadratics."""

import itertools

import pytest
import torch

from lossatlas import zoo
from lossatlas.optim import RK2, train

pytestmark = pytest.mark.usefixtures("one_thread")


def quadratic(seed: int = 0, n: int = 5):
    """L(θ) = ½θᵀAθ with A symmetric positive definite (float64)."""
    g = torch.Generator().manual_seed(seed)
    m = torch.randn(n, n, generator=g, dtype=torch.float64)
    a = m @ m.T / n + 0.5 * torch.eye(n, dtype=torch.float64)
    theta0 = torch.randn(n, generator=g, dtype=torch.float64)
    return a, theta0


def rk2_steps(a, theta0, lr, steps, method="heun"):
    theta = theta0.clone().requires_grad_(True)
    opt = RK2([theta], lr=lr, method=method)
    calls = []

    def closure():
        opt.zero_grad()
        loss = 0.5 * theta @ a @ theta
        loss.backward()
        calls.append(1)
        return loss

    for _ in range(steps):
        opt.step(closure)
    return theta.detach(), len(calls)


@pytest.mark.parametrize("method", ["heun", "midpoint"])
def test_rk2_step_is_the_second_order_taylor_polynomial_of_the_flow(method):
    a, theta0 = quadratic()
    lr = 0.3
    eye = torch.eye(len(a), dtype=torch.float64)
    step = eye - lr * a + 0.5 * lr**2 * a @ a  # both RK2 variants on a linear gradient field
    theta, calls = rk2_steps(a, theta0, lr, 3, method)
    assert calls == 6  # two gradients per step
    expected = torch.linalg.matrix_power(step, 3) @ theta0
    torch.testing.assert_close(theta, expected, rtol=1e-12, atol=1e-14)


def test_rk2_local_error_is_third_order_where_euler_is_second():
    """One step against the exact flow exp(−ηA)θ0: halving η divides RK2's error by ~8
    and Euler's (gradient descent's) by ~4."""
    a, theta0 = quadratic(1)
    errors = {"rk2": [], "euler": []}
    for lr in (0.1, 0.05, 0.025):
        exact = torch.linalg.matrix_exp(-lr * a) @ theta0
        theta, _ = rk2_steps(a, theta0, lr, 1)
        errors["rk2"].append(float((theta - exact).norm()))
        errors["euler"].append(float((theta0 - lr * a @ theta0 - exact).norm()))
    for name, order in (("rk2", 3), ("euler", 2)):
        e = errors[name]
        for coarse, fine in itertools.pairwise(e):
            assert coarse / fine == pytest.approx(2**order, rel=0.15), (name, e)


def test_rk2_refuses_bad_settings_and_a_missing_closure():
    p = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="`lr` must be a positive"):
        RK2([p], lr=0.0)
    with pytest.raises(ValueError, match="`method` must be one of"):
        RK2([p], lr=0.1, method="euler")
    with pytest.raises(ValueError, match="call `step\\(closure\\)`"):
        RK2([p], lr=0.1).step()


def test_train_with_rk2_lowers_the_loss_and_is_reproducible():
    split = zoo.dataset("digits")
    runs = [
        train(zoo.build_for("fcp", split, seed=0), split, optimizer="rk2", epochs=25, lr=0.1,
              record_every=110, progress=False)
        for _ in range(2)
    ]  # fmt: skip
    h = runs[0].history
    assert runs[0].settings["optimizer"] == "rk2" and runs[0].settings["lr"] == 0.1
    # the softplus FCP leaves its ln 10 plateau after ~15 epochs at this step size
    assert h["train_loss"][-1] < 0.5 * h["train_loss"][0]
    assert torch.equal(runs[0].theta, runs[1].theta)

"""Cooper's overparameterised landscape: Lemma 3.3, Prop. 2.3, the manifold of minima."""

import pytest
import torch

from lossatlas import Objective, zoo
from lossatlas.curvature import dense_hessian
from lossatlas.geometry import (
    constructive_network,
    hessian_inertia,
    jacobian_rank,
    minimum_manifold,
    residual_jacobian,
    walk_minima,
)
from lossatlas.geometry.overparam import inertia_of, residuals


def points(d, p, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(d, p, generator=gen, dtype=torch.float64)
    return x, torch.randn(d, 1, generator=gen, dtype=torch.float64)


def fitted(d=6, p=2, **kw):
    x, y = points(d, p)
    net = constructive_network(x, y, **kw)
    return net, Objective(net.model, (x, y), loss="sse", dtype=torch.float64), x, y


@pytest.mark.parametrize(("d", "p", "width"), [(5, 2, None), (8, 3, None), (6, 2, 9)])
def test_lemma_3_3_fits_d_points_and_prop_2_3_holds_there(d, p, width):
    net, obj, x, y = fitted(d, p, width=width)
    # the construction: rows of W1 equal a, A lower triangular with a positive diagonal
    W1 = net.model[0].weight.detach()
    assert torch.equal(W1[:d], net.a.expand(d, p))
    assert torch.equal(net.A, torch.tril(net.A)) and (net.A.diagonal() > 0).all()
    with torch.no_grad():
        assert (net.model(x) - y).abs().max() < 1e-8
    check = minimum_manifold(obj, obj.point())
    n = obj.size
    assert n == (width or d) * (p + 2) + 1
    assert check.jacobian.rank == d and check.dimension == n - d
    assert (check.inertia.zero, check.inertia.positive, check.inertia.negative) == (n - d, d, 0)
    assert check.inertia.separation > 1e6  # the zeros stand clearly apart
    assert check.holds


def test_at_zero_residual_the_hessian_is_the_gauss_newton_matrix():
    _, obj, x, _ = fitted(6, 2)
    theta = obj.point()
    J = residual_jacobian(obj, theta)
    H = dense_hessian(obj, theta)  # by exact HVPs: an independent route
    GN = 2 * J.T @ J / len(x)  # L = (1/N) Σ f_i² → ∇²L = (2/N) JᵀJ where f = 0
    assert (H - GN).abs().max() < 1e-8 * GN.abs().max()
    # J against central differences of the residuals
    e = 1e-6
    for i in (0, 7, obj.size - 1):
        step = torch.zeros_like(theta)
        step[i] = e
        fd = (residuals(obj, theta + step) - residuals(obj, theta - step)) / (2 * e)
        assert torch.allclose(J[:, i], fd, rtol=1e-6, atol=1e-6)


def test_inertia_counts_and_tolerances():
    lam = torch.tensor([-2.0, -1e-12, 0.0, 3e-11, 1.0, 5.0], dtype=torch.float64)
    i = inertia_of(lam)  # tol = 1e-9·5
    assert (i.negative, i.zero, i.positive) == (1, 3, 2)
    assert i.separation == pytest.approx(1.0 / 3e-11)
    j = inertia_of(lam, tol=1e-13)
    assert (j.negative, j.zero, j.positive) == (2, 1, 3)
    # a saddle of a real network: the XOR net at θ = 0 has a PSD Hessian with zeros
    split = zoo.dataset("xor")
    obj = Objective(zoo.build("xor"), split.train, loss="sse", dtype=torch.float64)
    zero = hessian_inertia(obj, torch.zeros(9, dtype=torch.float64))
    assert zero.negative == 0 and zero.zero > 0


def test_walking_on_the_manifold_keeps_the_loss_at_zero_while_moving():
    _, obj, _, _ = fitted(6, 2)
    ds = walk_minima(obj, obj.point(), steps=12, step_size=0.1, seed=1)
    assert float(ds["loss"].max()) < 1e-8
    assert float(ds["max_residual"].max()) <= 1e-10
    assert (ds["jacobian_rank"].values == 6).all()
    assert float(ds["arc_length"][-1]) == pytest.approx(1.2, rel=1e-3)  # 12 steps of ~0.1
    assert float(ds["distance"][-1]) > 0.9  # it moved, along a fairly straight heading
    end = torch.from_numpy(ds["theta"].values[-1])
    assert minimum_manifold(obj, end).holds  # still a global minimum with Prop. 2.3's spectrum


def test_bad_inputs_are_refused():
    x, y = points(4, 2)
    with pytest.raises(ValueError, match="project to the same value"):
        constructive_network(torch.cat([x, x[:1]]), torch.cat([y, y[:1]]))
    with pytest.raises(ValueError, match="must be rectified"):
        constructive_network(x, y, activation="tanh")
    with pytest.raises(ValueError, match="at least the number of points"):
        constructive_network(x, y, width=3)
    with pytest.raises(ValueError, match=r"`y` must be \[d\]"):
        constructive_network(x, y[:3])
    split = zoo.dataset("xor")
    obj = Objective(zoo.build("xor"), split.train, loss="bce")
    with pytest.raises(ValueError, match="squared-error objective"):
        jacobian_rank(obj, obj.point())
    _, fit, _, _ = fitted(4, 2)
    with pytest.raises(ValueError, match="`step_size` must be positive"):
        walk_minima(fit, fit.point(), step_size=0.0)


def test_a_sharded_objective_is_refused_where_rows_are_per_sample(monkeypatch):
    """Under torchrun a sharded objective holds one process's samples: J and f have one
    row per sample, so they refuse it; the Hessian's inertia comes from all-reduced HVPs."""
    _, obj, _, _ = fitted(5, 2)
    theta = obj.point()
    whole = hessian_inertia(obj, theta)
    monkeypatch.setattr(obj, "sharded", True)  # as `Objective` sets it under torchrun
    for call in (residuals, residual_jacobian, jacobian_rank, minimum_manifold, walk_minima):
        with pytest.raises(ValueError, match=r"one row per sample.*build the Objective with shard"):
            call(obj, theta)
    assert torch.equal(hessian_inertia(obj, theta).eigenvalues, whole.eigenvalues)

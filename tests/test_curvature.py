"""Curvature estimators against dense references on tiny float64 models."""

import numpy as np
import pytest
import scipy.sparse.linalg as sla
import torch
from torch import nn

from conftest import make_case
from lossatlas import Objective
from lossatlas import curvature as C
from lossatlas.core import reference
from lossatlas.curvature.density import as_dataset
from lossatlas.results.store import StoreMismatch

RTOL = 1e-6


def _small_mlp(n_samples=40, seed=1):
    """292 parameters: larger than the default Lanczos subspace, so restarts happen."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_samples, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (n_samples,), generator=g)
    model = nn.Sequential(
        nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 12), nn.Tanh(), nn.Linear(12, 4)
    )
    return Objective(model, (x, y), dtype=torch.float64)


@pytest.fixture(scope="module")
def mlp():
    obj = _small_mlp()
    theta = obj.point()
    H = reference.hessian(obj, theta)
    return obj, theta, H, torch.linalg.eigvalsh(H)


def _case_objective(name):
    case = make_case(name)
    obj = Objective(case.model, case.data, loss=case.loss, mode=case.mode, dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    return obj, obj.point() + 0.1 * torch.randn(obj.size, generator=g, dtype=torch.float64)


def _rel(a, b):
    return float(((a - b).abs() / b.abs()).max())


@pytest.mark.parametrize("k", [1, 4])
def test_top_and_bottom_eigenvalues_match_eigvalsh_with_restarts(mlp, k):
    obj, theta, H, lam = mlp
    top = C.top_eigenvalues(obj, theta, k)
    bottom = C.bottom_eigenvalues(obj, theta, k)
    assert top.converged and bottom.converged
    assert bottom.restarts >= 1  # the subspace (40) is far below n = 292
    assert _rel(top.eigenvalues, lam.flip(0)[:k]) < RTOL
    assert _rel(bottom.eigenvalues, lam[:k]) < RTOL
    for res in (top, bottom):
        vals, vecs = res  # unpacks as (eigenvalues, eigenvectors)
        assert torch.allclose(vecs @ vecs.T, torch.eye(k, dtype=vecs.dtype), atol=1e-8)
        resid = (vecs @ H - vals[:, None] * vecs).norm(dim=1)
        assert float(resid.max()) < 1e-6 * float(lam.abs().max())


@pytest.mark.parametrize("name", ["mlp", "shared", "batchnorm-train", "conv-bn", "lstm"])
def test_extreme_eigenvalues_on_every_kind_of_model(name):
    obj, theta = _case_objective(name)
    lam = torch.linalg.eigvalsh(reference.hessian(obj, theta))
    k = 3
    assert _rel(C.top_eigenvalues(obj, theta, k).eigenvalues, lam.flip(0)[:k]) < RTOL
    assert _rel(C.bottom_eigenvalues(obj, theta, k).eigenvalues, lam[:k]) < RTOL


def test_extremes_condition_number_and_convexity_ratio():
    A = torch.diag(torch.tensor([4.0, 2.0, 1.0, 0.5], dtype=torch.float64))
    ex = C.extremes(A)
    assert ex.lambda_max == pytest.approx(4.0) and ex.lambda_min == pytest.approx(0.5)
    assert ex.condition_number == pytest.approx(8.0)
    assert ex.convexity_ratio == pytest.approx(0.125)
    ex = C.extremes(torch.diag(torch.tensor([3.0, -1.5, 0.2], dtype=torch.float64)))
    assert ex.condition_number == float("inf") and ex.convexity_ratio == pytest.approx(0.5)


def test_lanczos_tridiagonal_is_exact_at_n_steps_and_the_basis_orthonormal():
    g = torch.Generator().manual_seed(0)
    n = 60
    B = torch.randn(n, n, generator=g, dtype=torch.float64)
    H = (B + B.T) / 2  # generic: simple eigenvalues, so the Krylov space is all of R^n
    lam = torch.linalg.eigvalsh(H)
    op = C.DenseOperator(H)
    v0 = torch.randn(2, n, generator=g, dtype=H.dtype)
    res = C.lanczos(op, v0, n, keep_basis=True)
    for i in range(2):
        assert res.steps[i] == n
        Q = res.basis[i]
        assert torch.allclose(Q @ Q.T, torch.eye(n, dtype=H.dtype), atol=1e-10)
        T = res.tridiagonal(i)
        assert np.allclose(T, (Q @ H @ Q.T).numpy(), atol=1e-10)
        nodes, weights = res.ritz(i)
        assert np.allclose(np.sort(nodes), lam.numpy(), atol=1e-10)
        assert weights.sum() == pytest.approx(1.0)
    # the lockstep block run equals separate runs
    one = C.lanczos(op, v0[1], 20)
    both = C.lanczos(op, v0, 20)
    assert np.allclose(one.alpha[0], both.alpha[1]) and np.allclose(one.beta[0], both.beta[1])
    assert both.products == 40


def test_lanczos_stops_at_an_invariant_subspace():
    A = torch.diag(torch.arange(1.0, 9.0, dtype=torch.float64))
    v = torch.zeros(8, dtype=torch.float64)
    v[:3] = 1.0  # lies in a 3-dimensional invariant subspace
    res = C.lanczos(C.DenseOperator(A), v, 8)
    assert res.steps[0] == 3
    nodes, weights = res.ritz(0)
    assert np.allclose(nodes, [1, 2, 3]) and np.allclose(weights, 1 / 3)


def test_dense_hessian_and_scipy_operator(mlp):
    obj, theta, H, lam = mlp
    assert torch.allclose(C.dense_hessian(obj, theta), H, atol=1e-12)
    op = C.hessian_operator(obj, theta).to_scipy()
    vals = sla.eigsh(op, k=2, which="LA", return_eigenvectors=False)
    assert np.allclose(np.sort(vals), lam[-2:].numpy(), rtol=1e-8)
    x = np.random.default_rng(0).standard_normal((obj.size, 3))
    assert np.allclose(op @ x, H.numpy() @ x, atol=1e-12)


@pytest.mark.parametrize("method", ["hutchinson", "hutch++"])
def test_trace_interval_covers_the_exact_trace(mlp, method):
    obj, theta, H, _lam = mlp
    exact = float(torch.trace(H))
    op = C.DenseOperator(H)  # the estimator only sees products; dense keeps 400 seeds fast
    results = [C.trace(op, method=method, samples=99, seed=s) for s in range(400)]
    coverage = np.mean([r.contains(exact) for r in results])
    # nominal 95%; 400 seeds put the binomial standard error at 1.1%
    assert coverage >= 0.93, coverage
    assert abs(np.mean([r.estimate for r in results]) - exact) < 0.1 * abs(exact)
    # and through the real Hessian–vector products
    t = C.trace(obj, theta, method=method, samples=30, seed=0)
    assert t.products == 30 and t.low < t.estimate < t.high


def test_hutchplusplus_is_tighter_with_outliers():
    g = torch.Generator().manual_seed(0)
    U = torch.linalg.qr(torch.randn(300, 300, generator=g, dtype=torch.float64)).Q
    spectrum = torch.cat([torch.tensor([500.0, 300, 200, 100]), torch.rand(296, generator=g)])
    A = (U * spectrum.double()) @ U.T
    a = C.trace(A, method="hutchinson", samples=99, seed=1)
    b = C.trace(A, method="hutch++", samples=99, seed=1)
    assert b.stderr < 0.2 * a.stderr
    assert b.contains(float(spectrum.sum()))


def test_density_integrates_to_one_and_converges_to_the_exact_density(mlp):
    obj, theta, _H, lam = mlp
    sigma = 0.05
    errors = []
    for steps in (5, 10, 40):
        d = C.density(obj, theta, draws=10, steps=steps, sigma=sigma, seed=0)
        assert d.name == "density" and d.dims == ("eigenvalue",)
        assert d.attrs["products"] == 10 * steps
        assert np.trapezoid(d.values, d.eigenvalue.values) == pytest.approx(1.0, abs=1e-3)
        assert np.allclose(d.attrs["weights"].sum(1), 1.0)
        errors.append(C.l1_distance(d, C.exact_density(lam, d.eigenvalue.values, sigma)))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.05
    ds = as_dataset(d)
    assert ds["node"].shape == (10, 40) and ds.attrs["steps"] == 40


def test_density_nodes_at_full_length_are_the_distinct_eigenvalues(mlp):
    obj, theta, _H, lam = mlp
    d = C.density(obj, theta, draws=1, steps=obj.size, sigma=0.1, seed=2)
    nodes = d.attrs["nodes"][0][d.attrs["weights"][0] > 0]
    # the Hessian has repeated (zero) eigenvalues, so the Krylov space stops early;
    # every node is then an exact eigenvalue and the top and bottom are found
    distance = np.abs(nodes[:, None] - lam.numpy()[None]).min(1)
    assert distance.max() < 1e-8
    assert nodes.max() == pytest.approx(float(lam[-1])) and nodes.min() == pytest.approx(
        float(lam[0])
    )


def test_gradient_covariance_matches_per_sample_autograd():
    obj = _small_mlp(n_samples=12)
    theta = obj.point()
    grads = []
    for x, y in obj.batches():
        for i in range(len(x)):
            t = theta.clone().requires_grad_(True)
            (gi,) = torch.autograd.grad(obj.batch_losses(t, x[i : i + 1], y[i : i + 1])[0], t)
            grads.append(gi)
    G = torch.stack(grads)
    sigma = G.T @ G / len(G)
    cached = C.GradientCovariance(obj, theta)
    streamed = C.GradientCovariance(obj, theta, cache_bytes=0)
    assert cached._cache is not None and streamed._cache is None
    assert torch.allclose(cached.dense(), sigma, atol=1e-12)
    assert torch.allclose(streamed.dense(), sigma, atol=1e-12)
    assert cached.trace() == pytest.approx(float(torch.trace(sigma)), rel=1e-10)


def test_gradient_covariance_analysis_against_dense_subspaces():
    obj = _small_mlp(n_samples=30)
    theta = obj.point()
    k = 3
    a = C.gradient_covariance(obj, theta, k=k)
    H = reference.hessian(obj, theta)
    sigma = C.GradientCovariance(obj, theta).dense()
    _, hv = torch.linalg.eigh(H)
    sv_vals, sv = torch.linalg.eigh(sigma)
    V, U = hv[:, -k:].T, sv[:, -k:].T
    assert _rel(a.covariance_eigenvalues, sv_vals.flip(0)[:k]) < 1e-5
    expected = float(((V @ U.T) ** 2).sum(1).mean())
    assert a.hessian_energy_in_covariance == pytest.approx(expected, abs=1e-6)
    g = reference.gradient(obj, theta)
    assert a.gradient_energy_in_outliers == pytest.approx(
        float((V @ g).norm() ** 2 / g.norm() ** 2), abs=1e-6
    )
    assert a.sample_gradient_energy_in_outliers == pytest.approx(
        float(torch.trace(V @ sigma @ V.T) / torch.trace(sigma)), abs=1e-6
    )


def test_convexity_map_matches_dense_eigenvalues_and_resumes(tmp_path):
    from lossatlas import surface

    obj = _small_mlp(n_samples=20)
    theta = obj.point()
    plane = surface.random_plane(obj, theta, grid=(2, 2), progress=False)
    store = tmp_path / "convexity.zarr"
    cm = C.convexity_map(obj, plane, store=store, tol=1e-10, progress=False)
    for i, a in enumerate(plane.alpha.values):
        for j, b in enumerate(plane.beta.values):
            point = torch.as_tensor(plane.origin.values + a * plane.d1.values + b * plane.d2.values)
            lam = torch.linalg.eigvalsh(reference.hessian(obj, point))
            assert float(cm.lambda_max[i, j]) == pytest.approx(float(lam[-1]), rel=1e-6)
            assert float(cm.lambda_min[i, j]) == pytest.approx(float(lam[0]), rel=1e-6)
            assert float(cm.ratio[i, j]) == pytest.approx(float(abs(lam[0] / lam[-1])), rel=1e-6)
    # resuming a finished store recomputes nothing and gives the same arrays
    again = C.convexity_map(obj, plane, store=store, tol=1e-10, progress=False)
    assert np.array_equal(again.ratio.values, cm.ratio.values)
    with pytest.raises(StoreMismatch, match="tol"):
        C.convexity_map(obj, plane, store=store, tol=1e-3, progress=False)


def test_spectrum_recorder_during_training():
    from lossatlas.optim import train

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 5, generator=g), torch.randint(0, 3, (32,), generator=g)
    model = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3))
    rec = C.SpectrumRecorder(every=4, top=2, tol=1e-6)
    run = train(
        model,
        (x, y),
        optimizer="sgd",
        steps=8,
        batch_size=8,
        progress=False,
        callbacks=[rec],
        record_every=4,
    )
    assert rec.steps == [0, 4, 8]
    obj = Objective(model, (x, y), dtype=torch.float64)
    for step, vals in zip(rec.steps, rec.eigenvalues, strict=True):
        theta = run.trajectory[step // 4].double()
        lam = torch.linalg.eigvalsh(reference.hessian(obj, theta))
        assert np.allclose(vals, lam.flip(0)[:2].numpy(), rtol=1e-3)
    ds = rec.to_dataset()
    assert ds.eigenvalue.shape == (3, 2)


def test_spectrum_recorder_density_equals_slq_at_each_recorded_step():
    from lossatlas.optim import train

    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(32, 5, generator=g), torch.randint(0, 3, (32,), generator=g)
    model = nn.Sequential(nn.Linear(5, 6), nn.Tanh(), nn.Linear(6, 3))
    grid = np.linspace(-2.0, 4.0, 121)
    rec = C.SpectrumRecorder(
        every=4, top=0, density=True, draws=3, lanczos_steps=12, grid=grid, sigma=0.3
    )
    run = train(model, (x, y), optimizer="sgd", steps=8, batch_size=8, progress=False,
                callbacks=[rec], record_every=4)  # fmt: skip
    ds = rec.to_dataset()
    assert ds.density.dims == ("step", "t") and np.array_equal(ds.t.values, grid)
    obj = Objective(model, (x, y))
    for i, step in enumerate(rec.steps):
        again = C.density(obj, run.trajectory[step // 4], draws=3, steps=12, sigma=0.3,
                          grid=grid, seed=step, progress=False)  # fmt: skip
        np.testing.assert_allclose(ds.density.values[i], again.values, rtol=1e-4, atol=1e-6)
        # a density: non-negative, integrating to 1 over a grid that covers the spectrum
        assert ds.density.values[i].min() >= 0
        assert np.trapezoid(ds.density.values[i], grid) == pytest.approx(1.0, abs=2e-2)


def test_outlier_ratio_is_lambda1_over_lambdak(mlp):
    obj, theta, _H, lam = mlp
    top = np.sort(np.asarray(lam))[::-1]
    assert C.outlier_ratio(obj, theta, k=3, tol=1e-10) == pytest.approx(top[0] / top[2], rel=1e-6)


def test_bad_inputs_give_clear_errors(mlp):
    obj, theta, H, _lam = mlp
    with pytest.raises(ValueError, match="between 1 and n"):
        C.top_eigenvalues(obj, theta, k=obj.size + 1)
    with pytest.raises(ValueError, match="`steps` must be between 1 and n"):
        C.density(obj, theta, steps=obj.size + 1)
    with pytest.raises(ValueError, match="`steps` must be between 1 and n"):
        C.lanczos(C.DenseOperator(H), theta, 0)
    with pytest.raises(ValueError, match="samples"):
        C.trace(obj, theta, samples=1, method="hutchinson")
    with pytest.raises(ValueError, match="method"):
        C.trace(obj, theta, method="exact")
    with pytest.raises(ValueError, match="sigma"):
        C.density(obj, theta, sigma=0)
    with pytest.raises(TypeError, match="pass θ"):
        C.top_eigenvalues(obj)
    bad = theta.clone()
    bad[0] = float("nan")
    with pytest.raises(C.NonFiniteCurvature, match="not finite"):
        C.top_eigenvalues(obj, bad)
    with pytest.raises(ValueError, match="at least one trainable parameter"):
        frozen = nn.Linear(3, 2).requires_grad_(False)
        Objective(frozen, (torch.randn(4, 3), torch.zeros(4, dtype=torch.long)))
    with pytest.raises(ValueError, match="one value per sample"):
        data = (torch.randn(4, 3), torch.randn(4, 2))
        Objective(nn.Linear(3, 2), data, loss=lambda o, t: (o - t).sum(0))
    bn_train = _case_objective("batchnorm-train")[0]
    with pytest.raises(ValueError, match="mode='eval'"):
        C.GradientCovariance(bn_train, bn_train.point())
    with pytest.raises(ValueError, match="origin"):
        C.convexity_map(obj, __import__("xarray").Dataset(), progress=False)


def test_budget_exhaustion_warns_and_returns_the_best_so_far(mlp):
    obj, theta, _H, _lam = mlp
    with pytest.warns(C.ConvergenceWarning, match="max_products"):
        res = C.bottom_eigenvalues(obj, theta, 1, max_products=5)
    assert not res.converged and res.products == 5


def test_the_kept_gradient_graph_gives_the_same_products_as_fresh_sweeps(case):
    """Sequential products at one θ reuse the graph of ∇L(θ); every model of the cases
    (BatchNorm on batch statistics and an LSTM included) gives the fresh sweep's values."""
    from lossatlas.curvature.operators import HessianOperator

    obj = Objective(case.model, case.data, loss=case.loss, mode=case.mode, dtype=torch.float64)
    theta = obj.point()
    V = torch.randn(3, obj.size, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    kept = HessianOperator(obj, theta)
    assert kept.keep_graph  # small data in memory: kept by default
    fresh = HessianOperator(obj, theta, keep_graph=False)
    for v in V:  # one at a time, as Lanczos asks
        torch.testing.assert_close(kept.matvec(v), fresh.matvec(v), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(kept.matmat(V), obj.hvps(theta, V), rtol=1e-10, atol=1e-12)
    assert kept.keep_graph and kept._kept is not None and kept.products == 6


def test_the_block_strategy_probe_is_exact_and_decides_later_blocks(case):
    """The first blocks are split between the kept graph and a vmapped sweep, both timed;
    later operators on the objective take the cheaper way at once, with the same values."""
    from lossatlas.curvature.operators import PROBES, HessianOperator

    obj = Objective(case.model, case.data, loss=case.loss, mode=case.mode, dtype=torch.float64)
    theta = obj.point()
    V = torch.randn(5, obj.size, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    exact = HessianOperator(obj, theta, keep_graph=False).matmat(V)
    probes = PROBES if obj._vmap_ok and not obj._batch_statistics else 0
    for _ in range(PROBES):
        torch.testing.assert_close(
            HessianOperator(obj, theta).matmat(V), exact, rtol=1e-10, atol=1e-12
        )
    assert obj._block_timing.get("probes", 0) == probes
    if not probes:  # no vmapped block here (BatchNorm on batch statistics, an LSTM)
        return
    for favoured, slow in (("vmap", "kept"), ("kept", "vmap")):
        obj._block_timing.update({favoured: 1e-6, slow: 1.0, "build": 0.0})
        op = HessianOperator(obj, theta)
        assert op._block_choice(len(V)) == favoured
        torch.testing.assert_close(op.matmat(V), exact, rtol=1e-10, atol=1e-12)
        assert (op._kept is None) == (favoured == "vmap")  # no graph built for a vmapped block


def test_the_kept_graph_with_an_unused_parameter_and_a_linear_one():
    """A parameter the loss never sees and one it is linear in have zero Hessian rows; the
    kept graph gives them as the fresh sweep and the dense Hessian do."""
    from lossatlas.curvature.operators import HessianOperator

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
            self.unused = nn.Linear(2, 2)
            self.shift = nn.Parameter(torch.zeros(()))  # a learnt scalar; the loss is linear in it

        def forward(self, x):
            return self.body(x)[:, 0] + self.shift

    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 3, generator=g, dtype=torch.float64), torch.randn(16, 2, generator=g)
    obj = Objective(Net(), (x, y[:, 0].double()), loss="identity", dtype=torch.float64)
    theta = obj.point()
    kept = HessianOperator(obj, theta, keep_graph=True)
    dense = reference.hessian(obj, theta)
    torch.testing.assert_close(kept.dense(), (dense + dense.T) / 2, rtol=1e-10, atol=1e-12)
    assert kept.keep_graph and kept._kept is not None  # kept, not fallen back
